"""The benchmark: speed and memory measured as ratios in one run."""
