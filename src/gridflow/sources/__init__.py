"""The registry of source families: every module of this package that defines `FAMILY`, and any
installed package that registers one under the `gridflow.families` entry point group. A
source's config names its family; the family does the rest."""

from __future__ import annotations

import functools

from gridflow import plugins
from gridflow.errors import UsageError


@functools.cache
def registry() -> dict[str, type]:
    return plugins.discover(__name__, __path__, "FAMILY", "gridflow.families")


def family_class(name: str) -> type:
    try:
        return registry()[name]
    except KeyError:
        raise UsageError(
            f"unknown source family {name!r} (known: {', '.join(sorted(registry()))})"
        ) from None


def source(name: str, cfg: dict):
    """The family object of one configured source."""
    src = cfg["sources"][name]
    return family_class(src["family"])(name, src)
