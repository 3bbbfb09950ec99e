"""The training engine: one loop that runs any family's recipe."""
