"""Kill a search driver with SIGKILL mid-search, then `tune resume` it: finished trials are not re-run.

The trials run the real training loop (``paced_trainer``: ``loop.train`` with a pause after each report).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from promptyard import Registry
from promptyard.registry.search_records import get_search
from promptyard.testing import invoke
from promptyard.tuning.loop import train
from promptyard.tuning.search import apply_params, experiment_dir
from tests.tuning.run_paced_search import train_spec
from tests.tuning.toydata import write_toy_sentiment

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def _events(log: Path) -> list[dict]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _saved_trials(experiment: Path) -> list[tuple[dict, dict]]:
    """(state, run metadata) of each trial in Tune's latest experiment-state snapshot: what a resume reads."""
    snapshots = sorted(experiment.glob("experiment_state-*.json"))
    if not snapshots:
        return []
    try:
        saved = json.loads(snapshots[-1].read_text())
        return [(json.loads(state), json.loads(meta)) for state, meta in saved["trial_data"]]
    except ValueError:  # read while Tune rewrites it: the next look sees the whole file
        return []


def _recorded(experiment: Path) -> tuple[set[str], set[str]]:
    """Trials the saved state records as finished, and unfinished trials it holds a checkpoint past step 0 of."""
    trials = _saved_trials(experiment)
    finished = {state["trial_id"] for state, _ in trials if state["status"] == "TERMINATED"}
    continuing = {state["trial_id"] for state, meta in trials
                  if state["status"] != "TERMINATED" and (meta.get("last_result") or {}).get("step", 0) > 0}
    return finished, continuing


def test_killed_search_resumes_without_rerunning_finished_trials(tmp_path, monkeypatch, child_env,
                                                                 child_pythonpath, wait_for):
    log = tmp_path / "trials.jsonl"
    data = write_toy_sentiment(tmp_path / "toy.jsonl", n=120)
    search_id = "s-killtest-0001"
    experiment = experiment_dir(search_id)
    with open(tmp_path / "driver.out", "w") as out:
        driver = subprocess.Popen([sys.executable, "-m", "tests.tuning.run_paced_search", search_id, str(log), data],
                                  stdout=out, stderr=subprocess.STDOUT, env=child_env, start_new_session=True)

    def mid_search() -> bool:
        """Tune's saved state has two finished trials and one with a checkpoint to continue from."""
        assert driver.poll() is None, (tmp_path / "driver.out").read_text()[-3000:]
        finished, continuing = _recorded(experiment)
        return len(finished) >= 2 and bool(continuing)

    try:
        wait_for(mid_search, 240, "Tune's saved state to record two finished trials and a checkpointed one")
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait()
        killed_at = time.time()
    finally:
        if driver.poll() is None:
            os.kill(driver.pid, signal.SIGKILL)
            driver.wait()
    before = _events(log)
    assert len(before) < 12, "the search finished before it could be interrupted"
    finished_before = {e["trial"] for e in before if e["event"] == "end"}
    recorded, _ = _recorded(experiment)  # the snapshot the resume starts from
    assert len(recorded) >= 2 and recorded <= finished_before, (recorded, finished_before)
    # Ray's processes die with their driver (its reaper); wait for the trial workers to be gone.
    for pid in {e["pid"] for e in before}:
        try:
            wait_for(lambda pid=pid: not _alive(pid), 20, f"trial worker {pid} to exit after its driver")
        except TimeoutError:  # a worker this test started that outlived its driver: end it by its id
            os.kill(pid, signal.SIGKILL)
    assert get_search(Registry.open(), search_id)["status"] == "running"

    # the resumed trials run in Ray workers that this process starts: they import tests.tuning.paced_trainer
    # and log where the killed ones did
    monkeypatch.setenv("PYTHONPATH", child_pythonpath)
    monkeypatch.setenv("PROMPTYARD_TEST_TRIAL_LOG", str(log))
    result = invoke(["tune", "resume", search_id, "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)

    after = [e for e in _events(log) if e["t"] > killed_at]
    restarts = [e for e in after if e["event"] == "start"]
    assert restarts, "resume ran nothing"
    # Trials Tune had recorded as finished are not run again. A trial that finished after Tune's last
    # state snapshot (taken every second) continues from its latest checkpoint: never from scratch.
    assert not recorded & {e["trial"] for e in restarts}, "a trial recorded as finished was run again"
    assert all(e["step"] > 0 for e in restarts if e["trial"] in finished_before), restarts
    # FIFO stops nothing; a trial restored at its final checkpoint reports no new evaluation, so only
    # "no errors" is asserted here and the metrics below show every trial ran to its end.
    assert len(payload["trials"]) == 6 and all(t["status"] != "error" for t in payload["trials"]), [
        t["error"] for t in payload["trials"]]
    # Trials cut by the kill continued from their checkpoint, not from step 0.
    assert any(e["step"] > 0 for e in after if e["event"] == "start")

    # The final best equals what each trial's parameters give when trained in-process, start to finish.
    expected = {t["trial_id"]: train(apply_params(train_spec(data), t["params"]),
                                     checkpoint_dir=tmp_path / t["trial_id"]).metrics["val_metric"]
                for t in payload["trials"]}
    for t in payload["trials"]:
        assert t["best_metric"] == pytest.approx(expected[t["trial_id"]])
    assert payload["best"]["best_metric"] == pytest.approx(max(expected.values()))

    record = get_search(Registry.open(), search_id)
    assert record["status"] == "finished" and record["resumed"] == 1
    version = Registry.open().resolve_adapter("paced-resumed")
    assert version.lineage["search"]["id"] == search_id
    assert version.lineage["search"]["trial_id"] == payload["best"]["trial_id"]
