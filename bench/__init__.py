"""Benchmarks of lamina against PyTorch (not tests). Run: python -m bench."""
