"""What the first bytes of a file that is not what it should be look like: a server's error page
saved as data is the common case, and saying so beats showing its bytes."""

from __future__ import annotations

KINDS = (
    ((b"<!doctype html", b"<html"), "an HTML page (a server's error page saved as data?)"),
    ((b"<?xml", b"<error"), "an XML document (an object store's error answer?)"),
    ((b"{", b"["), "a JSON document (a service's error answer?)"),
)


def looks_like(head: bytes) -> str:
    """`head` (the first bytes) described for an error message."""
    start = head.lstrip().lower()
    for prefixes, kind in KINDS:
        if start.startswith(prefixes):
            return kind
    return f"bytes {head[:8]!r}"
