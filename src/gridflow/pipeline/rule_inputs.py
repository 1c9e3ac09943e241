"""What the workflow's input functions (workflow/rules/common.smk) work out from the
configuration, kept here where it can be tested: a raw file's paths, a cycle's load markers,
the PostGIS load's spec."""

from __future__ import annotations

from gridflow import paths


def raw_files(root: str, source: str, cycle: str, step: str, fmt: str) -> dict[str, str]:
    """A fetched raw file, its inventory and its sidecar; `cycle` and `step` as in a path."""
    names = dict(root=root, source=source, cycle=cycle, step=step, fmt=fmt)
    return {
        "raw": paths.RAW.format(**names),
        "idx": paths.RAW_IDX.format(**names),
        "sidecar": paths.SIDECAR.format(**names),
    }


def cycle_markers(cfg: dict, source: str, cycle: str, steps: list) -> list[str]:
    """The markers the loads of a cycle's `steps` leave: ClickHouse's; with the PostGIS sink on,
    the catalog's, and the routes' for a source whose cells go to PostGIS. `cycle` as in a path."""
    templates = [paths.MARKER]
    if cfg["sinks"]["postgis"]["dsn"]:
        templates.append(paths.PG_MARKER)
        if cfg["sources"][source].get("postgis"):
            templates.append(paths.ROUTES_MARKER)
    root = cfg["data_root"]
    return [
        template.format(root=root, source=source, cycle=cycle, step=paths.step_id(step))
        for step in steps
        for template in templates
    ]


def postgis_spec(cfg: dict, source: str) -> dict:
    """What the PostGIS load of a source's file takes as cells: which variables, where, how
    sparse, and the alert thresholds."""
    src = cfg["sources"][source]
    cells = src.get("postgis") or {}
    spec = {
        "variables": cells.get("variables", []),
        "bbox": cells.get("bbox"),
        "stride": cells.get("stride", 1),
        "thresholds": cfg["sinks"]["postgis"].get("thresholds", {}),
    }
    if "dqf_keep" in src:  # quality flags kept (TEMPO): the cells keep what the rows keep
        spec["dqf_keep"] = src["dqf_keep"]
    return spec
