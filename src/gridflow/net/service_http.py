"""How gridflow calls a job service's HTTP API (the Copernicus data stores, NASA Harmony,
Earthdata Login): each request goes through its host's `gridflow.net.transport.Host`, as a
fetch does, so dropped connections, 5xx and 429 answers are tried again with the same back-off
(at least a 429's Retry-After), counted, paced and stopped by the same circuit breaker. For
services with renewable tokens, a 401 is answered once with a new token."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

import requests

from gridflow.net import host_health
from gridflow.net.transport import Host, Settings, Transient

LONGEST_RETRY_AFTER = 600.0


def _retry_after(response: requests.Response) -> float:
    try:
        return min(float(response.headers.get("Retry-After") or 0.0), LONGEST_RETRY_AFTER)
    except ValueError:  # an HTTP date: the back-off decides
        return 0.0


class Client:
    """Requests to one service, with its User-Agent (requests' own when None)."""

    def __init__(
        self,
        settings: Settings,
        user_agent: str | None = None,
        health: host_health.Record | None = None,
    ):
        self.settings = settings
        self.health = health or host_health.record()
        self.session = requests.Session()
        if user_agent:
            self.session.headers["User-Agent"] = user_agent
        self._hosts: dict[str, Host] = {}

    @property
    def retries(self) -> int:
        """Requests tried again, over every host this client asked."""
        return sum(host.retries for host in self._hosts.values())

    def _host(self, where: str) -> Host:
        name = urlsplit(where).netloc or "local"
        if name not in self._hosts:
            self._hosts[name] = Host(name, self.settings, self.health)
        return self._hosts[name]

    def call(
        self,
        method: str,
        where: str,
        headers: Callable[[], dict],
        renew: Callable[[], None] | None = None,
        **kwargs,
    ) -> requests.Response:
        """The service's answer; `headers()` is asked again after `renew()` (a new token)."""
        response = self._ask(method, where, headers(), **kwargs)
        if response.status_code == 401 and renew is not None:
            renew()  # outside the host's turn: a token may come from the same host
            response = self._ask(method, where, headers(), **kwargs)
        return response

    def _ask(self, method: str, where: str, headers: dict, **kwargs) -> requests.Response:
        def once() -> requests.Response:
            try:
                response = self.session.request(
                    method, where, headers=headers, timeout=self.settings.timeout_seconds, **kwargs
                )
            except requests.RequestException as exc:
                raise Transient(f"{where}: {type(exc).__name__}") from None
            if response.status_code == 429 or response.status_code >= 500:
                raise Transient(
                    f"{where}: {response.status_code} {response.reason}", _retry_after(response)
                )
            return response

        return self._host(where).call(where, once)
