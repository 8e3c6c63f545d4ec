"""Training loop and hyper-parameter search."""
