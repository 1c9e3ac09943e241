"""The registry of formats: every module of this package that defines `FORMAT`, and any
installed package that registers one under the `gridflow.formats` entry point group."""

from __future__ import annotations

import functools
import importlib
import pkgutil
from importlib.metadata import entry_points

from gridflow.errors import UsageError


@functools.cache
def registry() -> dict:
    found = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "FORMAT"):
            found[module.FORMAT.name] = module.FORMAT
    for point in entry_points(group="gridflow.formats"):
        fmt = point.load()
        found[fmt.name] = fmt
    return found


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
