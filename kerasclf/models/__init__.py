"""Models: one encoder per input (registry.py), features concatenated, a dense head (head.py)."""
