"""How gridflow calls a job service's HTTP API (the Copernicus data stores, NASA Harmony):
dropped connections and 5xx answers retried with back-off, 429 answered after its Retry-After,
and, for services with renewable tokens, one more try with a new token after a 401."""

from __future__ import annotations

import time
from collections.abc import Callable

import requests

from gridflow.net.transport import TransportError

RETRIES = 4
LONGEST_RETRY_AFTER = 600.0


def call(
    session: requests.Session,
    method: str,
    where: str,
    headers: Callable[[], dict],
    timeout: float,
    renew: Callable[[], None] | None = None,
    **kwargs,
) -> requests.Response:
    """The service's answer; `headers()` is asked again after `renew()` (a new token)."""
    pause, renewed = 1.0, False
    for attempt in range(RETRIES + 1):
        try:
            response = session.request(method, where, headers=headers(), timeout=timeout, **kwargs)
        except requests.RequestException as exc:
            if attempt == RETRIES:
                raise TransportError(f"{where}: {type(exc).__name__}") from None
            time.sleep(pause)
            pause *= 2
            continue
        if response.status_code == 401 and renew is not None and not renewed:
            renew()
            renewed = True
            continue
        if response.status_code == 429 and attempt < RETRIES:
            wait = float(response.headers.get("Retry-After") or pause)
            time.sleep(min(wait, LONGEST_RETRY_AFTER))
            continue
        if response.status_code >= 500 and attempt < RETRIES:
            time.sleep(pause)
            pause *= 2
            continue
        return response
    return response
