"""NASA Earthdata Login (EDL) bearer tokens, from the environment only.

`EARTHDATA_TOKEN` is used as it is. Otherwise `EARTHDATA_USERNAME` / `EARTHDATA_PASSWORD` are
exchanged at EDL's token endpoints (HTTP Basic): a token of the user's that is valid for more
than `RENEW_DAYS` is reused, else a new one is made (EDL keeps at most two: the one expiring
first is revoked to make room). A token the service refuses (401) is replaced once by a new
one. Tokens and passwords are never printed: errors name the variables, not their values.
EDL is asked the one way gridflow asks a server (gridflow.net.service_http): a dropped
connection or a 5xx is tried again with back-off, counted, behind the host's circuit breaker.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import requests

from gridflow.errors import UsageError
from gridflow.net import host_health, service_http
from gridflow.net.transport import Settings, TransportError

TOKEN = "EARTHDATA_TOKEN"
USERNAME = "EARTHDATA_USERNAME"
PASSWORD = "EARTHDATA_PASSWORD"
RENEW_DAYS = 7  # a token expiring sooner than this is replaced before it is used
MAX_TOKENS = 2  # EDL's limit of valid tokens per user


class EarthdataRefused(UsageError):
    """Earthdata Login, or a service with its token, refused the credentials."""


def _expires(entry: dict) -> datetime:
    return datetime.strptime(entry["expiration_date"], "%m/%d/%Y").replace(tzinfo=UTC)


class Tokens:
    def __init__(
        self,
        url: str = "https://urs.earthdata.nasa.gov",
        settings: Settings | None = None,
        health: host_health.Record | None = None,
    ):
        self.url = url.rstrip("/")
        self.client = service_http.Client(settings or Settings(), health=health)
        self._token: str | None = None

    def _login(self) -> tuple[str, str]:
        user, password = os.environ.get(USERNAME), os.environ.get(PASSWORD)
        if not (user and password):
            raise EarthdataRefused(
                f"no Earthdata credentials: set {TOKEN}, or {USERNAME} and {PASSWORD}"
            )
        return user, password

    def _edl(self, method: str, path: str) -> requests.Response:
        where = f"{self.url}{path}"
        response = self.client.call(method, where, dict, auth=self._login(), allow_redirects=False)
        if response.status_code == 401:
            raise EarthdataRefused(
                f"{self.url}: Earthdata Login refused {USERNAME}/{PASSWORD} (401): check them"
            )
        if response.status_code >= 400:
            raise TransportError(f"{where}: {response.status_code} {response.reason}")
        return response

    def _make(self) -> str:
        made = self._edl("POST", "/api/users/token").json()
        return made["access_token"]

    def bearer(self) -> str:
        """A token to send (one lookup per process)."""
        if os.environ.get(TOKEN):
            return os.environ[TOKEN]
        if self._token is None:
            tokens = sorted(self._edl("GET", "/api/users/tokens").json(), key=_expires)
            soon = datetime.now(UTC) + timedelta(days=RENEW_DAYS)
            lasting = [t for t in tokens if _expires(t) > soon]
            if lasting:
                self._token = lasting[-1]["access_token"]
            else:
                if len(tokens) >= MAX_TOKENS:  # make room: the one expiring first goes
                    self._revoke(tokens[0]["access_token"])
                self._token = self._make()
        return self._token

    def _revoke(self, token: str) -> None:
        where = f"{self.url}/api/users/revoke_token"
        self.client.call("POST", where, dict, params={"token": token}, auth=self._login())

    def refused(self, service: str) -> str:
        """The service answered 401 with our token: a new one, or a clear refusal."""
        if os.environ.get(TOKEN):
            raise EarthdataRefused(f"{service} refused {TOKEN} (401): it is invalid or expired")
        if self._token is not None:
            self._revoke(self._token)
        self._token = self._make()
        return self._token
