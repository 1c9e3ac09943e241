"""GRIB (editions 1 and 2): framing, reading field by field with eccodes, naming fields in
wgrib2's words, their descriptors and times, decoding values to rows; the format plug-in."""
