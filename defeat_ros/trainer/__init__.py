"""Self-supervised training: typed configs, the training loop, checkpoints and distribution."""
