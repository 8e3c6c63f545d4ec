"""Thread counts for inference chosen from what the rest of the machine uses (runtime/threads.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from promptyard.runtime import threads
from promptyard.runtime.threads import CpuSample, choose_threads, fixed_threads, others_busy, tuned_threads


@pytest.mark.parametrize(("cpus", "others", "current", "want"), [
    (2, 0.0, None, 2),    # idle: every core, as torch would
    (2, 0.3, None, 2),
    (2, 1.0, None, 1),    # one core taken by another process: one thread
    (2, 0.7, None, 1),
    (2, 5.0, None, 1),    # a crowded machine: never fewer than one
    (4, 1.0, None, 3),
    (1, 0.0, None, 1),
    (2, 0.55, 2, 2),      # near the boundary the count in use stays (no flapping)...
    (2, 0.45, 1, 1),
    (2, 0.2, 1, 2),       # ...and moves once the free share is clearly past it
    (2, 0.8, 2, 1),
    (2, -0.1, None, 2),   # a negative measurement (tick rounding) counts as idle
])
def test_thread_count_from_the_other_processes_load(cpus, others, current, want):
    assert choose_threads(cpus, others, current) == want


def test_other_processes_load_is_busy_time_less_own_cpu_time():
    tick = threads.os.sysconf("SC_CLK_TCK")
    before = CpuSample(wall=10.0, busy_ticks=0, own_cpu=5.0)
    after = CpuSample(wall=12.0, busy_ticks=4 * tick, own_cpu=6.0)  # 4 CPU-seconds busy, 1 of them ours
    assert others_busy(before, after) == pytest.approx(1.5)
    assert others_busy(before, CpuSample(12.0, None, 6.0)) is None  # no /proc/stat: unknown


@pytest.mark.parametrize(("env", "want"), [({}, None), ({"PROMPTYARD_THREADS": "3"}, 3),
                                           ({"OMP_NUM_THREADS": "1"}, 1),
                                           ({"PROMPTYARD_THREADS": "2", "OMP_NUM_THREADS": "1"}, 2),
                                           ({"OMP_NUM_THREADS": "lots"}, None)])
def test_a_thread_count_fixed_by_the_user_is_read_from_the_environment(monkeypatch, env, want):
    monkeypatch.delenv("PROMPTYARD_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert fixed_threads() == want


def test_a_fixed_count_is_kept_and_torch_gets_its_own_count_back(monkeypatch):
    import torch

    original = torch.get_num_threads()
    monkeypatch.setenv("PROMPTYARD_THREADS", "1")
    with tuned_threads() as tuner:
        assert not tuner.enabled
        assert tuner.step() == 1 and torch.get_num_threads() == 1
    assert torch.get_num_threads() == original


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/stat (Linux only)")
def test_a_cpu_bound_process_takes_one_thread_away(monkeypatch):
    import torch

    cpus = threads.usable_cpus()
    if cpus < 2:
        pytest.skip(f"needs at least 2 usable CPUs to give one away (this process may run on {cpus})")
    monkeypatch.delenv("PROMPTYARD_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "_recent", {})  # no earlier cell's sample: this tuner measures from scratch
    original = torch.get_num_threads()
    burner = subprocess.Popen([sys.executable, "-c", "print('busy', flush=True)\nwhile True:\n    pass\n"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert burner.stdout.readline().strip() == "busy"  # it is spinning from here on
        with tuned_threads() as tuner:
            assert tuner.enabled
            chosen = tuner.step()
            # the burner holds at least most of one core; anything else running only lowers the count
            assert 1 <= chosen <= cpus - 1
            assert torch.get_num_threads() == chosen
    finally:
        burner.kill()
        burner.wait()
    assert torch.get_num_threads() == original
