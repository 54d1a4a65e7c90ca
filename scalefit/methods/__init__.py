"""Predictive methods: one protocol (``base``) and one registry (``METHODS``).

Each module below registers its method(s) when imported; a new method is one module plus one
line here. ``mcmc`` (the posterior sampler behind ``scalefit fit --mcmc``) is imported on demand
because it needs emcee and arviz.
"""

from scalefit.methods import (
                                   bootstrap,  # noqa: F401,E402
                                   law,  # noqa: F401,E402  each law alone
                                   paper,  # noqa: F401,E402  average (the paper's recipe), aicc, bic
                                   pseudo_bma,  # noqa: F401,E402
                                   stacking,  # noqa: F401,E402
                                   structure,  # noqa: F401,E402  lfo, lfo_aicc
                                   student,  # noqa: F401,E402
)
from scalefit.methods.base import (ALIASES, DEFAULT_METHOD, METHODS, EmpiricalPredictive, Method, Predictive,
                                   ReplicateBatch, get_method, method_names, predictive, register,
                                   resolve_methods)

__all__ = ["ALIASES", "DEFAULT_METHOD", "METHODS", "EmpiricalPredictive", "Method", "Predictive", "ReplicateBatch",
           "get_method", "method_names", "predictive", "register", "resolve_methods"]
