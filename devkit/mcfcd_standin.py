"""A stand-in for MCFCD's web server (alert.fcd.maricopa.gov) on loopback: the real sample
files at their real URLs (`/alert/Rain/pcp_WY_2023.xlsx`, `/alert/Rain/pcp1119.pdf`,
`/alert/Rain/FOPR/59700_FOPR.xlsx`, `/php/showdata4.php?ID=59700&NM=1000`), 404 for what it
does not have, and a log of when each request came (the tests check the 2 s spacing). Used by
the tests and `make demo`: `python -m devkit.mcfcd_standin --samples samples`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from devkit.loopback_service import LoopbackService, QuietHandler

KINDS = {
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".pdf": "application/pdf",
    ".html": "text/html",
}


def sample_files(samples: Path) -> dict[str, Path]:
    """The real samples under the URLs MCFCD serves them at."""
    return {
        "/alert/Rain/pcp_WY_2023.xlsx": samples / "pcp_WY_2023.xlsx",
        "/alert/Rain/pcp1119.pdf": samples / "pcp1119.pdf",
        "/alert/Rain/FOPR/59700_FOPR.xlsx": samples / "59700_FOPR.xlsx",
        "/php/showdata4.php?ID=59700": samples
        / "fcdmc_alert_showdata_59700_AztecPark_2025-10-14.html",
    }


class McfcdServer:
    def __init__(self, files: dict[str, Path], port: int = 0):
        self.files = dict(files)
        self.failing: set[str] = set()  # paths answered 500
        self.requests: list[tuple[float, str, str]] = []  # (time, method, path)
        server = self

        class Handler(QuietHandler):
            def do_HEAD(self):
                self._serve(body=False)

            def do_GET(self):
                self._serve()

            def _serve(self, body: bool = True):
                parts = urlsplit(self.path)
                server.requests.append((time.time(), self.command, self.path))
                path = parts.path
                if path == "/php/showdata4.php":  # the page is chosen by its ID
                    path += "?ID=" + parse_qs(parts.query).get("ID", [""])[0]
                if path in server.failing:
                    return self.reply_json(500, {"error": "Internal Server Error"})
                found = server.files.get(path)
                if found is None:
                    self.send_response(404)
                    self.send_header("Content-Type", "text/html")
                    self.send_header("Content-Length", "22")
                    self.end_headers()
                    if body:
                        self.wfile.write(b"<h1>Not Found</h1>\r\n\r\n")
                    return
                data = found.read_bytes()
                self.send_response(200)
                self.send_header(
                    "Content-Type", KINDS.get(found.suffix, "application/octet-stream")
                )
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if body:
                    self.wfile.write(data)

        self.service = LoopbackService(Handler, port)
        self.url = self.service.base

    def __enter__(self) -> McfcdServer:
        self.service.start()
        return self

    def __exit__(self, *exc) -> None:
        self.service.stop()


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m devkit.mcfcd_standin", description=__doc__)
    p.add_argument("--samples", default="samples")
    p.add_argument("--port", type=int, default=18767)
    p.add_argument("--seconds", type=float, default=1800, help="stop after this long")
    args = p.parse_args()
    with McfcdServer(sample_files(Path(args.samples)), args.port) as server:
        print(f"stand-in MCFCD at {server.url}", flush=True)
        time.sleep(args.seconds)


if __name__ == "__main__":
    main()
