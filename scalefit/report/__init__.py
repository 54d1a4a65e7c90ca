"""Human-readable output: text tables (``text``) and paper figures (``figures``) from result objects."""
