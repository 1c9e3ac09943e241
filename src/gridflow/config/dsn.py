"""Connection strings fit for logs, markers and errors: never a user name or a password."""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit, urlunsplit


def redact(dsn: str) -> str:
    """`scheme://host:port/path` of a URL DSN; a libpq `key=value` DSN without its secrets."""
    if "://" not in dsn:
        return re.sub(r"\b(password|user)\s*=\s*('[^']*'|\S+)", r"\1=***", dsn)
    parts = urlsplit(dsn)
    if not parts.netloc:  # chdb:///path has no place for secrets
        return f"{parts.scheme}://{parts.path}"
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def from_env(name: str) -> str:
    """`env:NAME`: a DSN that stays in the environment, so it never lands on a command line,
    in a log or in a config dump."""
    return f"env:{name}"


def resolve(dsn: str) -> str:
    if dsn.startswith("env:"):
        name = dsn[4:]
        value = os.environ.get(name)
        if not value:
            raise ValueError(f"the environment variable {name} is not set")
        return value
    return dsn
