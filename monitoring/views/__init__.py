"""Portal views, one module per area."""
