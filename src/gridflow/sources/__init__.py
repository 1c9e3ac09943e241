"""The registry of source families: a source's config names its family, the family does the rest."""

from __future__ import annotations

from gridflow.sources.goes_abi import GoesAbi
from gridflow.sources.noaa_model import NoaaModel
from gridflow.sources.noaa_scan import NoaaScan

FAMILIES = {"noaa_model": NoaaModel, "noaa_scan": NoaaScan, "goes_abi": GoesAbi}


def source(name: str, cfg: dict):
    return FAMILIES[cfg["sources"][name]["family"]](name, cfg["sources"][name])
