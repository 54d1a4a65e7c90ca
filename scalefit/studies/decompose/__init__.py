"""The three-component gain decomposition of the scaling paper (eq. 10-13, Table 2, Figure 3),
and why five points cannot pin it down.

``model``            the model as a ``Law`` with named parameters (α, β, γ, N_char, δ, η)
``fit``              exact non-negative amplitudes on a grid of shapes, polished from many starts
``identifiability``  profile likelihood and posterior of each component's share, alternatives
``analysis``         ``fit_decomposition``: the fit and its identifiability, a ``Decomposition``
``paper``            ``paper_check``: the paper's reported numbers against the data and itself
"""

from scalefit.studies.decompose.analysis import Decomposition, fit_decomposition
from scalefit.studies.decompose.fit import nnls_small
from scalefit.studies.decompose.identifiability import (SharePosterior, ShareProfile,
                                                        profile_shares, sample_posterior)
from scalefit.studies.decompose.model import (COMPONENTS, DECOMPOSITION, PARAMS, TABLE2_SIZES,
                                              bounds, components, jacobian, shares, value)
from scalefit.studies.decompose.paper import PAPER_PARAMS, PAPER_TABLE2, paper_check

__all__ = ["COMPONENTS", "DECOMPOSITION", "Decomposition", "PAPER_PARAMS", "PAPER_TABLE2",
           "PARAMS", "SharePosterior", "ShareProfile", "TABLE2_SIZES", "bounds", "components",
           "fit_decomposition", "jacobian", "nnls_small", "paper_check", "profile_shares",
           "sample_posterior", "shares", "value"]
