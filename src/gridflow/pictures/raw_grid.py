"""What a map needs from a field's raw file and nothing in `grid_data` says: the projection of
the grid the field was published on, and the field's units.

GRIB and GeoTIFF are read by GDAL (rasterio's bundled copy), which knows every grid template's
projection and each GRIB parameter's units. A GOES ABI NetCDF's fixed grid is built from its
`goes_imager_projection` here: GDAL leaves out the sweep axis (x for GOES), which moves pixels
by kilometres away from the sub-satellite point. Other NetCDF grids use their CF
`grid_mapping`, or are plain latitude/longitude. A raw file that is gone (purged, or kept in S3)
or unreadable gives latitude/longitude and no units: the map is still drawn.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

GEOGRAPHIC = "longitude/latitude"


@dataclass(frozen=True)
class RawGrid:
    crs: object | None  # a pyproj CRS, or None for plain longitude/latitude
    projection: str  # in words, for the map's title
    units: str | None
    note: str | None = None  # why the projection or units could not be read


def _projection_name(crs) -> str:
    if crs is None:
        return GEOGRAPHIC
    with warnings.catch_warnings():  # PROJ parameters drop datum details: not needed here
        warnings.simplefilter("ignore", UserWarning)
        parameters = crs.to_dict()
    method = parameters.get("proj", "")
    names = {
        "lcc": "Lambert conformal",
        "geos": "geostationary",
        "stere": "polar stereographic",
        "merc": "Mercator",
        "utm": f"UTM zone {parameters.get('zone', '?')}",
    }
    return names.get(method, crs.name)


def _projected(crs_wkt: str | None):
    import pyproj

    if not crs_wkt:
        return None
    crs = pyproj.CRS.from_wkt(crs_wkt)
    return None if crs.is_geographic else crs


def _gdal_units(text: str | None) -> str | None:
    return text.strip().strip("[]") or None if text else None


def _from_gdal(path: Path, variable: str, grib: bool) -> RawGrid:
    import rasterio

    with rasterio.Env(GRIB_NORMALIZE_UNITS="NO"), rasterio.open(path) as ds:
        crs = _projected(ds.crs.to_wkt() if ds.crs else None)
        units = None
        for band in range(1, ds.count + 1):
            tags = ds.tags(band)
            if variable in (tags.get("GRIB_ELEMENT"), tags.get("NETCDF_VARNAME")):
                units = _gdal_units(tags.get("GRIB_UNIT")) or tags.get("units")
                break
        else:
            if ds.count == 1:
                tags = ds.tags(1)
                units = _gdal_units(tags.get("GRIB_UNIT")) or tags.get("units")
    if units is None and grib:
        units = _eccodes_units(path, variable)
    return RawGrid(crs, _projection_name(crs), units)


def _eccodes_units(path: Path, variable: str) -> str | None:
    """The units eccodes gives the first message of that variable (GRIB1 names fields by
    eccodes' short names, which GDAL does not use)."""
    import eccodes

    from gridflow.formats.grib.names import field_names

    with path.open("rb") as fh:
        while (handle := eccodes.codes_grib_new_from_file(fh)) is not None:
            try:
                if field_names(handle)[0] == variable:
                    units = eccodes.codes_get(handle, "units")
                    return None if units in ("unknown", "~") else units
            finally:
                eccodes.codes_release(handle)
    return None


def _netcdf_variable(ds, name: str):
    if name in ds.variables:
        return ds.variables[name]
    for group in ds.groups.values():
        found = _netcdf_variable(group, name)
        if found is not None:
            return found
    return None


def goes_crs(attrs: dict):
    """The ABI fixed grid's projection, in metres of scan angle times the satellite's height
    (the convention PROJ and GDAL use for `+proj=geos`)."""
    import pyproj

    return pyproj.CRS.from_dict(
        {
            "proj": "geos",
            "h": float(attrs["perspective_point_height"]),
            "lon_0": float(attrs["longitude_of_projection_origin"]),
            "a": float(attrs["semi_major_axis"]),
            "b": float(attrs["semi_minor_axis"]),
            "sweep": str(attrs.get("sweep_angle_axis", "x")),
            "units": "m",
        }
    )


def _from_netcdf(path: Path, variable: str) -> RawGrid:
    import netCDF4
    import pyproj

    with netCDF4.Dataset(path) as ds:
        var = _netcdf_variable(ds, variable)
        units = getattr(var, "units", None) if var is not None else None
        crs = None
        if "goes_imager_projection" in ds.variables:
            crs = goes_crs(ds.variables["goes_imager_projection"].__dict__)
        elif var is not None and getattr(var, "grid_mapping", None) in ds.variables:
            crs = pyproj.CRS.from_cf(ds.variables[var.grid_mapping].__dict__)
            crs = None if crs.is_geographic else crs
    if units == "1":
        units = "dimensionless"
    return RawGrid(crs, _projection_name(crs), units)


def read(path: Path, variable: str) -> RawGrid:
    """The grid's projection and the variable's units, from the raw file at `path`."""
    try:
        with path.open("rb") as fh:
            head = fh.read(8)
    except OSError:
        return RawGrid(None, GEOGRAPHIC, None, f"raw file {path} is not here")
    try:
        if head[:4] in (b"\x89HDF", b"CDF\x01", b"CDF\x02"):
            return _from_netcdf(path, variable)
        if head.startswith(b"GRIB") or head[:4] in (b"II*\x00", b"MM\x00*"):
            return _from_gdal(path, variable, head.startswith(b"GRIB"))
    except Exception as exc:  # a map without its projection beats no map: say why
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return RawGrid(None, GEOGRAPHIC, None, f"raw file {path}: {reason}")
    return RawGrid(None, GEOGRAPHIC, None, f"raw file {path}: no projection known for it")
