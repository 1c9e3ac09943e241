"""The registry of formats: every module of this package that defines `FORMAT`, and any
installed package that registers one under the `gridflow.formats` entry point group."""

from __future__ import annotations

import functools

from gridflow import plugins
from gridflow.errors import UsageError


@functools.cache
def registry() -> dict:
    return plugins.discover(__name__, __path__, "FORMAT", "gridflow.formats")


def get(name: str):
    """The format named `name` (an instance)."""
    try:
        return registry()[name]()
    except KeyError:
        raise UsageError(
            f"unknown format {name!r} (known: {', '.join(sorted(registry()))})"
        ) from None


def extensions() -> list[str]:
    return sorted({fmt.extension for fmt in registry().values()})
