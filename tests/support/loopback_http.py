"""A loopback HTTP server that serves a folder the way a static object store does.

It answers HEAD and GET with Content-Length, ETag and Last-Modified, honours single byte ranges
(206 + Content-Range) and If-Match (412), records every request, and can cut a body short.
"""

from __future__ import annotations

import hashlib
import threading
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class MirrorServer:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.requests: list[tuple[str, str, str | None]] = []
        self.cut_short: set[str] = set()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_HEAD(self):
                self._serve(body=False)

            def do_GET(self):
                self._serve(body=True)

            def _serve(self, body: bool):
                rel = self.path.split("?", 1)[0].lstrip("/")
                server.requests.append((self.command, rel, self.headers.get("Range")))
                path = server.root / rel
                if not path.is_file():
                    self.send_error(404)
                    return
                stat = path.stat()
                etag = (
                    '"'
                    + hashlib.md5(f"{stat.st_mtime_ns}-{stat.st_size}".encode()).hexdigest()
                    + '"'
                )
                if self.headers.get("If-Match") not in (None, "*", etag):
                    self.send_error(412)
                    return
                start, end, status = 0, stat.st_size, 200
                wanted = self.headers.get("Range")
                if wanted and wanted.startswith("bytes="):
                    first, _, last = wanted[6:].partition("-")
                    start, end, status = int(first), min(int(last) + 1, stat.st_size), 206
                self.send_response(status)
                self.send_header("Content-Length", str(end - start))
                self.send_header("ETag", etag)
                self.send_header("Last-Modified", formatdate(stat.st_mtime, usegmt=True))
                self.send_header("Accept-Ranges", "bytes")
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{end - 1}/{stat.st_size}")
                self.end_headers()
                if not body:
                    return
                with open(path, "rb") as fh:
                    fh.seek(start)
                    data = fh.read(end - start)
                if rel in server.cut_short:
                    data = data[: len(data) // 2]
                    self.close_connection = True
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> MirrorServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
