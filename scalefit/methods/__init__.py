"""Predictive methods: one protocol (``base``) and one registry (``METHODS``).

Each module below registers its method(s) when imported, in this order (the order of the CLI's
lists); a new method is one module plus one line here. ``mcmc`` (the posterior sampler behind
``scalefit fit --mcmc``) is imported on demand because it needs emcee and arviz.
"""
# isort: skip_file

from scalefit.methods.base import (ALIASES, DEFAULT_METHOD, METHODS, EmpiricalPredictive, Method,
                                   Predictive, PredictiveBase, ReplicateBatch,
                                   TransformedPredictive, get_method, labelled_methods,
                                   method_list, method_names, predictive, register,
                                   resolve_methods)

from scalefit.methods import law  # noqa: F401,E402  each law alone
from scalefit.methods import paper  # noqa: F401,E402  average (the paper's recipe), aicc, bic
from scalefit.methods import bootstrap  # noqa: F401,E402
from scalefit.methods import student  # noqa: F401,E402
from scalefit.methods import pseudo_bma  # noqa: F401,E402
from scalefit.methods import stacking  # noqa: F401,E402
from scalefit.methods import structure  # noqa: F401,E402  lfo, lfo_aicc
from scalefit.methods import naive  # noqa: F401,E402  persistence, loglinear_last2, loglinear_wls
from scalefit.methods import damped  # noqa: F401,E402  damped_trend (the default)

__all__ = ["ALIASES", "DEFAULT_METHOD", "METHODS", "EmpiricalPredictive", "Method", "Predictive",
           "PredictiveBase", "ReplicateBatch", "TransformedPredictive", "get_method", "labelled_methods", "method_list",
           "method_names", "predictive", "register", "resolve_methods"]
