"""SIGKILL during adapter registration, 20 times: never a partial record; every stored hash matches."""

from __future__ import annotations

import random
import signal
import subprocess
import sys

import pytest

from promptyard.registry.store import ArtifactStore


@pytest.fixture
def tiny_adapter(tmp_path):
    """A real (untrained) LoRA adapter of the tiny causal model, saved as safetensors."""
    import warnings

    from peft import LoraConfig, get_peft_model

    from promptyard.core.lookups import load_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = get_peft_model(load_model("tiny-causal").model, LoraConfig(task_type="CAUSAL_LM", r=4))
    folder = tmp_path / "adapter"
    model.save_pretrained(folder, safe_serialization=True)
    return folder


@pytest.mark.slow
def test_sigkill_while_registering_leaves_no_partial_record(tmp_path, tiny_adapter, child_env, wait_for):
    from promptyard.registry.api import Registry

    registry = Registry.open(create=True)
    store = ArtifactStore(registry.artifacts_dir)
    rng = random.Random(0)
    reported, leftovers = 0, []
    for attempt in range(20):
        work = tmp_path / f"work-{attempt}"
        work.mkdir()
        child = subprocess.Popen([sys.executable, "-m", "tests.registry.register_loop", str(registry.path),
                                  str(tiny_adapter), str(work)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 env=child_env, text=True)
        assert child.stdout.readline().strip() == "ready"
        child.stdin.write("go\n")
        child.stdin.flush()
        for _ in range(rng.randint(1, 3)):  # registrations that complete before this kill
            assert child.stdout.readline().startswith("registered"), "the child died"
            reported += 1
        # Where the kill lands: every other time while a registration's copy is in the store's temp folder
        # (mid-registration); otherwise just after a registration was recorded, as the next one begins.
        if attempt % 2:
            earlier = set(store.leftovers())
            wait_for(lambda earlier=earlier: set(store.leftovers()) - earlier, 60,
                     "a registration to be copying into the store", interval=0.001)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        assert child.returncode == -signal.SIGKILL

        with Registry.open(registry.path) as reg:
            report = reg.check_integrity()
            assert report["versions"] == [] and report["mismatched"] == [] and report["missing"] == [], report
            names = [item.name for item in reg.list(kind="adapter")]
            versions = reg.versions("killed", kind="adapter") if "killed" in names else []
            # every recorded version is complete: its artifact is present and verifies
            for v in versions:
                assert reg.adapter_path(v.ref).is_dir()
            assert [v.number for v in versions] == list(range(1, len(versions) + 1))
            leftovers.append(len(report["orphans"]))
            completed = len(versions)
    assert completed >= reported  # every registration the child reported is recorded (one more may be)
    assert any(leftovers)  # and some kills landed mid-registration (an unfinished temp copy was left)
    with Registry.open(registry.path) as reg:
        reg.check_integrity(remove_orphans=True)  # `promptyard doctor --remove-orphans`
        assert not any(reg.check_integrity().values())
