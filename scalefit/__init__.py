"""scalefit: fit, average and extrapolate scaling laws of post-training gains.

    import scalefit as sf
    result = sf.fit("data/opsd_scaling_paper.csv")
    print(result.summary())
    result.predict([70.0]).interval(0.95)

The API (``load``, ``fit``, ``backtest``, ``design``, ``validate``, ``FitReport``) lives in
``scalefit.api`` and is loaded on first use, so ``import scalefit`` (and the CLI's --help, and
the runner's worker processes) stay light. Layers: ``scalefit.core`` (laws, fits, averaging),
``scalefit.methods`` (predictive methods and their registry), ``scalefit.studies`` (backtests,
calibration, validation, design, decomposition), ``scalefit.report``, ``scalefit.runner``,
``scalefit.cli``; see docs/architecture.md.
"""

__version__ = "0.1.0"

__all__ = ["FitReport", "backtest", "design", "fit", "load", "validate"]


def __getattr__(name: str):
    if name in __all__:
        from scalefit import api

        return getattr(api, name)
    raise AttributeError(f"module 'scalefit' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
