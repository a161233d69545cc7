"""Evaluation: the gold file, metrics, the evaluation run and its report."""
