"""NetCDF with CF conventions: a variable's horizontal grid, where each slice stands on its other
axes, and the format plug-in."""
