"""A throwaway PostgreSQL 15 + PostGIS server on loopback, for tests and benchmarks.

initdb refuses root, so as root the server runs as the `postgres` user (runuser), in a folder
it owns. Password authentication is on, so wrong credentials fail as they would in production.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PASSWORD = "gridflow-test-secret"


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


class PostgresServer:
    def __init__(self):
        self.base = Path(tempfile.mkdtemp(prefix="gridflow-pg-"))
        self.base.chmod(0o755)
        self.data, self.sock = self.base / "data", self.base / "sock"
        self.sock.mkdir()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]

    def dsn(self, user="postgres", password=PASSWORD, db="gridflow") -> str:
        return f"postgresql://{user}:{password}@127.0.0.1:{self.port}/{db}"

    def start(self) -> PostgresServer:
        pwfile = self.base / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if os.geteuid() == 0:
            shutil.chown(self.base, "postgres")
            shutil.chown(self.sock, "postgres")
            shutil.chown(pwfile, "postgres")
        run = dict(check=True, capture_output=True, text=True)
        subprocess.run(
            _as_postgres(
                [
                    str(PG_BIN / "initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    "postgres",
                    "-A",
                    "scram-sha-256",
                    f"--pwfile={pwfile}",
                ]
            ),
            **run,
        )
        self.resume()
        self.psql("CREATE DATABASE gridflow")
        return self

    def resume(self) -> None:
        """Start the server on its data folder (again, after `halt`)."""
        options = (
            f"-p {self.port} -k {self.sock} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off"
        )
        ctl = [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-o", options]
        subprocess.run(
            _as_postgres([*ctl, "-l", str(self.base / "log"), "-w", "start"]),
            check=True,
            capture_output=True,
            text=True,
        )

    def halt(self) -> None:
        """Stop the server at once, as a crash would (open transactions are lost)."""
        subprocess.run(
            _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"]),
            check=True,
            capture_output=True,
        )

    def psql(self, sql: str, db: str = "postgres") -> str:
        env = os.environ | {"PGPASSWORD": PASSWORD}
        out = subprocess.run(
            [
                "psql",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                db,
                "-v",
                "ON_ERROR_STOP=1",
                "-At",
                "-c",
                sql,
            ],
            check=True,
            capture_output=True,
            text=True,
            env=env,
        )
        return out.stdout.strip()

    def stop(self) -> None:
        subprocess.run(
            _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "stop"]),
            capture_output=True,
        )
        shutil.rmtree(self.base, ignore_errors=True)
