"""The rain-gauge formats (point observations of MCFCD): what they share, and one plug-in per
kind of file, each wrapping its reader in gridflow.gauges."""
