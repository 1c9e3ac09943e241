"""A real single-node SLURM cluster for the tests: munged, slurmctld and slurmd from Debian's
packages, started as root, on this host, with no accounting database.

SLURM reads /etc/slurm/slurm.conf (its job steps ignore SLURM_CONF), so the file is written
there; one that gridflow did not write is never overwritten.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

CONF = Path("/etc/slurm/slurm.conf")
MARK = "# written by gridflow's tests"


def _conf(home: Path, host: str, cpus: int, memory_mb: int) -> str:
    return f"""{MARK}
ClusterName=gridflowtest
SlurmctldHost={host}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# no slurmdbd: finished jobs must stay visible to squeue while Snakemake polls
MinJobAge=600
DefMemPerCPU=1000
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
StateSaveLocation={home}/state
SlurmdSpoolDir={home}/spool
SlurmctldPidFile={home}/slurmctld.pid
SlurmdPidFile={home}/slurmd.pid
SlurmctldLogFile={home}/slurmctld.log
SlurmdLogFile={home}/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory_mb} State=UNKNOWN
PartitionName=main Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


class SlurmCluster:
    def __init__(self):
        self.home = Path(tempfile.mkdtemp(prefix="gridflow-slurm-"))
        self.procs: list[subprocess.Popen] = []
        self.started_munge = False
        self.host = socket.gethostname().split(".")[0]

    def start(self, timeout: float = 60) -> SlurmCluster:
        if CONF.exists() and MARK not in CONF.read_text():
            raise RuntimeError(f"{CONF} exists and is not gridflow's: not starting a test cluster")
        for sub in ("state", "spool"):
            (self.home / sub).mkdir()
        memory_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20 // 2
        CONF.parent.mkdir(parents=True, exist_ok=True)
        CONF.write_text(_conf(self.home, self.host, os.cpu_count() or 2, memory_mb))
        run_dir = Path("/run/munge")
        run_dir.mkdir(parents=True, exist_ok=True)
        shutil.chown(run_dir, "munge", "munge")
        if subprocess.run(["munge", "-n"], capture_output=True).returncode != 0:
            subprocess.run(["runuser", "-u", "munge", "--", "/usr/sbin/munged"], check=True)
            self.started_munge = True
        for daemon in ("slurmctld", "slurmd"):
            self.procs.append(
                subprocess.Popen(
                    [f"/usr/sbin/{daemon}", "-D"],
                    stdout=subprocess.DEVNULL,
                    stderr=(self.home / f"{daemon}.err").open("wb"),
                    start_new_session=True,
                )
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = subprocess.run(
                ["sinfo", "-h", "-o", "%T"], capture_output=True, text=True
            ).stdout.strip()
            if state in ("idle", "mixed"):
                return self
            time.sleep(0.5)
        raise RuntimeError(f"SLURM node not idle after {timeout} s: {self.logs()}")

    def logs(self) -> str:
        return "\n".join(
            f"== {p.name}\n{p.read_text()[-1500:]}"
            for p in sorted(self.home.glob("*.log")) + sorted(self.home.glob("*.err"))
        )

    def stop(self) -> None:
        subprocess.run(["scancel", "--full", "--user", "root"], capture_output=True)
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        if self.started_munge:
            subprocess.run(["pkill", "-x", "munged"], capture_output=True)
        shutil.rmtree(self.home, ignore_errors=True)


if __name__ == "__main__":
    # a cluster for several test sessions at once: they find it answering and use it
    cluster = SlurmCluster().start()
    print(f"SLURM test cluster up ({cluster.home}); Ctrl-C stops it", flush=True)
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        cluster.stop()
