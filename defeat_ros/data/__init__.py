"""Data sources: scenes with exact ground truth and (later) datasets."""
