"""NASA Harmony's OGC API Coverages, as harmony-py speaks it: POST multipart form data to
`{url}/{collection}/ogc-api-coverages/1.0.0/collections/parameter_vars/coverage/rangeset` with
the variables, `subset` parts and the output format. The reply is a 303: to `/jobs/{id}` when
Harmony runs the request as a job (polled at GET `/jobs/{id}`, whose `rel=data` links are the
outputs, paged by `rel=next`), or straight to the data when it answered synchronously; a 200
carries the data itself. Outputs are downloaded with the same bearer token (Harmony redirects
them to a presigned object, where the token is not sent).

Errors are Harmony's JSON (`{"code": "harmony.<Class>", "description": "Error: ..."}`):
4xx refusals are one line naming Harmony's words; 429 and 5xx are retried politely, the one
way gridflow asks a server (gridflow.net.service_http).
"""

from __future__ import annotations

import contextlib
from urllib.parse import urljoin, urlsplit

import requests

from gridflow.errors import UsageError
from gridflow.jobs.earthdata import EarthdataRefused, Tokens
from gridflow.jobs.resumable import Asset, Status, Submitted
from gridflow.net import host_health, service_http
from gridflow.net.transport import Settings, TransportError

USER_AGENT = "gridflow (harmony-py protocol)"
# Harmony's job states in the words of gridflow.jobs.resumable
STATES = {
    "accepted": "accepted",
    "running": "running",
    "running_with_errors": "running",
    "previewing": "running",
    "paused": "running",
    "successful": "successful",
    "complete_with_errors": "successful",
    "failed": "failed",
    "canceled": "dismissed",
}


class HarmonyRefused(UsageError):
    """Harmony refused the request: an invalid subset, an unsupported format, a EULA."""


def _message(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        if "html" in response.headers.get("Content-Type", ""):
            return "an Earthdata Login page, not an answer: the token was not accepted"
        return response.reason or str(response.status_code)
    text = str(body.get("description") or body.get("message") or response.reason)
    return text.removeprefix("Error: ")


class Harmony:
    name = "harmony"

    def __init__(
        self,
        url: str,
        tokens: Tokens,
        settings: Settings | None = None,
        health: host_health.Record | None = None,
    ):
        self.url = url.rstrip("/")
        self.tokens = tokens
        self.client = service_http.Client(settings or Settings(), USER_AGENT, health)

    def _call(self, method: str, where: str, **kwargs) -> requests.Response:
        return self.client.call(
            method,
            where,
            lambda: {"Authorization": f"Bearer {self.tokens.bearer()}"},
            renew=lambda: self.tokens.refused(self.url),  # a new token, or a clear refusal
            allow_redirects=False,
            **kwargs,
        )

    def _refusal(self, response: requests.Response, what: str) -> UsageError:
        kind = EarthdataRefused if response.status_code == 401 else HarmonyRefused
        return kind(f"{self.url}: {what} refused ({response.status_code}): {_message(response)}")

    def submit(self, request: dict) -> Submitted:
        route = (
            f"{self.url}/{request['collection']}/ogc-api-coverages/1.0.0/collections/"
            "parameter_vars/coverage/rangeset"
        )
        form = [("variable", request["variable"])]
        for name, value in request["params"].items():
            form += [(name, v) for v in value] if isinstance(value, list) else [(name, value)]
        response = self._call("POST", route, files=[(k, (None, v)) for k, v in form])
        if response.status_code in (301, 302, 303, 307):
            location = urljoin(route, response.headers["Location"])
            parts = urlsplit(location).path.rstrip("/").split("/")
            if len(parts) >= 2 and parts[-2] == "jobs":
                return Submitted(parts[-1])
            return Submitted(f"sync:{location}", [Asset(location, None, None)])
        if response.status_code == 200:  # the data itself
            kind = response.headers.get("Content-Type", "").split(";")[0] or None
            return Submitted("sync:reply", body=response.content, body_type=kind)
        raise self._refusal(response, f"the request for {request['collection']}")

    def _job(self, job_id: str) -> dict:
        where = f"{self.url}/jobs/{job_id}"
        response = self._call("GET", where, params={"linktype": "https"})
        if response.status_code == 404:
            return {"status": "canceled", "message": "Harmony no longer knows the job"}
        if response.status_code != 200:
            raise self._refusal(response, f"the status of job {job_id}")
        return response.json()

    def status(self, job_id: str) -> Status:
        job = self._job(job_id)
        state = STATES.get(job.get("status", ""), "failed")
        return Status(state, job.get("updatedAt") or job.get("createdAt"), job.get("message"))

    def results(self, job_id: str) -> list[Asset]:
        assets, page = [], self._job(job_id)
        while True:
            links = page.get("links", [])
            assets += [
                Asset(link["href"], None, link.get("type"))
                for link in links
                if link["rel"] == "data"
            ]
            following = [link["href"] for link in links if link["rel"] == "next"]
            if not following:
                return assets
            response = self._call("GET", following[0])
            if response.status_code != 200:
                raise self._refusal(response, f"the outputs of job {job_id}")
            page = response.json()

    def failure(self, job_id: str, status: Status) -> tuple[str, str]:
        job = self._job(job_id)
        errors = "; ".join(e.get("message", "") for e in job.get("errors", []))
        return job.get("message") or status.message or status.state, errors

    def dismiss(self, job_id: str) -> None:
        """Cancel a job upstream (best effort)."""
        with contextlib.suppress(TransportError, UsageError):
            self._call("POST", f"{self.url}/jobs/{job_id}/cancel")
