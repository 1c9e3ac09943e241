"""Finding plug-ins: the modules of a package (its sub-packages included) that define a given
attribute, and whatever installed packages register under an entry point group. Families and
formats are found so."""

from __future__ import annotations

import importlib
import pkgutil
from importlib.metadata import entry_points


def discover(package: str, path, attribute: str, group: str) -> dict:
    """{plug-in name: plug-in} from `package`'s modules, at any depth, defining `attribute`, then
    `group`'s entry points (an installed package's plug-in of the same name wins)."""
    found = {}
    for info in pkgutil.walk_packages(path, prefix=f"{package}."):
        module = importlib.import_module(info.name)
        if hasattr(module, attribute):
            plugin = getattr(module, attribute)
            found[plugin.name] = plugin
    for point in entry_points(group=group):
        plugin = point.load()
        found[plugin.name] = plugin
    return found
