"""scalefit: fit, average and extrapolate scaling laws of post-training gains."""

__version__ = "0.1.0"
