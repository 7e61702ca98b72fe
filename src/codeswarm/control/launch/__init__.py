"""Launch backends."""
