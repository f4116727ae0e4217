"""How bench/ml.py measures one step, the same way for mlenv and for Docker: wall seconds, CPU seconds,
peak RSS and the bytes the registry's storage grew by.

Client processes run under a small wrapper whose RUSAGE_CHILDREN gives the CPU of the whole tree it
waited for and its largest process's peak RSS (the wrapper itself is a few MB, so the high-water mark
the kernel carries over an exec does not matter). Docker does its work in the engine, not in the
client: `EngineMeter` adds dockerd's and containerd's CPU (with their reaped children), the CPU of the
build containers (the engine's cpuacct cgroup) and the peak RSS of the engine and of every process in a
container (the engine's VmHWM is reset before the step; containers' are sampled while it runs).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")
CGROUP_V1 = Path("/sys/fs/cgroup")
WRAPPER = """
import json, resource, subprocess, sys
code = subprocess.call(sys.argv[2:], stdin=subprocess.DEVNULL)
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
json.dump({"cpu": usage.ru_utime + usage.ru_stime, "rss_kib": usage.ru_maxrss}, open(sys.argv[1], "w"))
sys.exit(code)
"""


@dataclass
class Step:
    """One measured step: what the table prints for it."""

    wall: float = 0.0
    cpu: float = 0.0
    peak_rss: int = 0  # bytes
    stored: int = 0  # bytes the registry's storage grew by
    uploaded: int = 0  # bytes sent to the registry's port (0 where iptables cannot count them)
    extra: dict = field(default_factory=dict)

    def add(self, other: "Step") -> "Step":
        """Two steps one after the other (docker build, then docker push)."""
        return Step(self.wall + other.wall, self.cpu + other.cpu, max(self.peak_rss, other.peak_rss),
                    self.stored + other.stored, self.uploaded + other.uploaded, {**self.extra, **other.extra})


def stored_bytes(root: Path) -> int:
    """Bytes of blobs the registry holds: the delta around a step is what it really added."""
    return sum(path.stat().st_size for path in Path(root).rglob("data") if path.is_file())


class RegistryGauge:
    """What reached the registry: its storage's size (new blobs only: a blob uploaded again into another
    repository is stored once) and the bytes sent to its port over loopback (an iptables counting rule,
    added on enter and removed on exit; 0 throughout where iptables cannot be used)."""

    def __init__(self, root: Path, port: int) -> None:
        self.root, self.rule = root, ["INPUT", "-i", "lo", "-p", "tcp", "--dport", str(port)]
        self.counting = False

    def __enter__(self) -> "RegistryGauge":
        added = subprocess.run(["iptables", "-w", "-I", *self.rule], capture_output=True) if shutil.which("iptables") else None
        self.counting = bool(added and added.returncode == 0)
        return self

    def __exit__(self, *exc) -> None:
        if self.counting:
            subprocess.run(["iptables", "-w", "-D", *self.rule], capture_output=True)

    def received(self) -> int:
        if not self.counting:
            return 0
        listed = subprocess.run(["iptables", "-w", "-L", "INPUT", "-n", "-v", "-x"], capture_output=True, text=True).stdout
        port = f"dpt:{self.rule[-1]}"
        return sum(int(line.split()[1]) for line in listed.splitlines() if line.split()[-1:] == [port])

    def stored(self) -> int:
        return stored_bytes(self.root)


def run_measured(command: list[str], *, registry: RegistryGauge, env: dict | None = None, cwd: Path | None = None) -> tuple[Step, str]:
    """Run command to its end; its Step and stdout. A failure raises with the tail of its stderr."""
    before, sent = registry.stored(), registry.received()
    with tempfile.NamedTemporaryFile(prefix="bench-usage-", suffix=".json") as usage:
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", WRAPPER, usage.name, *command], capture_output=True, text=True,
                              env=env, cwd=cwd)
        wall = time.perf_counter() - started
        if done.returncode:
            raise RuntimeError(f"{' '.join(command[:3])} … failed ({done.returncode}):\n{done.stderr[-3000:]}")
        figures = json.loads(Path(usage.name).read_text())
    step = Step(wall, figures["cpu"], figures["rss_kib"] * 1024, registry.stored() - before, registry.received() - sent)
    return step, done.stdout


def _pid_of(name: str) -> int | None:
    found = subprocess.run(["pgrep", "-xo", name], capture_output=True, text=True).stdout.split()
    return int(found[0]) if found else None


def _cpu_of(pid: int) -> float:
    """utime + stime + cutime + cstime of pid, in seconds (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(value) for value in fields[11:15]) / TICK


def _hwm_of(pid: int) -> int:
    """VmHWM of pid in bytes (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _container_cpu() -> float:
    """CPU seconds the engine's containers used (cgroup v1 cpuacct charges every ancestor, so the
    parent keeps the figure of containers already removed); 0 where that cgroup is not there."""
    for parent in ("cpuacct/docker", "cpu,cpuacct/docker", "unified/docker"):
        usage = CGROUP_V1 / parent / "cpuacct.usage"
        if usage.exists():
            return int(usage.read_text()) / 1e9
    return 0.0


def _container_pids() -> list[int]:
    pids = []
    for procs in CGROUP_V1.glob("memory/docker/*/cgroup.procs"):
        try:
            pids += [int(pid) for pid in procs.read_text().split()]
        except OSError:
            continue
    return pids


class EngineMeter:
    """Measures what the Docker engine spends during a `with` block (see the module docstring)."""

    def __init__(self) -> None:
        self.engine = [pid for pid in (_pid_of("dockerd"), _pid_of("containerd")) if pid]
        self.step = Step()
        self._stop = threading.Event()

    def __enter__(self) -> "EngineMeter":
        for pid in self.engine:
            try:
                Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := current RSS
            except OSError:
                pass
        self._cpu = sum(_cpu_of(pid) for pid in self.engine) + _container_cpu()
        self._peak = 0
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.3):
            self._peak = max([self._peak, *(_hwm_of(pid) for pid in _container_pids())])

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._sampler.join()
        cpu = sum(_cpu_of(pid) for pid in self.engine) + _container_cpu() - self._cpu
        self.step = Step(cpu=cpu, peak_rss=max([self._peak, *(_hwm_of(pid) for pid in self.engine)]))
