"""Where shredded rows are loaded: ClickHouse (grid points)."""
