"""Pictures for people: a stored field as a map on its own grid, with coastlines, and a point's
series as a chart."""
