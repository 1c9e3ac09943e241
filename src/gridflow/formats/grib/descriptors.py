"""What tells two GRIB2 fields of one variable, level and period apart, worded as wgrib2's
inventory words it: ensemble member, derived ensemble product, probability, percentile, chemical
constituent, aerosol type, size and wavelength.

Each descriptor is read only where the field's product definition template defines its key, so a
plain deterministic field has none. Code-table values eccodes cannot name stay numbers, with the
table they come from (`aerosol=62001` is code table 4.233).

GRIB1 has no templates: a member of an ensemble is `ENS=+N` (`ENS=0` its control), as wgrib2
writes a GRIB2 member. ECMWF's GRIB1 files carry a member number in every message of their
MARS labelling, ERA5's analysis too; only those of an ensemble (type `cf`/`pf`, or an
ensemble stream) are members.
"""

from __future__ import annotations

import eccodes

ENSEMBLE_TYPES = {0: "hi-res ctl", 1: "low-res ctl"}  # code table 4.6; 2/3: -N/+N perturbations
DERIVED = {  # code table 4.7
    0: "ens mean",
    1: "weighted ens mean",
    2: "ens std dev",
    3: "normalized ens std dev",
    4: "ens spread",
    5: "ens large anomaly index",
    6: "ens mean of cluster",
    7: "ens interquartile range",
    8: "ens min",
    9: "ens max",
}
# code table 4.91 (intervals), a and b the first and second limits
INTERVALS = {
    0: "<{a}",
    1: ">{b}",
    2: ">={a},<{b}",
    3: ">{a}",
    4: "<{b}",
    5: "<={a}",
    6: ">={b}",
    7: ">={a},<={b}",
    8: ">={a}",
    9: "<={b}",
    10: ">{a},<={b}",
    11: "={a}",
}
PROBABILITIES = {0: "<{a}", 1: ">{b}", 2: ">={a} <{b}", 3: ">{a}", 4: "<{b}"}  # table 4.9
# ECMWF's MARS words for an ensemble's members (GRIB1 local definitions)
MARS_MEMBER_TYPES = ("cf", "pf")
MARS_ENSEMBLE_STREAMS = ("enfo", "enda", "elda", "waef", "weda", "efov", "eefo")


def _defined(handle, key: str) -> bool:
    return bool(eccodes.codes_is_defined(handle, key))


def _long(handle, key: str) -> int:
    return eccodes.codes_get(handle, key, int)


def _scaled(handle, value_key: str, factor_key: str) -> str:
    if eccodes.codes_is_missing(handle, value_key):
        return "?"
    value = _long(handle, value_key)
    factor = 0 if eccodes.codes_is_missing(handle, factor_key) else _long(handle, factor_key)
    return f"{value / 10**factor:g}"


def _interval(handle, kind_key: str, first: str, second: str) -> str | None:
    kind = _long(handle, kind_key)
    if kind == 255:
        return None
    a = _scaled(handle, f"scaledValueOf{first}", f"scaleFactorOf{first}")
    b = _scaled(handle, f"scaledValueOf{second}", f"scaleFactorOf{second}")
    return INTERVALS.get(kind, f"interval type {kind} {{a}},{{b}}").format(a=a, b=b)


def _ensemble(handle) -> list[str]:
    if not _defined(handle, "perturbationNumber"):
        return []
    kind = _long(handle, "typeOfEnsembleForecast")
    number = _long(handle, "perturbationNumber")
    if kind in ENSEMBLE_TYPES:
        return [f"ENS={ENSEMBLE_TYPES[kind]}"]
    sign = {2: "-", 3: "+"}.get(kind, "")
    return [f"ENS={sign}{number}"]


def _derived(handle) -> list[str]:
    if not _defined(handle, "derivedForecast"):
        return []
    code = _long(handle, "derivedForecast")
    return [DERIVED.get(code, f"derived forecast {code}")]


def _probability(handle) -> list[str]:
    if not _defined(handle, "probabilityType"):
        return []
    kind = _long(handle, "probabilityType")
    a = _scaled(handle, "scaledValueOfLowerLimit", "scaleFactorOfLowerLimit")
    b = _scaled(handle, "scaledValueOfUpperLimit", "scaleFactorOfUpperLimit")
    return ["prob " + PROBABILITIES.get(kind, f"type {kind} {{a}} {{b}}").format(a=a, b=b)]


def _percentile(handle) -> list[str]:
    if not _defined(handle, "percentileValue"):
        return []
    return [f"{_long(handle, 'percentileValue')}% level"]


def _chemical(handle) -> list[str]:
    # aerosol templates define constituentType too, as another name of the aerosol type
    if not _defined(handle, "constituentType") or _defined(handle, "aerosolType"):
        return []
    name = eccodes.codes_get(handle, "chemName") if _defined(handle, "chemName") else ""
    if name and name != "unknown":
        return [f"chemical={name}"]
    # eccodes cannot name it (CAMS's PM2.5 and PM10 are 40009 and 40008): code table 4.230
    return [f"chemical={_long(handle, 'constituentType')}"]


def _aerosol(handle) -> list[str]:
    if not _defined(handle, "aerosolType"):
        return []
    out = [f"aerosol={_long(handle, 'aerosolType')}"]  # code table 4.233
    if _defined(handle, "typeOfSizeInterval"):
        size = _interval(handle, "typeOfSizeInterval", "FirstSize", "SecondSize")
        if size:
            out.append(f"aerosol_size {size}")
    if _defined(handle, "typeOfWavelengthInterval"):
        wave = _interval(handle, "typeOfWavelengthInterval", "FirstWavelength", "SecondWavelength")
        if wave:
            out.append(f"aerosol_wavelength {wave}")
    return out


def _grib1_member(handle) -> tuple[str, ...]:
    if not _defined(handle, "perturbationNumber"):
        return ()
    if _defined(handle, "marsType"):  # ECMWF's labelling: a member only of an ensemble
        kind, stream = (
            eccodes.codes_get(handle, k) if _defined(handle, k) else ""
            for k in ("marsType", "marsStream")
        )
        if kind not in MARS_MEMBER_TYPES and stream not in MARS_ENSEMBLE_STREAMS:
            return ()
    number = _long(handle, "perturbationNumber")
    return (f"ENS=+{number}" if number > 0 else "ENS=0",)


def descriptors(handle) -> tuple[str, ...]:
    """The field's descriptors in wgrib2's order; () for a plain field."""
    if _long(handle, "edition") != 2:
        return _grib1_member(handle)
    return tuple(
        part
        for read in (_chemical, _aerosol, _ensemble, _derived, _probability, _percentile)
        for part in read(handle)
    )
