"""What any grid shares, whatever its format: longitudes in one convention, large grids' places
cached on disk, the reach of a grid around a place, and each point's cell as a polygon."""
