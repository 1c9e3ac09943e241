"""People's queries read and nothing else: every write, settings change, file written or read,
table function or function that reaches outside the store and multi-statement is refused in one
line, and the store is intact. The guard is tested against the store's own lists of table
functions and functions, so what a ClickHouse upgrade adds is refused until judged."""

from __future__ import annotations

import json

import pytest
from clickhouse_connect.driver.exceptions import DatabaseError
from tests_support import REPO, gridflow

from gridflow import inventory
from gridflow.cli import main as cli
from gridflow.formats.grib.read import build_inventory
from gridflow.pipeline.shred import shred
from gridflow.query import readonly, sql_guard
from gridflow.query.readonly import _statements
from gridflow.sinks import clickhouse

HOSTILE = [
    "DROP TABLE grid_data",
    "INSERT INTO grid_data (source, variable) VALUES ('x', 'y')",
    "ALTER TABLE grid_data DELETE WHERE 1",
    "SYSTEM DROP MARK CACHE",
    "SET readonly = 0",
    "SELECT 1 SETTINGS readonly = 0",
    "SELECT * FROM file('/etc/passwd', 'LineAsString')",
    "SELECT * FROM url('http://127.0.0.1:9/x', 'LineAsString')",
    "SELECT * FROM s3('http://127.0.0.1:9/some-bucket/key', 'LineAsString')",
    "SELECT * FROM remote('127.0.0.1:9', system.one)",
    "SELECT 1; DROP TABLE grid_data",
    "CREATE TABLE stolen ENGINE = Memory AS SELECT * FROM grid_data",
    "SELECT file('/etc/hostname')",
    "SELECT lower(FILE('/etc/hostname')) AS x",
    "DESC file('/etc/passwd')",
    "SELECT * FROM cluster('default', system.one)",
    "SELECT 1 WHERE 1 IN url('http://127.0.0.1:9/x', 'CSV')",
    "SELECT * FROM view(SELECT * FROM file('/etc/passwd'))",
    "SELECT aiGenerate('hello')",
    "KILL QUERY WHERE 1",
    "INSERT INTO grid_data FROM INFILE '/etc/hostname' FORMAT CSV",
]

# every spelling of INTO OUTFILE: {out} is a path that must never appear
OUTFILE = [
    "SELECT 1 INTO OUTFILE '{out}'",
    "select 1 into   outfile '{out}' truncate",
    "SELECT 1 INTO/* a comment */OUTFILE'{out}'",
    "SELECT 1 -- a comment\nINTO\n\tOUTFILE '{out}' APPEND",
    "SELECT 1 INTO OUTFILE '{out}' AND STDOUT",
    "SELECT 1 UNION ALL SELECT 2 INTO OUTFILE '{out}' COMPRESSION 'gzip' LEVEL 3",
    "(SELECT 1) INTO OUTFILE '{out}'",
    "WITH (SELECT 1) AS x SELECT x INTO OUTFILE '{out}'",
    "SELECT * FROM (SELECT 1) WHERE 1 IN (SELECT 1) INTO OUTFILE '{out}'",
    "SHOW TABLES INTO OUTFILE '{out}'",
    "DESCRIBE TABLE grid_data INTO OUTFILE '{out}'",
    "EXISTS TABLE grid_data INTO OUTFILE '{out}'",
    "EXPLAIN SELECT 1 INTO OUTFILE '{out}'",
    "EXPLAIN AST SELECT 1 INTO OUTFILE '{out}'",
    "EXPLAIN AST EXPLAIN SELECT 1 INTO OUTFILE '{out}'",
    "SELECT 1 AS `x` INTO OUTFILE '{out}' FORMAT CSV",
]


@pytest.fixture(scope="module")
def store(tmp_path_factory, samples):
    tmp = tmp_path_factory.mktemp("ro")
    raw = samples / "gfs.complex.grib2"
    (tmp / "x.idx").write_text(inventory.format_lines(build_inventory(raw)))
    meta = {"source": "gfs", "run_id": "r1", "raw_key": "raw/x", "format": "grib2"}
    (tmp / "x.json").write_text(json.dumps(meta))
    shred(raw, tmp / "x.idx", tmp / "x.json", tmp / "x.parquet")
    dsn = f"chdb://{tmp}/store"
    client = clickhouse.connect(dsn, create=True)
    clickhouse.migrate(client, REPO / "migrations" / "clickhouse")
    rows = clickhouse.load(client, tmp / "x.parquet", "gfs", "raw/x")
    client.close()
    return dsn, rows


def test_statements_split_outside_quotes_and_comments():
    assert _statements("SELECT ';' -- a; comment\n") == ["SELECT ';'"]
    assert len(_statements("SELECT 1; SELECT 2;")) == 2


def test_writes_and_reaching_out_are_refused(store, capfd):
    """Each refused in one line, exit 2; the first through the command as a user runs it, the
    rest through its main in this process (file descriptors captured, chDB's own output too)."""
    dsn, rows = store
    result = gridflow("sql", "--dsn", dsn, HOSTILE[0])
    assert result.returncode == 2 and result.stderr.startswith("gridflow sql: error: refused")
    for sql in HOSTILE:
        try:
            cli.main(["sql", "--dsn", dsn, sql])
            code = 0
        except SystemExit as exit:
            code = exit.code
        out, err = capfd.readouterr()
        where = f"{sql}: {err}"
        assert code == 2, where
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("gridflow sql: error: refused"), where
        assert "root:" not in out + err and "vm" not in out
    count = gridflow("sql", "--dsn", dsn, "SELECT count() AS n FROM grid_data")
    assert json.loads(count.stdout) == {"n": rows}


def test_into_outfile_is_refused_in_every_form(store, tmp_path):
    dsn, _ = store
    client = clickhouse.connect(dsn, create=False)
    try:
        for n, form in enumerate(OUTFILE):
            sql = form.format(out=tmp_path / f"out{n}")
            with pytest.raises(readonly.Refused, match="INTO OUTFILE"):
                sql_guard.check(client, sql)
        # the words in a string or a name are no clause
        for harmless in ("SELECT 'INTO OUTFILE x'", "SELECT 1 AS `INTO OUTFILE`"):
            sql_guard.check(client, harmless)
    finally:
        client.close()
    result = gridflow("sql", "--dsn", dsn, OUTFILE[1].format(out=tmp_path / "cli"))
    assert result.returncode == 2 and "refused: INTO OUTFILE" in result.stderr
    assert list(tmp_path.iterdir()) == []


def _statement_refusal(client, sql: str) -> str | None:
    try:
        sql_guard.check(client, sql)
    except readonly.Refused as refused:
        return str(refused)
    return None


def test_every_table_function_of_the_store_is_refused_unless_judged(store):
    """From system.table_functions, not a list of ours: a table function an upgrade adds is
    refused until it is judged and put in ALLOWED_TABLE_FUNCTIONS."""
    dsn, _ = store
    client = clickhouse.connect(dsn, create=False)
    try:
        listed = {r[0] for r in client.query("SELECT name FROM system.table_functions").result_rows}
        assert listed >= sql_guard.ALLOWED_TABLE_FUNCTIONS  # judged names are the store's
        for name in sorted(listed):
            parsed = 0
            for arguments in ("()", "(1)", "(SELECT 1)", "(SELECT 1 ELSE null('a Int8'))"):
                sql = f"SELECT * FROM system.one, {name}{arguments} AS t"
                try:
                    why = _statement_refusal(client, sql)
                except (DatabaseError, readonly.StoreRefused):  # these arguments do not parse
                    continue
                parsed += 1
                if name in sql_guard.ALLOWED_TABLE_FUNCTIONS:
                    assert why is None, (sql, why)
                else:
                    assert why and f"table function {name}()" in why, (sql, why)
            assert parsed, name
        allowed = client.query("SELECT count() FROM numbers(3)", settings=readonly.SETTINGS)
        assert allowed.result_rows == [(3,)]
    finally:
        client.close()


def test_functions_that_reach_outside_the_store_are_refused(store):
    """From system.functions: every function of a category that reaches out (AI providers,
    introspection) and each function judged to (file(), Keeper counters) is refused, and every
    category the store has was judged one way or the other."""
    dsn, _ = store
    client = clickhouse.connect(dsn, create=False)
    try:
        rows = client.query(
            "SELECT name, categories FROM system.functions WHERE alias_to = '' AND NOT is_aggregate"
        ).result_rows
        categories = {category for _, category in rows}
        assert categories <= sql_guard.JUDGED_CATEGORIES | set(sql_guard.REFUSED_CATEGORIES)
        reaching = [
            name
            for name, category in rows
            if category in sql_guard.REFUSED_CATEGORIES or name in sql_guard.REFUSED_FUNCTIONS
        ]
        assert {"file", "aiGenerate", "addressToLine"} <= set(reaching)
        for name in reaching:
            why = _statement_refusal(client, f"SELECT {name}('x')")
            assert why and f"function {name}()" in why, (name, why)
        aliases = client.query(
            "SELECT name FROM system.functions WHERE alias_to IN %(r)s", parameters={"r": reaching}
        ).result_rows
        for (alias,) in aliases:
            assert _statement_refusal(client, f"SELECT {alias}('x')"), alias
        for fine in ("SELECT greatCircleDistance(0, 0, 1, 1)", "SELECT format('{}', 1)"):
            assert _statement_refusal(client, fine) is None
    finally:
        client.close()


def test_what_an_upgrade_adds_is_refused_until_judged():
    """A table function, a function of a new category and a user-defined function the store
    did not have when the lists were judged."""
    known = sql_guard.Catalogue(
        frozenset({"numbers", "teleport"}),
        {
            "teleportRow": sql_guard.StoreFunction("teleportRow", "Teleportation", "System"),
            "runIt": sql_guard.StoreFunction("runIt", "", "ExecutableUserDefined"),
            "lower": sql_guard.StoreFunction("lower", "String", "System"),
        },
    )

    def tree(*lines):
        return sql_guard.nodes(["SelectWithUnionQuery (children 1)", *lines])

    scan = [" TableExpression (children 1)", "  Function {} (children 1)"]
    assert sql_guard.refusal(tree(scan[0], scan[1].format("numbers")), known) is None
    assert "teleport()" in sql_guard.refusal(tree(scan[0], scan[1].format("teleport")), known)
    assert "Teleportation" in sql_guard.refusal(tree("  Function teleportRow"), known)
    assert "user-defined" in sql_guard.refusal(tree("  Function runIt (children 1)"), known)
    assert sql_guard.refusal(tree("  Function lower (alias x) (children 1)"), known) is None


def test_place_queries_bind_what_they_are_given(store):
    dsn, rows = store
    for command in ("point", "latest"):
        result = gridflow(
            command,
            *("--dsn", dsn, "--source", "gfs", "--level", "500 mb", "--lat", "1", "--lon", "2"),
            *("--variable", "HGT' OR 1=1; DROP TABLE grid_data --"),
        )
        assert result.returncode == 2 and "no data for source=gfs" in result.stderr
        assert "Traceback" not in result.stderr
    count = gridflow("sql", "--dsn", dsn, "SELECT count() AS n FROM grid_data")
    assert json.loads(count.stdout) == {"n": rows}


def _sql(dsn: str, query: str, capsys) -> tuple[int, str, list[str]]:
    capsys.readouterr()
    try:
        cli.main(["sql", "--dsn", dsn, query])
        code = 0
    except SystemExit as exit:
        code = exit.code
    out, err = capsys.readouterr()
    return code, out, err.splitlines()


def test_a_query_the_store_cannot_run_is_the_users_in_one_line(store, capsys):
    """Empty, not SQL, or naming what the store has not: exit 2, about the query as given,
    never about what gridflow sends around it (EXPLAIN AST before, SETTINGS after)."""
    dsn, _ = store
    for empty in ("", "  ", ";", "-- nothing\n"):
        code, out, said = _sql(dsn, empty, capsys)
        assert (code, out) == (2, "") and len(said) == 1, said
        assert (
            said[0]
            == 'gridflow sql: error: the query is empty: give one statement, e.g. "SELECT 1"'
        )
    code, _, said = _sql(dsn, "SELEC 1", capsys)
    assert code == 2 and said == [
        "gridflow sql: error: syntax error at character 7 of the query (at '1'): SELEC 1"
    ]
    code, _, said = _sql(dsn, "SELECT count(\n FROM grid_data", capsys)
    assert code == 2 and len(said) == 1 and said[0].endswith(": SELECT count( FROM grid_data")
    for wrong in ("SELECT * FROM nope", "SELECT nope FROM grid_data", "SELECT nope(1)"):
        code, _, said = _sql(dsn, wrong, capsys)
        assert code == 2 and len(said) == 1, said
        assert said[0].startswith("gridflow sql: error: the store cannot run the query: ")
    for said in (_sql(dsn, q, capsys)[2] for q in ("SELEC 1", "SELECT * FROM nope", "SELECT 1 +")):
        assert "SETTINGS" not in said[0] and "EXPLAIN" not in said[0] and "Code:" not in said[0]


def test_an_empty_store_is_said_alike_by_sql_and_point(tmp_path, capsys):
    dsn = f"chdb://{tmp_path}/clickhouse"
    clickhouse.connect(dsn, create=True).close()
    code, _, said = _sql(dsn, "SELECT count() FROM grid_data", capsys)
    nothing = f"nothing is loaded in {dsn} yet (no grid_data)"
    assert code == 2 and said == [f"gridflow sql: error: {nothing}"]
    place = [
        "--source",
        "gfs",
        "--variable",
        "TMP",
        "--level",
        "surface",
        "--lat",
        "1",
        "--lon",
        "2",
    ]
    try:
        cli.main(["point", "--dsn", dsn, *place])
    except SystemExit as exit:
        assert exit.code == 2
    assert capsys.readouterr().err.splitlines() == [f"gridflow point: error: {nothing}"]
