"""What people's queries may do: read. Writing stays with the workflow's rules.

ClickHouse runs every query of `gridflow sql`, `point`, `latest` and `trace` with its
`readonly = 1` setting: no INSERT, ALTER, DROP, SYSTEM or SET, and no table function that needs
a temporary table (`file()`, `url()`, `s3()`, `mysql()`, `remote()`...); the setting cannot be
lifted from inside a query. One statement per call: a `;` followed by more is refused before it
is sent. What readonly lets through (INTO OUTFILE, the function `file()`, a few table
functions) `gridflow.sql_guard` refuses on the store's parse of a person's query. PostgreSQL
queries from these commands run in a read-only transaction.
"""

from __future__ import annotations

import re

from gridflow.errors import UsageError

SETTINGS = {"readonly": 1}
READONLY_CODE = 164  # ClickHouse's "Cannot execute query in readonly mode"


class Refused(UsageError):
    """A query that would write, reach outside the store, or run more than one statement."""


def _statements(sql: str) -> list[str]:
    """The statements of `sql`, split on semicolons outside quotes and comments."""
    text = re.sub(r"--[^\n]*|/\*.*?\*/", " ", sql, flags=re.S)
    parts, current, quote = [], [], None
    for ch in text:
        if quote:
            current.append(ch)
            if ch == quote:
                quote = None
        elif ch in "'\"`":
            quote = ch
            current.append(ch)
        elif ch == ";":
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def query(client, sql: str, parameters: dict | None = None, settings: dict | None = None):
    """Run one read-only query (with gridflow's own tuning `settings`, never readonly's
    override); a refusal is one line saying why."""
    from clickhouse_connect.driver.exceptions import DatabaseError

    if len(_statements(sql)) > 1:
        raise Refused("refused: one statement at a time (the query holds more than one)")
    try:
        return client.query(sql, parameters=parameters, settings={**(settings or {}), **SETTINGS})
    except DatabaseError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if f"Code: {READONLY_CODE}." in first or "(READONLY)" in first:
            raise Refused(
                "refused: queries from gridflow are read-only (no writes, settings, or table "
                "functions that reach files, URLs or other databases)"
            ) from None
        raise
