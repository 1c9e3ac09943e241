"""Checks of each grid load, run by the load step on the rows it just wrote (a GROUP BY of its
values, and of its fields' points in `grid_fields`: a point without a value is not a row):
- the fields in the store are the fields of the file's inventory (none lost, none extra);
- each of the source's `validate.expected` fields (`VARIABLE:level`) is there;
- the share of missing values of a field is at most its `max_missing_share` (by variable, or
  the `default`);
- the values lie within the variable's physical `bounds`.

A failed check does not fail the load (the rows are what the file holds): it is written into
the load marker (`validation`), counted by `gridflow status` and the metrics, and listed in the
cycle's `cycle.json`; other cycles go on.
"""

from __future__ import annotations

from gridflow import inventory
from gridflow.query import readonly


def run(client, source: str, raw_key: str, idx_text: str, rules: dict) -> dict:
    """Run the checks of one raw file's load; the outcome, as the marker's `validation` holds
    it: {"passed": bool, "problems": [...], "fields": n}."""
    from gridflow.rows import VALUE_SQL
    from gridflow.sinks.clickhouse import FIELDS, VALUES

    where = {"s": source, "k": raw_key}
    points = readonly.query(
        client,
        f"SELECT variable, level, sum(points), sum(rows) FROM {FIELDS} "
        "WHERE source = %(s)s AND raw_key = %(k)s GROUP BY variable, level",
        parameters=where,
    ).result_rows
    values = readonly.query(
        client,
        f"SELECT v.variable, v.level, min({VALUE_SQL}), max({VALUE_SQL}) FROM {VALUES} AS v "
        f"INNER JOIN (SELECT * FROM {FIELDS} WHERE source = %(s)s AND raw_key = %(k)s) AS f "
        "ON f.variable = v.variable AND f.level = v.level AND f.forecast = v.forecast "
        "AND f.descriptor = v.descriptor AND f.ref_time = v.ref_time AND f.step = v.step "
        "WHERE v.source = %(s)s AND v.raw_key = %(k)s GROUP BY v.variable, v.level",
        parameters=where,
    ).result_rows
    ranges = {(v, lvl): (low, high) for v, lvl, low, high in values}
    stats = [
        (v, lvl, n, n - valued, *ranges.get((v, lvl), (None, None))) for v, lvl, n, valued in points
    ]
    problems = []
    stored = {(v, lvl) for v, lvl, *_ in stats}
    listed = {(e.variable, e.level) for e in inventory.parse(idx_text, raw_key)}
    for variable, level in sorted(listed - stored):
        problems.append(f"{variable}:{level}: in the inventory, not in the store")
    for variable, level in sorted(stored - listed):
        problems.append(f"{variable}:{level}: in the store, not in the inventory")
    for wanted in rules.get("expected", []):
        if tuple(wanted.split(":", 1)) not in stored:
            problems.append(f"{wanted}: an expected field is missing")
    shares = rules.get("max_missing_share", {})
    bounds = rules.get("bounds", {})
    for variable, level, count, missing, low, high in stats:
        limit = shares.get(variable, shares.get("default"))
        if limit is not None and count and missing / count > limit:
            problems.append(
                f"{variable}:{level}: {missing / count:.1%} of values missing (max {limit:.0%})"
            )
        if variable in bounds and low is not None:
            floor, ceiling = bounds[variable]
            if low < floor or high > ceiling:
                problems.append(
                    f"{variable}:{level}: values {low:g}..{high:g} outside {floor:g}..{ceiling:g}"
                )
    return {"passed": not problems, "problems": problems, "fields": len(stats)}
