"""The one base of every gridflow error: a message fit for one line, and the exit code it means.

Exit codes: 1 the work failed, 2 bad configuration or usage, 3 upstream unreachable, 75 busy
(another run or process holds what is needed; try again later).
"""

from __future__ import annotations

FAILED = 1
USAGE = 2
UNREACHABLE = 3
BUSY = 75


class GridflowError(Exception):
    """An error `gridflow` prints as one line naming the file or setting and the cause."""

    exit_code = FAILED


class UsageError(GridflowError):
    """A command line or configuration that cannot be acted on."""

    exit_code = USAGE


class Unreachable(GridflowError):
    """A source or server that did not answer."""

    exit_code = UNREACHABLE


class Busy(GridflowError):
    """What is needed is held by another process; a later attempt may succeed."""

    exit_code = BUSY


class FetchError(GridflowError):
    """A raw file that could not be fetched whole and verified."""


class ShredError(GridflowError, ValueError):
    """A raw file whose fields cannot be decoded, or do not match its inventory."""
