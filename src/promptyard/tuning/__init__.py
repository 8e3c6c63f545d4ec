"""Training: the loop that runs a tuning method on a prompt, a model and a data set, and the Ray Tune search."""
