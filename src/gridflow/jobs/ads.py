"""The Copernicus data stores' retrieve API (ADS, CDS; OGC API Processes), as the official
`ecmwf-datastores-client` speaks it: POST `{url}/retrieve/v1/processes/{dataset}/execution`
(201 and a job id), GET `{url}/retrieve/v1/jobs/{id}` for its status, GET
`{url}/retrieve/v1/jobs/{id}/results` for the asset once it succeeded (or the problem JSON of a
failure).

The key travels in the `PRIVATE-TOKEN` header, read from the environment only (`ADS_API_KEY`
by default) and never written anywhere. Requests go the one way gridflow asks a server
(gridflow.net.service_http): 429 answers are retried after their Retry-After, 5xx and dropped
connections with back-off, counted, behind the host's circuit breaker.
"""

from __future__ import annotations

import contextlib
import os
from urllib.parse import urljoin

import requests

from gridflow.errors import UsageError
from gridflow.jobs.resumable import Asset, Status, Submitted
from gridflow.net import host_health, service_http
from gridflow.net.transport import Settings, TransportError

USER_AGENT = "gridflow (ecmwf-datastores protocol)"


class ServiceRefused(UsageError):
    """The service refused us: a bad key, a licence not accepted, an invalid request."""


def _problem(response: requests.Response) -> tuple[str, str]:
    """(title, detail) of a problem JSON answer, or the HTTP reason."""
    try:
        body = response.json()
    except ValueError:
        return response.reason or str(response.status_code), ""
    return str(body.get("title") or response.reason), str(body.get("detail") or "")


class DataStore:
    name = "ads"

    def __init__(
        self,
        url: str,
        key_variable: str = "ADS_API_KEY",
        settings: Settings | None = None,
        health: host_health.Record | None = None,
    ):
        self.url = url.rstrip("/")
        self.key_variable = key_variable
        self.client = service_http.Client(settings or Settings(), USER_AGENT, health)

    def _key(self) -> str:
        key = os.environ.get(self.key_variable)
        if not key:
            raise ServiceRefused(f"{self.key_variable} is not set: the data store needs your key")
        return key

    def _call(self, method: str, path: str, **kwargs) -> requests.Response:
        key = self._key()
        return self.client.call(
            method, f"{self.url}{path}", lambda: {"PRIVATE-TOKEN": key}, **kwargs
        )

    def _refused(self, response: requests.Response, what: str) -> ServiceRefused:
        title, detail = _problem(response)
        return ServiceRefused(
            f"{self.url}: {what} refused ({response.status_code} {title})"
            + (f": {detail}" if detail else "")
        )

    def submit(self, request: dict) -> str:
        dataset = request["dataset"]
        response = self._call(
            "POST",
            f"/retrieve/v1/processes/{dataset}/execution",
            json={"inputs": request["inputs"]},
        )
        if response.status_code not in (200, 201):
            raise self._refused(response, f"the request for {dataset}")
        return Submitted(response.json()["jobID"])

    def status(self, job_id: str) -> Status:
        response = self._call("GET", f"/retrieve/v1/jobs/{job_id}")
        if response.status_code == 404:
            return Status("dismissed", message="the service no longer knows the job")
        if response.status_code != 200:
            raise self._refused(response, f"the status of job {job_id}")
        body = response.json()
        return Status(body["status"], body.get("updated") or body.get("created"))

    def results(self, job_id: str) -> list[Asset]:
        path = f"/retrieve/v1/jobs/{job_id}/results"
        response = self._call("GET", path)
        if response.status_code != 200:
            raise self._refused(response, f"the results of job {job_id}")
        value = response.json()["asset"]["value"]
        href = urljoin(f"{self.url}{path}", value["href"])
        return [Asset(href, value.get("file:size"), value.get("type"))]

    def dismiss(self, job_id: str) -> None:
        """Delete a job upstream (best effort: a job already gone is fine)."""
        with contextlib.suppress(TransportError):
            self._call("DELETE", f"/retrieve/v1/jobs/{job_id}")

    def failure(self, job_id: str, status: Status) -> tuple[str, str]:
        if status.state == "dismissed":
            return status.message or "dismissed", ""
        return _problem(self._call("GET", f"/retrieve/v1/jobs/{job_id}/results"))
