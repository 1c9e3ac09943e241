"""A stand-in Copernicus data store on loopback, speaking the retrieve API the official client
does (POST .../processes/{id}/execution, GET /jobs/{id}, GET /jobs/{id}/results), with the
problem JSON answers of the real service, and the results' downloads (ranged GETs, no key, as
the real object store). Used by the tests and `make demo`:
`python -m devkit.ads_standin --result grib=samples/chem-cams.grib --port 18765`.

Each job returns the file given for its dataset (`--result reanalysis-era5-single-levels=...`:
the Climate Data Store speaks the same API), else for its request's `data_format` (grib,
netcdf, netcdf_zip).
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import uuid
from datetime import UTC, datetime
from email.utils import formatdate
from pathlib import Path

from devkit.loopback_service import LoopbackService, QuietHandler

KEY = "ads-test-key-0123"
LICENCE_URL = "{base}/datasets/{dataset}?tab=download#manage-licences"
MEDIA_TYPES = {
    "grib": ("application/x-grib", "grib"),
    "netcdf": ("application/netcdf", "nc"),
    "netcdf_zip": ("application/zip", "zip"),
}


class AdsServer:
    def __init__(self, result: Path | dict[str, Path], port: int = 0):
        """`result`: the file a successful job returns, by dataset id or data format (a path
        alone: grib)."""
        given = result if isinstance(result, dict) else {"grib": result}
        self.results = {kind: Path(path) for kind, path in given.items()}
        self.expired = False  # downloads answer 404, as results do after about a day
        self.dismissed: list[str] = []
        self.jobs: dict[str, dict] = {}
        self.submissions: list[dict] = []
        self.polls_to_finish = 2  # status calls answered accepted/running before success
        self.fail_next: tuple[str, str] | None = None
        self.reject_next = False  # the next job is rejected (a QoS check), not run
        self.cut_downloads = 0  # this many downloads stop half-way
        self.throttle_status = 0  # this many status calls get 429 first
        self.unavailable_status = 0  # this many status calls get 503 first
        self.licence_missing = False
        self.lock = threading.Lock()
        server = self

        class Handler(QuietHandler):
            def _reply(self, status: int, body: dict, headers: dict | None = None):
                self.reply_json(status, body, headers)

            def _problem(self, status: int, title: str, detail: str = "", headers=None):
                body = {"type": "about:blank", "title": title, "status": status}
                self._reply(status, {**body, "detail": detail}, headers)

            def _authorised(self) -> bool:
                if self.headers.get("PRIVATE-TOKEN") != KEY:
                    self._problem(401, "authentication failed", "the API key is not valid")
                    return False
                return True

            def do_POST(self):
                parts = self.path.split("?")[0].strip("/").split("/")
                body = json.loads(self.body())
                if not self._authorised():
                    return
                if parts[-1] != "execution" or parts[-3] != "processes":
                    return self._problem(404, "process not found")
                dataset = parts[-2]
                if server.licence_missing:
                    base = f"http://{self.headers['Host']}"
                    return self._problem(
                        403,
                        "required licences not accepted",
                        "Not all the required licences have been accepted; please visit "
                        f"{LICENCE_URL.format(base=base, dataset=dataset)} to accept the "
                        "required licence(s).",
                    )
                job_id = str(uuid.uuid4())
                with server.lock:
                    failure, server.fail_next = server.fail_next, None
                    rejected, server.reject_next = server.reject_next, False
                    server.jobs[job_id] = {
                        "polls": 0,
                        "failure": failure,
                        "rejected": rejected,
                        "request": body,
                        "dataset": dataset,
                    }
                    server.submissions.append({"dataset": dataset, **body})
                monitor = f"http://{self.headers['Host']}/api/retrieve/v1/jobs/{job_id}"
                self._reply(
                    201,
                    {
                        "processID": dataset,
                        "jobID": job_id,
                        "status": "accepted",
                        "links": [{"href": monitor, "rel": "monitor"}],
                    },
                    {"Location": monitor},
                )

            def do_HEAD(self):
                self._download(body=False)

            def do_DELETE(self):
                parts = self.path.split("?")[0].strip("/").split("/")
                if not self._authorised():
                    return
                if server.jobs.pop(parts[-1], None) is None:
                    return self._problem(404, "job not found")
                server.dismissed.append(parts[-1])
                self._reply(200, {"jobID": parts[-1], "status": "dismissed"})

            def _download(self, body: bool = True):
                """A job's result, as an object store serves it."""
                job = server.jobs.get(self.path.rsplit("/", 1)[-1].split(".")[0])
                if job is None or server.expired:
                    return self._problem(404, "results expired")
                path = server.result_for(job)
                data = path.read_bytes()
                modified = {"Last-Modified": formatdate(server.started, usegmt=True)}
                start, end = self.send_object_head(data, server.media_type(job)[0], modified)
                if not body:
                    return
                with server.lock:
                    cut, server.cut_downloads = (
                        server.cut_downloads > 0,
                        max(0, server.cut_downloads - 1),
                    )
                if cut:  # the connection drops half-way through the body
                    self.wfile.write(data[start : start + (end - start) // 2])
                    self.close_connection = True
                    return
                self.wfile.write(data[start:end])

            def do_GET(self):
                parts = self.path.split("?")[0].strip("/").split("/")
                if parts[:2] == ["api", "download"]:
                    return self._download()
                if not self._authorised():
                    return
                job = server.jobs.get(parts[4]) if len(parts) > 4 else None
                if job is None:
                    return self._problem(404, "job not found")
                if parts[-1] == "results":
                    return self._results(parts[4], job)
                with server.lock:
                    if server.unavailable_status > 0:
                        server.unavailable_status -= 1
                        return self._problem(503, "service unavailable", "Please try again.")
                    if server.throttle_status > 0:
                        server.throttle_status -= 1
                        return self._problem(
                            429,
                            "rate limit exceeded",
                            "Please wait 1 seconds.",
                            {"Retry-After": "1"},
                        )
                    job["polls"] += 1
                self._reply(
                    200,
                    {
                        "jobID": parts[4],
                        "status": server.state(job),
                        "updated": datetime.now(UTC).isoformat(),
                    },
                )

            def _results(self, job_id: str, job: dict):
                state = server.state(job)
                if state == "failed":
                    title, detail = job["failure"]
                    return self._problem(400, title, detail)
                if state == "rejected":
                    return self._problem(400, "The job has been rejected", "QoS limits reached")
                if state != "successful":
                    return self._problem(404, "job results not ready", f"status is '{state}'")
                kind, ext = server.media_type(job)
                href = f"/api/download/{job_id}.{ext}"  # relative, as the client resolves it
                size = server.result_for(job).stat().st_size
                value = {"type": kind, "href": href, "file:size": size}
                self._reply(200, {"asset": {"value": value}})

        self.started = time.time()
        self.service = LoopbackService(Handler, port)
        self.url = f"{self.service.base}/api"

    def _format(self, job: dict) -> str:
        return job["request"].get("inputs", {}).get("data_format", "grib")

    def result_for(self, job: dict) -> Path:
        return self.results.get(job.get("dataset")) or self.results[self._format(job)]

    def media_type(self, job: dict) -> tuple[str, str]:
        return MEDIA_TYPES[self._format(job)]

    def state(self, job: dict) -> str:
        if job["rejected"]:
            return "rejected"
        if job["polls"] >= self.polls_to_finish:
            return "failed" if job["failure"] else "successful"
        return "accepted" if job["polls"] <= 1 else "running"

    def __enter__(self) -> AdsServer:
        self.service.start()
        return self

    def __exit__(self, *exc) -> None:
        self.service.stop()


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m devkit.ads_standin", description=__doc__)
    p.add_argument(
        "--result",
        action="append",
        required=True,
        metavar="FORMAT=FILE",
        help="the file jobs of a dataset id, or of a data format (grib, netcdf, netcdf_zip), "
        "return; repeatable",
    )
    p.add_argument("--port", type=int, default=18765)
    p.add_argument("--seconds", type=float, default=1800, help="stop after this long")
    args = p.parse_args()
    results = dict(item.split("=", 1) for item in args.result)
    with AdsServer({kind: Path(path) for kind, path in results.items()}, args.port) as server:
        print(f"stand-in ADS at {server.url} (key {KEY})", flush=True)
        time.sleep(args.seconds)


if __name__ == "__main__":
    main()
