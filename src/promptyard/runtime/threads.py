"""CPU threads for inference on a machine that other processes share.

torch runs each operator on ``torch.get_num_threads()`` OpenMP threads (one per core by default), and
every operator ends in a barrier. When another CPU-bound process holds one of the cores, the thread
that shares its core with it is descheduled for whole time slices while the others wait at the
barrier, spinning (libgomp spins before it sleeps, and by default for long). A forward pass of a small
model is hundreds of short operators, so the evaluation slows several-fold while a single thread would
have run at its full rate on the free core. Measured on the 2-core build machine (bench/README.md).

:class:`ThreadTuner` picks the thread count before each chunk of inference from what the rest of the
machine used during the previous one: the busy time of the CPUs this process may run on
(``/proc/stat``, limited to ``os.sched_getaffinity``) less this process's own CPU time. With every
core free it uses them all, as torch would; with a core taken by someone else it uses one thread
fewer. A count fixed by the user (``PROMPTYARD_THREADS``, or ``OMP_NUM_THREADS``) is kept as given.

:func:`prefer_passive_wait` sets ``OMP_WAIT_POLICY=PASSIVE`` (idle OpenMP threads sleep instead of
spinning) for a process that has not loaded torch yet; libgomp reads it once, when it is loaded.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

#: shortest interval whose /proc/stat counts (10 ms ticks) say anything about the machine
MIN_INTERVAL_S = 0.2
#: how long the first measurement waits when there is no earlier interval to look at
FIRST_SAMPLE_S = 0.1
#: the other processes' load (in CPUs) must move this far past a boundary before the count changes
HYSTERESIS = 0.15
#: a sample this recent (from an earlier cell) starts the next tuner's first interval: no waiting
REUSE_SAMPLE_S = 10.0

_recent: dict[str, Any] = {}  # this process's latest sample and the count chosen then, for the next tuner


def usable_cpus() -> int:
    """The number of CPUs this process may run on (its affinity mask, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def fixed_threads() -> int | None:
    """A thread count the user fixed: ``PROMPTYARD_THREADS``, else ``OMP_NUM_THREADS``; None if neither."""
    for name in ("PROMPTYARD_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(name, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    return None


def choose_threads(cpus: int, others_busy: float, current: int | None = None) -> int:
    """Threads for inference: the CPUs left free by the other processes, rounded, at least one.

    ``others_busy`` is how many CPUs' worth the rest of the machine used. ``current`` (the count in
    use) adds hysteresis: the count changes only when the free share is clearly past the boundary.
    """
    free = cpus - max(0.0, others_busy)
    wanted = int(free + 0.5)
    if current is not None and wanted != current:
        boundary = (min(wanted, current) + max(wanted, current)) / 2
        if abs(free - boundary) < HYSTERESIS:
            wanted = current
    return max(1, min(cpus, wanted))


@dataclass(frozen=True)
class CpuSample:
    wall: float
    busy_ticks: int | None  # busy jiffies of the usable CPUs; None where /proc/stat cannot be read
    own_cpu: float  # this process's user + system seconds


def _busy_ticks(cpus: set[int]) -> int | None:
    try:
        with open("/proc/stat", encoding="ascii") as f:
            lines = f.readlines()
    except OSError:
        return None
    total = 0
    seen = 0
    for line in lines:
        if not line.startswith("cpu") or line[3] == " ":
            continue
        name, *fields = line.split()
        if int(name[3:]) not in cpus:
            continue
        values = [int(x) for x in fields]
        # user nice system idle iowait irq softirq steal ...: busy = all but idle and iowait
        total += sum(values[:8]) - values[3] - values[4]
        seen += 1
    return total if seen else None


def sample(cpus: set[int] | None = None) -> CpuSample:
    if cpus is None:
        cpus = _affinity()
    times = os.times()
    return CpuSample(time.monotonic(), _busy_ticks(cpus), times.user + times.system)


def others_busy(before: CpuSample, after: CpuSample) -> float | None:
    """CPUs' worth of work done by other processes between two samples; None where it is not known."""
    wall = after.wall - before.wall
    if before.busy_ticks is None or after.busy_ticks is None or wall <= 0:
        return None
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    busy = (after.busy_ticks - before.busy_ticks) / tick
    own = after.own_cpu - before.own_cpu
    return max(0.0, (busy - own) / wall)


def _affinity() -> set[int]:
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return set(range(os.cpu_count() or 1))


class ThreadTuner:
    """Sets torch's thread count before each chunk of inference; :meth:`restore` puts the old one back."""

    def __init__(self) -> None:
        import torch

        self._torch = torch
        self.cpus = usable_cpus()
        self.fixed = fixed_threads()
        self.original = torch.get_num_threads()
        self.current = self.original
        self.history: list[int] = []
        self._cpu_set = _affinity()
        self._last: CpuSample | None = None
        self._inherited: int | None = None
        if _recent and time.monotonic() - _recent["sample"].wall < REUSE_SAMPLE_S:
            self._last, self._inherited = _recent["sample"], _recent["threads"]
        self.enabled = self.fixed is None and self.cpus > 1 and sys.platform.startswith("linux")

    def step(self) -> int:
        """Measure the interval since the last step (the first one samples briefly) and set the count."""
        if not self.enabled:
            if self.fixed is not None and self.current != self.fixed:
                self._set(self.fixed)
            return self.current
        now = sample(self._cpu_set)
        before = self._last
        if before is None:
            time.sleep(FIRST_SAMPLE_S)
            before, now = now, sample(self._cpu_set)
        elif now.wall - before.wall < MIN_INTERVAL_S:  # too short to tell: keep the count (or the last cell's)
            if self._inherited is not None:
                self._set(self._inherited)
                self._inherited = None
            return self.current
        self._inherited = None
        self._last = now
        load = others_busy(before, now)
        if load is not None:
            self._set(choose_threads(self.cpus, load, self.current))
        _recent.update(sample=now, threads=self.current)
        self.history.append(self.current)
        return self.current

    def _set(self, n: int) -> None:
        if n != self._torch.get_num_threads():
            self._torch.set_num_threads(n)
        self.current = n

    def restore(self) -> None:
        if self._torch.get_num_threads() != self.original:
            self._torch.set_num_threads(self.original)


@contextlib.contextmanager
def tuned_threads() -> Iterator[ThreadTuner]:
    """A :class:`ThreadTuner` for the block; torch's thread count is restored when it ends."""
    tuner = ThreadTuner()
    try:
        yield tuner
    finally:
        tuner.restore()


def prefer_passive_wait() -> None:
    """``OMP_WAIT_POLICY=PASSIVE`` unless the user chose a policy, for a process that has not loaded torch.

    Idle OpenMP threads then sleep at once instead of spinning for milliseconds, so they do not take
    CPU time from the thread they wait for when the machine is shared. Too late once torch is loaded
    (libgomp reads its settings once), so it does nothing then.
    """
    if "torch" in sys.modules:
        return
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
