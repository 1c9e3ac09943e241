"""What people ask the stores: point and series queries of grids and gauges, their options, and the
guard that keeps a person's SQL to reading."""
