"""Parameter sweeps: many configurations of one strategy, walk-forward, overfitting statistics."""
