"""What a person's SQL may reach, judged on the store's own parse of it before it runs.

`readonly = 1` stops writes, settings and most table functions, and it is not enough: chDB
obeys `INTO OUTFILE` (the querying process writes the file, readonly or not), the ordinary
function `file()` reads any file the process may read, and readonly lets a few table
functions through (`cluster()` reaches other servers). So `gridflow sql` first asks the store
to parse the query (`EXPLAIN AST`, which runs nothing) and refuses, whatever the case,
spacing, comments or nesting:

- `INTO OUTFILE`, in every form (the parser has already read it);
- every table function that is not in ALLOWED_TABLE_FUNCTIONS, judged to touch nothing
  outside the store; one a ClickHouse upgrade adds is refused until it is judged;
- ordinary functions that reach outside the store: REFUSED_FUNCTIONS, the REFUSED_CATEGORIES
  of the store's own `system.functions`, any function of a category not yet judged
  (JUDGED_CATEGORIES), and user-defined functions (an executable one runs a program).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ALLOWED_TABLE_FUNCTIONS = frozenset(
    {
        "numbers",
        "numbers_mt",
        "zeros",
        "zeros_mt",
        "generate_series",
        "generateSeries",
        "primes",
        "values",
        "null",
        "view",  # its query is checked like the rest
        "merge",  # the store's own tables
    }
)

REFUSED_FUNCTIONS = {
    "file": "reads a file",
    "generateSerialID": "writes a counter to the server's Keeper",
}
REFUSED_CATEGORIES = {
    "AI": "sends text to a model provider",
    "Introspection": "reads the server's binary or writes to its log",
}
# the categories of system.functions judged, function by function, to stay inside the store
# (the few that do not are in REFUSED_FUNCTIONS); a new category is refused until judged
JUDGED_CATEGORIES = frozenset(
    {
        "Aggregate Functions",
        "Arithmetic",
        "Arrays",
        "Bit",
        "Bitmap",
        "Comparison",
        "Conditional",
        "Dates and Times",
        "Dictionary",
        "Distance",
        "Embedded Dictionary",
        "Encoding",
        "Encryption",
        "Financial",
        "Geo",
        "Geo Polygon",
        "Hash",
        "IP Address",
        "Internal",
        "JSON",
        "Logical",
        "Machine Learning",
        "Map",
        "Mathematical",
        "Null",
        "NumericIndexedVector",
        "Other",
        "QBit",
        "Random Number",
        "Rounding",
        "String",
        "String Replacement",
        "String Search",
        "String Splitting",
        "Time Series",
        "Time Window",
        "Tuple",
        "Type Conversion",
        "URL",  # parsing URL strings; nothing is fetched
        "UUID",
    }
)


EXPLAIN = "EXPLAIN AST "


@dataclass(frozen=True)
class Node:
    """One line of EXPLAIN AST: its depth, its kind (`Function`, `Literal`, ...) and name."""

    depth: int
    kind: str
    name: str


@dataclass(frozen=True)
class StoreFunction:
    name: str
    category: str  # of the function an alias stands for
    origin: str  # System, or a user-defined kind


@dataclass(frozen=True)
class Catalogue:
    """What the store says it has: its table functions, and its ordinary functions by name
    (and by lower-case name, so no spelling of a refused one slips through)."""

    table_functions: frozenset[str]
    functions: dict[str, StoreFunction]


_LINE = re.compile(r"^(\S+)(?: (.*?))??(?: \(alias .*\))?(?: \(children \d+\))?$")


def nodes(explained: list[str]) -> list[Node]:
    """The nodes of an EXPLAIN AST answer, one per line. A line an alias with a line break
    added only adds nodes: every real node keeps its own line and depth."""
    found = []
    for line in explained:
        text = line.lstrip(" ")
        match = _LINE.match(text.rstrip())
        if match:
            found.append(Node(len(line) - len(text), match.group(1), match.group(2) or ""))
    return found


def catalogue(client) -> Catalogue:
    from gridflow.query import readonly

    tables = readonly.query(client, "SELECT name FROM system.table_functions").result_rows
    rows = readonly.query(
        client, "SELECT name, alias_to, categories, origin FROM system.functions"
    ).result_rows
    by_name = {row[0]: row for row in rows}
    functions: dict[str, StoreFunction] = {}
    for name, alias, category, origin in rows:
        # an alias has no category of its own: it is the function it stands for
        target = by_name.get(alias, (alias, alias, category, origin)) if alias else None
        if target:
            resolved = StoreFunction(target[0], target[2], target[3])
        else:
            resolved = StoreFunction(name, category, origin)
        functions[name] = resolved
        functions.setdefault(name.lower(), resolved)
    return Catalogue(frozenset(t[0] for t in tables), functions)


def refusal(tree: list[Node], known: Catalogue) -> str | None:
    """Why the parsed query may not run, or None."""
    # INTO OUTFILE is a literal child of the statement itself (or of an EXPLAIN's statement):
    # EXPLAIN nodes lead the tree, one per depth, and the statement follows them
    explains = 0
    while explains < len(tree) and tree[explains] == Node(explains, "Explain", tree[explains].name):
        explains += 1
    statement = tree[explains].kind if explains < len(tree) else ""
    if statement.startswith("Kill"):
        return "KILL is not a query"
    if any(n.kind == "Literal" and 1 <= n.depth <= explains + 1 for n in tree):
        return "INTO OUTFILE (or FROM INFILE): queries from gridflow neither write nor read files"
    tables = {t.lower() for t in known.table_functions}
    allowed = {t.lower() for t in ALLOWED_TABLE_FUNCTIONS}
    for at, node in enumerate(tree):
        if node.kind != "Function":
            continue
        name = node.name
        function = known.functions.get(name) or known.functions.get(name.lower())
        in_from = at > 0 and tree[at - 1] == Node(node.depth - 1, "TableExpression", "")
        if in_from or (name.lower() in tables and function is None):
            if name.lower() not in allowed:
                return f"the table function {name}() reaches outside the store or is not judged"
            continue
        if function is None:  # lambda, combinators, or a name the store will refuse itself
            continue
        why = REFUSED_FUNCTIONS.get(function.name) or REFUSED_CATEGORIES.get(function.category)
        if why:
            return f"the function {name}() {why}"
        if function.origin != "System":
            return f"the function {name}() is user-defined ({function.origin}): it may run anything"
        if function.category not in JUDGED_CATEGORIES:
            return (
                f"the function {name}() is of a category not yet judged safe "
                f"({function.category or 'none'})"
            )
    return None


def check(client, sql: str, parameters: dict | None = None) -> None:
    """Refuse (readonly.Refused) a query that would reach outside the store, and one the
    store cannot parse (readonly.StoreRefused, about the query as given)."""
    from clickhouse_connect.driver.exceptions import DatabaseError

    from gridflow.query import readonly

    try:
        explained = readonly.query(client, EXPLAIN + sql, parameters=parameters).result_rows
    except DatabaseError as exc:
        raise readonly.store_refusal(exc, sql, EXPLAIN) from None
    why = refusal(nodes([r[0] for r in explained]), catalogue(client))
    if why:
        raise readonly.Refused(f"refused: {why}")
