"""A stand-in NASA Harmony and Earthdata Login on loopback, speaking what harmony-py and the
EDL token API do, serving real TEMPO files. Used by the tests and `make demo`:
`python -m devkit.harmony_standin --file samples/tempo_vcd_troposphere_utm11_clipped.tif`.

Harmony: POST (or GET) `/{collection}/ogc-api-coverages/1.0.0/collections/{variable}/coverage/
rangeset` answers 303 to the data when it runs the request at once (one output, no
`forceAsync`), or 303 to `/jobs/{id}`, whose JSON lists the outputs as `rel=data` links once
the job has succeeded (paged by `rel=next`). Outputs are under `/service-results/...`, which
needs the token and answers 307 to a presigned object on a second port (the "bucket"), which
refuses any Authorization header, as S3 does. Errors are Harmony's JSON.

EDL: `GET /api/users/tokens`, `POST /api/users/token`, `POST /api/users/revoke_token`, HTTP
Basic (user `gridflow`, password `earthdata-test-password`); tokens last 60 days, at most two.
"""

from __future__ import annotations

import argparse
import base64
import email
import secrets
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from devkit.loopback_service import LoopbackService, QuietHandler

USER, PASSWORD = "gridflow", "earthdata-test-password"
MAX_TOKENS = 2
MEDIA = {".tif": "image/tiff", ".nc4": "application/netcdf", ".nc": "application/netcdf"}


def _form(handler) -> dict[str, list[str]]:
    """The request's parameters: query string, urlencoded or multipart form."""
    fields = parse_qs(urlsplit(handler.path).query)
    kind = handler.headers.get("Content-Type", "")
    data = handler.body() if handler.command == "POST" else b""
    if kind.startswith("multipart/form-data"):
        message = email.message_from_bytes(f"Content-Type: {kind}\r\n\r\n".encode() + data)
        for part in message.get_payload():
            name = part.get_param("name", header="content-disposition")
            fields.setdefault(name, []).append(part.get_payload(decode=True).decode())
    elif data:
        for name, values in parse_qs(data.decode()).items():
            fields.setdefault(name, []).extend(values)
    return fields


class HarmonyServer:
    def __init__(self, files: list[Path], port: int = 0):
        """`files`: what every request returns (one file: a synchronous reply is possible)."""
        self.files = [Path(f) for f in files]
        self.mode = "auto"  # auto (sync for one file), async, inline (200 with the data)
        self.polls_to_finish = 2
        self.page_size = 2000
        self.fail_next: str | None = None
        self.throttle_next = 0  # rangeset requests answered 429 first
        self.unsupported_format: str | None = None  # asking for it gives Harmony's 422
        self.tokens: dict[str, datetime] = {}  # valid tokens of the user, by expiry
        self.submissions: list[dict] = []
        self.token_requests: list[str] = []  # EDL calls made, by kind
        self.cancelled: list[str] = []
        self.jobs: dict[str, dict] = {}
        self.lock = threading.Lock()
        self.bucket = LoopbackService(self._bucket_handler())
        self.service = LoopbackService(self._handler(), port)
        self.url = self.service.base

    # -- tokens ---------------------------------------------------------------------------------
    def new_token(self, days: float = 60) -> str:
        token = secrets.token_urlsafe(24)
        self.tokens[token] = datetime.now(UTC) + timedelta(days=days)
        return token

    def expire_tokens(self) -> None:
        """Every token of the user stops working (as on its expiry date)."""
        self.tokens = {t: datetime.now(UTC) - timedelta(days=1) for t in self.tokens}

    def _valid(self, handler) -> bool:
        given = handler.headers.get("Authorization", "")
        token = given.removeprefix("Bearer ")
        return given.startswith("Bearer ") and self.tokens.get(
            token, datetime.min.replace(tzinfo=UTC)
        ) > datetime.now(UTC)

    # -- jobs -----------------------------------------------------------------------------------
    def _state(self, job: dict) -> str:
        if job["cancelled"]:
            return "canceled"
        if job["polls"] >= self.polls_to_finish:
            return "failed" if job["failure"] else "successful"
        return "accepted" if job["polls"] <= 1 else "running"

    def _outputs(self, job_id: str) -> list[dict]:
        return [
            {
                "href": f"{self.url}/service-results/harmony-prod-staging/public/{job_id}/"
                f"{n + 1}/{path.name}",
                "title": path.name,
                "type": MEDIA.get(path.suffix, "application/octet-stream"),
                "rel": "data",
            }
            for n, path in enumerate(self.files)
        ]

    def _job_json(self, job_id: str, page: int) -> dict:
        job = self.jobs[job_id]
        state = self._state(job)
        links = [{"href": f"{self.url}/jobs/{job_id}", "rel": "self", "title": "Job Status"}]
        if state == "successful":
            outputs = self._outputs(job_id)
            first = (page - 1) * self.page_size
            links += outputs[first : first + self.page_size]
            if first + self.page_size < len(outputs):
                links.append({"href": f"{self.url}/jobs/{job_id}?page={page + 1}", "rel": "next"})
        messages = {
            "accepted": "The job has been accepted and is waiting to be processed",
            "running": "The job is being processed",
            "successful": "The job has completed successfully",
            "failed": job["failure"] or "",
            "canceled": "Canceled by user.",
        }
        body = {
            "username": USER,
            "status": state,
            "message": messages[state],
            "progress": 100 if state == "successful" else 40,
            "createdAt": job["created"],
            "updatedAt": datetime.now(UTC).isoformat(),
            "links": links,
            "request": job["request"],
            "jobID": job_id,
        }
        if state == "failed":
            body["errors"] = [{"url": "granule TEMPO_NO2_L3", "message": job["failure"]}]
        return body

    # -- handlers -------------------------------------------------------------------------------
    def _bucket_handler(self):
        server = self

        class Bucket(QuietHandler):
            def do_HEAD(self):
                self._object(body=False)

            def do_GET(self):
                self._object()

            def _object(self, body: bool = True):
                if self.headers.get("Authorization"):
                    return self.reply_json(
                        400,
                        {
                            "Code": "InvalidArgument",
                            "Message": "Only one auth mechanism "
                            "allowed; only the X-Amz-Algorithm query parameter...",
                        },
                    )
                name = unquote(urlsplit(self.path).path).rsplit("/", 1)[-1]
                found = [f for f in server.files if f.name == name]
                if not found:
                    return self.reply_json(404, {"Code": "NoSuchKey"})
                data = found[0].read_bytes()
                kind = MEDIA.get(found[0].suffix, "application/x")
                start, end = self.send_object_head(data, kind)
                if body:
                    self.wfile.write(data[start:end])

        return Bucket

    def _handler(self):
        server = self

        class Handler(QuietHandler):
            def _harmony_error(self, status: int, kind: str, text: str):
                self.reply_json(
                    status, {"code": f"harmony.{kind}", "description": f"Error: {text}"}
                )

            def _basic(self) -> bool:
                given = self.headers.get("Authorization", "")
                expected = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
                if given != f"Basic {expected}":
                    self.reply_json(
                        401,
                        {
                            "error": "invalid_credentials",
                            "error_description": "Invalid user credentials",
                        },
                    )
                    return False
                return True

            def do_GET(self):
                path = urlsplit(self.path).path
                if path == "/api/users/tokens":
                    if not self._basic():
                        return
                    server.token_requests.append("list")
                    listed = [
                        {"access_token": t, "expiration_date": f"{e:%m/%d/%Y}"}
                        for t, e in server.tokens.items()
                    ]
                    return self.reply_json(200, listed)
                if not server._valid(self):
                    return self._harmony_error(
                        401,
                        "UnauthorizedError",
                        "You are not authorized to access the requested resource",
                    )
                if "/ogc-api-coverages/" in path:
                    return self._rangeset(path)
                parts = path.strip("/").split("/")
                if parts[0] == "jobs" and len(parts) == 2 and parts[1] in server.jobs:
                    page = int(parse_qs(urlsplit(self.path).query).get("page", ["1"])[0])
                    with server.lock:
                        server.jobs[parts[1]]["polls"] += 1
                    return self.reply_json(200, server._job_json(parts[1], page))
                if parts[0] == "service-results":
                    name = parts[-1]
                    return self.redirect(
                        307,
                        f"{server.bucket.base}/harmony-prod-staging/{parts[-3]}/{name}"
                        "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=standin",
                    )
                return self._harmony_error(404, "NotFoundError", f"{path} was not found")

            def do_HEAD(self):
                if urlsplit(self.path).path.startswith("/service-results/"):
                    return self.do_GET()
                self.send_response(405)
                self.end_headers()

            def do_POST(self):
                path = urlsplit(self.path).path
                if path == "/api/users/token":
                    if not self._basic():
                        return
                    server.token_requests.append("create")
                    live = [t for t, e in server.tokens.items() if e > datetime.now(UTC)]
                    if len(live) >= MAX_TOKENS:
                        return self.reply_json(
                            403,
                            {
                                "error": "max_token_limit",
                                "error_description": "You may only have 2 valid tokens at a time",
                            },
                        )
                    token = server.new_token()
                    when = server.tokens[token]
                    return self.reply_json(
                        200,
                        {
                            "access_token": token,
                            "token_type": "Bearer",
                            "expiration_date": f"{when:%m/%d/%Y}",
                        },
                    )
                if path == "/api/users/revoke_token":
                    if not self._basic():
                        return
                    server.token_requests.append("revoke")
                    token = parse_qs(urlsplit(self.path).query).get("token", [""])[0]
                    server.tokens.pop(token, None)
                    return self.reply_json(200, {})
                if not server._valid(self):
                    return self._harmony_error(
                        401,
                        "UnauthorizedError",
                        "You are not authorized to access the requested resource",
                    )
                parts = path.strip("/").split("/")
                if parts[0] == "jobs" and parts[-1] == "cancel" and parts[1] in server.jobs:
                    server.jobs[parts[1]]["cancelled"] = True
                    server.cancelled.append(parts[1])
                    return self.redirect(303, f"/jobs/{parts[1]}")
                if "/ogc-api-coverages/" in path:
                    return self._rangeset(path)
                return self._harmony_error(404, "NotFoundError", f"{path} was not found")

            def _rangeset(self, path: str):
                form = _form(self)
                collection = path.strip("/").split("/")[0]
                with server.lock:
                    if server.throttle_next > 0:
                        server.throttle_next -= 1
                        self.send_response(429)
                        self.send_header("Retry-After", "1")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                wanted = form.get("format", [""])[0]
                if wanted and wanted == server.unsupported_format:
                    return self._harmony_error(
                        422,
                        "UnsupportedOperation",
                        f"the requested combination of operations: reformatting to {wanted} "
                        f"on {collection} is unsupported",
                    )
                server.submissions.append({"collection": collection, **form})
                job_id = str(uuid.uuid4())
                with server.lock:
                    failure, server.fail_next = server.fail_next, None
                    server.jobs[job_id] = {
                        "polls": 0,
                        "failure": failure,
                        "cancelled": False,
                        "created": datetime.now(UTC).isoformat(),
                        "request": f"{server.url}{self.path}",
                    }
                forced = form.get("forceAsync", ["false"])[0] == "true"
                one = len(server.files) == 1 and not failure
                if server.mode == "inline" and one and not forced:
                    data = server.files[0].read_bytes()
                    self.send_response(200)
                    self.send_header("Content-Type", MEDIA.get(server.files[0].suffix, "x"))
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                if server.mode == "auto" and one and not forced:
                    server.jobs[job_id]["polls"] = server.polls_to_finish
                    return self.redirect(303, server._outputs(job_id)[0]["href"])
                return self.redirect(303, f"/jobs/{job_id}")

        return Handler

    def __enter__(self) -> HarmonyServer:
        self.bucket.start()
        self.service.start()
        return self

    def __exit__(self, *exc) -> None:
        self.service.stop()
        self.bucket.stop()


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m devkit.harmony_standin", description=__doc__)
    p.add_argument("--file", action="append", required=True, help="what every job returns")
    p.add_argument("--port", type=int, default=18766)
    p.add_argument("--seconds", type=float, default=1800, help="stop after this long")
    args = p.parse_args()
    with HarmonyServer([Path(f) for f in args.file], args.port) as server:
        print(f"stand-in Harmony and Earthdata Login at {server.url}", flush=True)
        time.sleep(args.seconds)


if __name__ == "__main__":
    main()
