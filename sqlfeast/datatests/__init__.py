"""Data tests: declared next to a view, run as SQL in the warehouse, and the online skew check."""
