"""The estimation core: the laws, the weighted least-squares fit, and the model average.

``laws`` registers the candidate laws (``LAWS``) and the paper's five (``PAPER_LAWS``); ``fit``
fits one law to a batch of tables (``fit_law_batch``; one table is the batch of one,
``fit_law``); ``average`` weighs the fits and averages them (``fit_laws``, ``average_batch``).
Nothing here imports the methods, the studies or the report.
"""

from scalefit.core.average import (AveragedFit, AveragedPrediction, akaike_weights, average_batch,
                                   criterion_weights, fit_laws, model_average, size_key)
from scalefit.core.fit import (BatchFit, FitResult, fit_law, fit_law_batch, fit_laws_batch,
                               information_criteria, scipy_fit)
from scalefit.core.laws import LAWS, PAPER_LAWS, Law, get_law

__all__ = ["AveragedFit", "AveragedPrediction", "BatchFit", "FitResult", "LAWS",
           "PAPER_LAWS", "Law", "akaike_weights", "average_batch", "criterion_weights", "fit_law",
           "fit_law_batch", "fit_laws", "fit_laws_batch", "get_law", "information_criteria",
           "model_average", "scipy_fit", "size_key"]
