"""Grids and their geometry: real coordinates of every point, large grids cached on disk, the
reach of a grid around a place, and each point's cell as a polygon."""
