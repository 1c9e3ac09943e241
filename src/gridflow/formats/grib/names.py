"""Name GRIB fields the way NCEP's wgrib2 inventories do (`TMP`, `2 m above ground`, `6 hour fcst`).

Variable abbreviations come from the GRIB2 parameter tables that GDAL ships (WMO table 4.2 plus
the NCEP and MRMS local tables), read from rasterio's bundled GDAL data, so search strings written
against NOAA's `.idx` files select the same fields in inventories gridflow builds itself. A
parameter of a centre's local table (a number from 192) is named from that centre's table only,
as wgrib2 does: NCEP's 0.6.192 is not ECMWF's 0.6.192. Where no table names a parameter, it keeps
its centre's short name as eccodes knows it (ECMWF's `tcc`, `sd`, `swvl1`, as wgrib2's ECMWF
table spells them), else `var{discipline}_{category}_{number}`.

GRIB1 has one vocabulary with GRIB2: a GRIB1 message's product definition is converted to
GRIB2 by eccodes (as `grib_set -s edition=2` does) and named from that, so ERA5's `2t` is
`TMP:2 m above ground`, its `z` at 500 hPa `GP:500 mb` (geopotential, m2 s-2; `HGT` is
geopotential height, gpm, a different quantity) and its `tp` `tp:surface` (ECMWF's local
parameter in metres, not NCEP's APCP in kg m-2). A GRIB1 parameter eccodes cannot convert is
named `var{table}_{parameter}`, its level and period still converted.
"""

from __future__ import annotations

import csv
import functools
import re
from pathlib import Path

import eccodes

from gridflow.formats.grib.times import period_minutes

STAT_NAMES = {0: "ave", 1: "acc", 2: "max", 3: "min"}

SIMPLE_LEVELS = {
    1: "surface",
    2: "cloud base",
    3: "cloud top",
    4: "0C isotherm",
    5: "level of adiabatic condensation from sfc",
    6: "max wind",
    7: "tropopause",
    8: "top of atmosphere",
    10: "entire atmosphere",
    14: "level of free convection",
    101: "mean sea level",
    200: "entire atmosphere (considered as a single layer)",
    204: "highest tropospheric freezing level",
    211: "boundary layer cloud layer",
    212: "low cloud bottom level",
    213: "low cloud top level",
    214: "low cloud layer",
    215: "cloud ceiling",
    220: "planetary boundary layer",
    222: "middle cloud bottom level",
    223: "middle cloud top level",
    224: "middle cloud layer",
    232: "high cloud bottom level",
    233: "high cloud top level",
    234: "high cloud layer",
    242: "convective cloud bottom level",
    243: "convective cloud top level",
    244: "convective cloud layer",
}

# level type -> (format of one value, unit scale); layers join two values with "-"
VALUED_LEVELS = {
    20: ("{} K level", 1),
    100: ("{} mb", 100),
    102: ("{} m above mean sea level", 1),
    103: ("{} m above ground", 1),
    104: ("{} sigma level", 1),
    105: ("{} hybrid level", 1),
    106: ("{} m below ground", 1),
    107: ("{} K isentropic level", 1),
    108: ("{} mb above ground", 100),
    109: ("PV={} (Km^2/kg/s) surface", 1),
    241: ("{} in sequence", 1),
}
LAYER_FORMATS = {104: "{} sigma layer", 105: "{} hybrid layer"}
# layers between two kinds of surface, in wgrib2's (and wgrib's) words
LAYERS = {(1, 8): "atmos col", (9, 1): "ocean column"}


@functools.cache
def _gdal_data() -> Path:
    import rasterio

    return Path(rasterio.__file__).parent / "gdal_data"


def _abbreviation(text: str) -> str:
    """The abbreviation of a table entry: GDAL's MRMS table runs two columns together
    (`MergedRhoHV,5-min`), and an inventory line cannot hold a `:`."""
    return re.split(r"[,:\s]", text.strip(), maxsplit=1)[0]


@functools.cache
def _wmo_table(discipline: int, category: int) -> dict[int, str]:
    path = _gdal_data() / f"grib2_table_4_2_{discipline}_{category}.csv"
    if not path.exists():
        return {}
    with path.open(newline="") as fh:
        rows = csv.DictReader(fh)
        return {
            int(r["subcat"]): _abbreviation(r["short_name"]) for r in rows if int(r["subcat"]) >= 0
        }


@functools.cache
def _local_tables() -> dict[int, dict[tuple[int, int, int], str]]:
    """Local tables by originating centre, as GDAL's index lists them."""
    tables: dict[int, dict[tuple[int, int, int], str]] = {}
    with (_gdal_data() / "grib2_table_4_2_local_index.csv").open(newline="") as fh:
        for row in csv.DictReader(fh):
            if row["subcenter_code"]:
                continue  # subcentre variants (HPC, NDFD) are not sources of ours
            with (_gdal_data() / row["filename"]).open(newline="") as tf:
                tables[int(row["center_code"])] = {
                    (int(r["prod"]), int(r["cat"]), int(r["subcat"])): _abbreviation(
                        r["short_name"]
                    )
                    for r in csv.DictReader(tf)
                }
    return tables


def variable_name(
    discipline: int, category: int, number: int, centre: int, short_name: str = ""
) -> str:
    """NCEP-style abbreviation; else the centre's own `short_name` (eccodes'), else
    `var{d}_{c}_{n}`."""
    if max(discipline, category, number) >= 192:  # a local parameter: its centre's table only
        name = _local_tables().get(centre, {}).get((discipline, category, number))
    else:
        name = _wmo_table(discipline, category).get(number)
    if name and name not in ("RESERVED", "unknown"):
        return name
    if short_name and short_name != "unknown" and re.fullmatch(r"[\w.+-]+", short_name):
        return short_name
    return f"var{discipline}_{category}_{number}"


def _num(value: float) -> str:
    return f"{value:g}"


def _sign_magnitude(value: int, bits: int) -> int:
    """GRIB2 stores negative scaled values with the top bit set, not as two's complement."""
    top = 1 << (bits - 1)
    return -(value & (top - 1)) if value & top else value


def _surface_value(handle, which: str) -> float | None:
    if eccodes.codes_is_missing(handle, f"scaledValueOf{which}FixedSurface"):
        return None
    scaled = _sign_magnitude(
        eccodes.codes_get(handle, f"scaledValueOf{which}FixedSurface", int), 32
    )
    factor = 0
    if not eccodes.codes_is_missing(handle, f"scaleFactorOf{which}FixedSurface"):
        factor = _sign_magnitude(
            eccodes.codes_get(handle, f"scaleFactorOf{which}FixedSurface", int), 8
        )
    return scaled / (10**factor)


def level_name(handle) -> str:
    first = eccodes.codes_get(handle, "typeOfFirstFixedSurface", int)
    second = eccodes.codes_get(handle, "typeOfSecondFixedSurface", int)
    if first in SIMPLE_LEVELS and second in (255, first):
        return SIMPLE_LEVELS[first]
    if first in VALUED_LEVELS:
        fmt, scale = VALUED_LEVELS[first]
        v1 = _surface_value(handle, "First")
        v1 = None if v1 is None else v1 / scale
        if second == first:
            v2 = _surface_value(handle, "Second")
            v2 = None if v2 is None else v2 / scale
            fmt = LAYER_FORMATS.get(first, fmt)
            return fmt.format(f"{_num(v1)}-{_num(v2)}")
        return fmt.format(_num(v1) if v1 is not None else "?")
    if (first, second) in LAYERS:
        return LAYERS[first, second]
    return f"level type {first}" + (f" to {second}" if second != 255 else "")


def _span(minutes: int) -> tuple[int, str]:
    return (minutes // 60, "hour") if minutes % 60 == 0 else (minutes, "min")


def forecast_name(handle) -> str:
    """`anl`, `6 hour fcst`, `0-6 hour acc fcst` (wgrib2's wording)."""
    start, end = period_minutes(handle)
    eccodes.codes_set(handle, "stepUnits", "h")
    step_type = eccodes.codes_get(handle, "stepType")
    if step_type == "instant":
        if end == 0:
            return "anl"
        value, unit = _span(end)
        return f"{value} {unit} fcst"
    stat = STAT_NAMES.get(eccodes.codes_get(handle, "typeOfStatisticalProcessing", int), step_type)
    unit = "hour" if start % 60 == 0 and end % 60 == 0 else "min"
    div = 60 if unit == "hour" else 1
    return f"{start // div}-{end // div} {unit} {stat} fcst"


def _grib2_names(handle) -> tuple[str, str, str]:
    variable = variable_name(
        eccodes.codes_get(handle, "discipline", int),
        eccodes.codes_get(handle, "parameterCategory", int),
        eccodes.codes_get(handle, "parameterNumber", int),
        eccodes.codes_get(handle, "centre", int),
        eccodes.codes_get(handle, "shortName"),
    )
    return variable, level_name(handle), forecast_name(handle)


# What a GRIB1 field's names depend on: its parameter, level and time range (not its date)
GRIB1_KEYS = (
    "centre",
    "table2Version",
    "indicatorOfParameter",
    "indicatorOfTypeOfLevel",
    "level",
    "topLevel",
    "bottomLevel",
    "timeRangeIndicator",
    "P1",
    "P2",
    "unitOfTimeRange",
)


def _as_grib2(handle, placeholder: bool = False):
    """A copy of a GRIB1 message's headers converted to GRIB2 by eccodes (`placeholder`: with
    a parameter eccodes surely converts, for the level and period of one it cannot)."""
    copy = eccodes.codes_clone(handle, headers_only=True)
    try:
        if placeholder:
            eccodes.codes_set(copy, "paramId", 130)  # temperature: no level of its own
        eccodes.codes_set(copy, "edition", 2)
    except eccodes.CodesInternalError:
        eccodes.codes_release(copy)
        return None
    return copy


def _converted_names(handle) -> tuple[str, str, str]:
    known = eccodes.codes_get(handle, "paramId", int) != 0
    converted = _as_grib2(handle) if known else None
    if converted is not None:
        try:
            return _grib2_names(converted)
        finally:
            eccodes.codes_release(converted)
    table = eccodes.codes_get(handle, "table2Version", int)
    unknown = f"var{table}_{eccodes.codes_get(handle, 'indicatorOfParameter', int)}"
    converted = _as_grib2(handle, placeholder=True)
    if converted is None:  # nothing converts: eccodes' own words, the last resort
        level, step, kind = (
            eccodes.codes_get(handle, k) for k in ("level", "stepRange", "stepType")
        )
        return unknown, f"{eccodes.codes_get(handle, 'typeOfLevel')} {level}", f"{step} hour {kind}"
    try:
        return unknown, level_name(converted), forecast_name(converted)
    finally:
        eccodes.codes_release(converted)


_GRIB1_NAMES: dict[tuple, tuple[str, str, str]] = {}


def grib1_names(handle) -> tuple[str, str, str]:
    """A GRIB1 field's names in GRIB2's vocabulary, converted once per kind of header."""
    key = tuple(
        eccodes.codes_get(handle, k, int) if eccodes.codes_is_defined(handle, k) else None
        for k in GRIB1_KEYS
    )
    names = _GRIB1_NAMES.get(key)
    if names is None:
        if len(_GRIB1_NAMES) > 4096:
            _GRIB1_NAMES.clear()
        names = _GRIB1_NAMES[key] = _converted_names(handle)
    return names


def field_names(handle) -> tuple[str, str, str]:
    """(variable, level, forecast) of one field, wgrib2 style, whatever the GRIB edition."""
    if eccodes.codes_get(handle, "edition", int) == 1:
        return grib1_names(handle)
    return _grib2_names(handle)
