"""GOES-R ABI NetCDF: reading the product files and the fixed grid's geostationary geometry; the
format plug-in."""
