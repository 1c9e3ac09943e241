"""A fault-injecting HTTP proxy on loopback, in front of a mirror (the demo mirror's HTTP server,
or the S3 server's path-style API): it forwards each request upstream and, as its fault plan
says, answers instead with what misbehaving networks and object stores do.

Faults (each a name the plan uses):
  5xx        503 Service Unavailable
  429        429 Too Many Requests with Retry-After: 1
  reset      the connection reset (RST) before any answer
  short      the upstream answer with its body cut in half
  stall      no answer for `stall_seconds` (past the client's timeout), then the real one
  404, 403   the object is not there (not published yet; S3's 403 for an unlisted key)
  no_range   a Range header ignored: 200 with the whole body
  bad_range  206 with other bytes than asked (the Content-Range says which)

A plan is either a burst (each object's first `burst` requests that the fault fits get it) or
seeded random faults (each request faulted with probability `rate`, at most `in_a_row` faults
in a row for one object, so bounded retries always get through). Listings (S3 `?list-type`) are
never answered 404/403: only objects are "not published yet".

    python -m devkit.fault_proxy --upstream http://127.0.0.1:9000 --port 18770 --random 0.3
"""

from __future__ import annotations

import argparse
import http.client
import random
import socket
import struct
import threading
import time
from collections import Counter
from urllib.parse import urlsplit

from devkit.loopback_service import LoopbackService, QuietHandler

FAULTS = ("5xx", "429", "reset", "short", "stall", "404", "403", "no_range", "bad_range")
RANGE_FAULTS = {"no_range", "bad_range"}  # only where a Range was asked for
MISSING_FAULTS = {"404", "403"}  # only for objects, not listings
PASSED_HEADERS = ("Range", "If-Match", "If-None-Match", "Authorization", "Content-Type")


class FaultPlan:
    """Which fault, if any, a request gets."""

    def __init__(
        self,
        kinds: tuple[str, ...] = FAULTS,
        burst: int = 0,
        rate: float = 0.0,
        in_a_row: int = 2,
        seed: int = 0,
    ):
        unknown = set(kinds) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown faults {sorted(unknown)}; known: {', '.join(FAULTS)}")
        self.kinds, self.burst, self.rate, self.in_a_row = kinds, burst, rate, in_a_row
        self.random = random.Random(seed)
        self.seen: Counter = Counter()  # requests per object
        self.eligible: Counter = Counter()  # of those, the ones a chosen fault can apply to
        self.row: Counter = Counter()  # faults in a row per object
        self.lock = threading.Lock()

    def choose(self, method: str, path: str, ranged: bool) -> str | None:
        listing = "list-type=" in path or path.endswith("/")
        fits = [
            k
            for k in self.kinds
            if (ranged or k not in RANGE_FAULTS)
            and not (listing and k in MISSING_FAULTS)
            and not (method == "HEAD" and k in {"short", "no_range", "bad_range"})
        ]
        with self.lock:
            self.seen[path] += 1
            if not fits:
                return None
            self.eligible[path] += 1
            if self.burst:
                return fits[0] if self.eligible[path] <= self.burst else None
            if self.row[path] >= self.in_a_row or self.random.random() >= self.rate:
                self.row[path] = 0
                return None
            self.row[path] += 1
            return self.random.choice(fits)


class FaultProxy(LoopbackService):
    def __init__(self, upstream: str, plan: FaultPlan, stall_seconds: float = 3.0, port: int = 0):
        target = urlsplit(upstream)
        proxy = self
        self.plan, self.stall_seconds = plan, stall_seconds
        self.injected: Counter = Counter()  # faults answered, by name
        self.forwarded = 0  # requests that reached upstream
        self.starts: list[float] = []  # when each request arrived (rate-limit checks)

        class Handler(QuietHandler):
            protocol_version = "HTTP/1.1"

            def do_HEAD(self):
                self._answer()

            def do_GET(self):
                self._answer()

            def _answer(self):
                proxy.starts.append(time.monotonic())
                ranged = bool(self.headers.get("Range"))
                fault = proxy.plan.choose(self.command, self.path, ranged)
                if fault:
                    proxy.injected[fault] += 1
                    self.close_connection = True  # a faulty answer ends its connection
                if fault in ("5xx", "429", "404", "403"):
                    status = {"5xx": 503, "429": 429, "404": 404, "403": 403}[fault]
                    headers = {"Retry-After": "1"} if fault == "429" else {}
                    self.reply_json(status, {"fault": fault}, headers)
                    return
                if fault == "reset":
                    linger = struct.pack("ii", 1, 0)  # close with RST, not FIN
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
                    self.close_connection = True
                    return
                if fault == "stall":
                    time.sleep(proxy.stall_seconds)
                headers = {h: self.headers[h] for h in PASSED_HEADERS if self.headers.get(h)}
                if fault == "no_range":
                    headers.pop("Range")
                elif fault == "bad_range":
                    first, _, last = self.headers["Range"][6:].partition("-")
                    headers["Range"] = f"bytes={int(first) + 1}-{int(last) + 1}"
                status, reply_headers, body = proxy.forward(self.command, self.path, headers)
                self.send_response(status)
                for name, value in reply_headers:
                    if name.lower() not in ("connection", "transfer-encoding", "keep-alive"):
                        self.send_header(name, value)
                self.end_headers()
                if self.command == "HEAD":
                    return
                if fault == "short":
                    self.wfile.write(body[: len(body) // 2])
                    self.close_connection = True
                    return
                self.wfile.write(body)

        super().__init__(Handler, port)
        self.target = (target.hostname, target.port)

    def forward(self, method: str, path: str, headers: dict):
        self.forwarded += 1
        conn = http.client.HTTPConnection(*self.target, timeout=60)
        try:
            conn.request(method, path, headers=headers)
            response = conn.getresponse()
            body = response.read()
            kept = [(k, v) for k, v in response.getheaders() if k.lower() != "content-length"]
            length = response.getheader("Content-Length") if method == "HEAD" else len(body)
            return response.status, [*kept, ("Content-Length", str(length or 0))], body
        finally:
            conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", required=True, help="the mirror's base URL")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--faults", default=",".join(FAULTS), help="which faults, comma-separated")
    parser.add_argument("--burst", type=int, default=0, help="fault each object's first N requests")
    parser.add_argument("--random", type=float, default=0.0, help="fault this share at random")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stall-seconds", type=float, default=3.0)
    args = parser.parse_args()
    plan = FaultPlan(tuple(args.faults.split(",")), args.burst, args.random, seed=args.seed)
    proxy = FaultProxy(args.upstream, plan, args.stall_seconds, args.port)
    print(f"fault proxy on {proxy.base} in front of {args.upstream}", flush=True)
    proxy.httpd.serve_forever()


if __name__ == "__main__":
    main()
