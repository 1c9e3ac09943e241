"""What people's queries may do: read. Writing stays with the workflow's rules.

ClickHouse runs every query of `gridflow sql`, `point`, `latest` and `trace` with its
`readonly = 1` setting: no INSERT, ALTER, DROP, SYSTEM or SET, and no table function that needs
a temporary table (`file()`, `url()`, `s3()`, `mysql()`, `remote()`...); the setting cannot be
lifted from inside a query. One statement per call: a `;` followed by more is refused before it
is sent. What readonly lets through (INTO OUTFILE, the function `file()`, a few table
functions) `gridflow.query.sql_guard` refuses on the store's parse of a person's query. PostgreSQL
queries from these commands run in a read-only transaction.
"""

from __future__ import annotations

import re

from gridflow.errors import GridflowError, UsageError

SETTINGS = {"readonly": 1}
READONLY_CODE = 164  # ClickHouse's "Cannot execute query in readonly mode"
SYNTAX_ERROR_CODE = 62
UNKNOWN_TABLE_CODE = 60
# what the store could not finish for want of memory or time: the query may be right
UNFINISHED_CODES = frozenset({158, 159, 160, 202, 241, 307, 394})


class Refused(UsageError):
    """A query that would write, reach outside the store, or run more than one statement."""


class StoreRefused(UsageError):
    """A person's query the store cannot run (its syntax; a table, column or function the
    store does not have): the input is wrong, as a usage error is."""

    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        self.code = code


class Unfinished(GridflowError):
    """A query the store began and could not finish (memory, time): the work failed."""


_CODE = re.compile(r"Code: (\d+)\.")
_OURS = re.compile(r" SETTINGS readonly = '?1'?|^Code: \d+\. DB::Exception: ")
_POSITION = re.compile(r"failed at position (\d+)")


def store_refusal(exc: Exception, sql: str, prefix: str = "") -> GridflowError:
    """The store's refusal of a person's `sql` in one line about their query, never about
    what gridflow sent around it (`prefix` before it, readonly's SETTINGS after)."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    found = _CODE.search(first)
    code = int(found.group(1)) if found else None
    said = _OURS.sub("", first)
    if code in UNFINISHED_CODES:
        return Unfinished(f"the store could not finish the query: {said}")
    if code == SYNTAX_ERROR_CODE:
        asked = " ".join(sql.split())
        at = _POSITION.search(first)
        where = int(at.group(1)) - len(prefix) if at else 0
        if 1 <= where <= len(sql):
            near = " ".join(sql[where - 1 :].split())[:30]
            return StoreRefused(
                f"syntax error at character {where} of the query (at {near!r}): {asked}", code
            )
        if where > len(sql):
            return StoreRefused(f"syntax error: the query ends too soon: {asked}", code)
        return StoreRefused(f"syntax error in the query: {asked}", code)
    return StoreRefused(f"the store cannot run the query: {said}", code)


def statements(sql: str) -> list[str]:
    """The statements of `sql` (none for an empty one, or only comments)."""
    return _statements(sql)


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
