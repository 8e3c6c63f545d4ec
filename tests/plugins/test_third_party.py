"""A real third-party plugin: built as a wheel, pip-installed into a fresh virtual environment that has
promptyard installed, and driven through THAT environment's ``promptyard`` command.

The fresh environment gets promptyard from a wheel built from this checkout, and borrows the test
interpreter's site-packages for promptyard's dependencies (a ``.pth`` file), so it is fast and offline.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]

BROKEN = {  # distribution -> module source: one raises at import, one misspells a hook
    "broken": "raise RuntimeError('the broken plugin cannot start')\n",
    "typo": ("from promptyard import hookimpl\n\n\n@hookimpl\ndef register_metric(register):\n"
             "    raise AssertionError('never called')\n"),
}


def run(args: list[str], env: dict[str, str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=180)
    if check and result.returncode != 0:
        raise AssertionError(f"{args} exited {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


def write_package(root: Path, name: str, source: str) -> Path:
    """A minimal plugin package ``promptyard-NAME`` whose module is ``source``."""
    package = root / f"promptyard-{name}"
    (package / f"promptyard_{name}").mkdir(parents=True)
    (package / f"promptyard_{name}" / "__init__.py").write_text(source)
    (package / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=68"]\nbuild-backend = "setuptools.build_meta"\n\n'
        f'[project]\nname = "promptyard-{name}"\nversion = "0.0.1"\n\n'
        f'[project.entry-points.promptyard]\n{name} = "promptyard_{name}"\n'
    )
    return package


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The fresh environment with promptyard, the scaffolded plugin ``tally`` and the two broken ones."""
    import setuptools

    # wheels are built offline with this interpreter's setuptools; promptyard's pyproject (a PEP 639
    # license string) needs 77+, which torch's own requirement pulls into every promptyard venv
    assert int(setuptools.__version__.split(".")[0]) >= 77, f"setuptools {setuptools.__version__} is too old"
    root = tmp_path_factory.mktemp("third_party")
    # PYTHONPATH would put this checkout's src ahead of the installed wheel
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PROMPTYARD_PLUGINS", "VIRTUAL_ENV")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PIP_NO_INDEX="1",
               PIP_DISABLE_PIP_VERSION_CHECK="1", PROMPTYARD_HOME=str(root / "home"),
               PROMPTYARD_CACHE=str(root / "cache"),
               PROMPTYARD_REGISTRY=str(root / "registry.db"), PROMPTYARD_WORKDIR=str(root / "work"))
    venv = root / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv], env, root)
    python, promptyard = venv / "bin" / "python", venv / "bin" / "promptyard"
    purelib = Path(run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                       env, root).stdout.strip())
    # promptyard's dependencies come from the test interpreter's site-packages (plain path lines: its
    # own .pth files, such as an editable promptyard, are deliberately not processed)
    (purelib / "_promptyard_deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")

    # promptyard itself, from a wheel built out of a copy of this checkout (the checkout stays clean)
    source = root / "promptyard-src"
    shutil.copytree(REPO / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    wheels = root / "wheels"
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                 "-w", wheels]
    run(pip_wheel + [source], env, root)
    run([sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps",
         *sorted(wheels.glob("promptyard-*.whl"))], env, root)

    # the plugin under test comes from `promptyard plugins new`, run by the fresh environment's CLI
    run([promptyard, "plugins", "new", "tally", "--dir", root], env, root)
    packages = [root / "promptyard-tally"] + [write_package(root, n, s) for n, s in BROKEN.items()]
    run(pip_wheel + packages, env, root)
    plugin_wheels = [w for w in wheels.glob("*.whl") if not w.name.startswith("promptyard-0")]
    assert len(plugin_wheels) == 3, plugin_wheels
    run([sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", *plugin_wheels],
        env, root)
    return {"root": root, "env": env, "python": python, "promptyard": promptyard}


def plugins_list(world, *args: str, **extra_env: str) -> tuple[dict, str]:
    env = {**world["env"], **extra_env}
    result = run([world["promptyard"], *args, "plugins", "list", "--json"], env, world["root"])
    return json.loads(result.stdout), result.stderr


def test_promptyard_comes_from_the_fresh_environment(world):
    where = run([world["python"], "-c", "import promptyard; print(promptyard.__file__)"],
                world["env"], world["root"]).stdout
    assert where.startswith(str(world["root"] / "venv"))


def test_installed_plugin_is_listed_with_its_task_type_and_metric(world):
    data, _ = plugins_list(world)
    (tally,) = [p for p in data["plugins"] if p["name"] == "tally"]
    assert (tally["origin"], tally["distribution"], tally["version"]) == (
        "external", "promptyard-tally", "0.1.0")
    assert tally["registered"] == {"task_types": ["tally_keyword"], "metrics": ["tally_overlap"]}
    assert tally["hooks"] == ["register_metrics", "register_task_types"]


def test_its_task_type_and_metric_work(world):
    code = (
        "import json\n"
        "from promptyard.core.host import lookup\n"
        "metric = lookup('metrics', 'tally_overlap')\n"
        "task = lookup('task_types', 'tally_keyword')\n"
        "example = task.row_to_example({'text': 'green tea', 'keyword': 'tea', 'label': 'yes'})\n"
        "print(json.dumps({'score': metric.compute(['a b c', 'x'], ['a b', 'y']),\n"
        "                  'variables': example.variables, 'choices': example.choices,\n"
        "                  'prediction': task.predict([-2.5, -0.1])}))\n"
    )
    out = json.loads(run([world["python"], "-c", code], world["env"], world["root"]).stdout)
    assert out == {"score": {"tally_overlap": pytest.approx((2 / 3 + 0.0) / 2)},
                   "variables": {"text": "green tea", "keyword": "tea"}, "choices": ["no", "yes"],
                   "prediction": "yes"}


def test_broken_plugins_are_reported_and_skipped(world):
    data, stderr = plugins_list(world)
    failures = {f["plugin"]: f for f in data["failures"]}
    assert failures["broken"]["stage"] == "import"
    assert failures["broken"]["error"] == "import failed: RuntimeError: the broken plugin cannot start"
    assert failures["typo"]["stage"] == "check"
    assert failures["typo"]["error"] == "unknown hook 'register_metric' (did you mean 'register_metrics'?)"
    assert sorted(stderr.splitlines()) == [
        "warning: plugin 'broken' skipped: import failed: RuntimeError: the broken plugin cannot start",
        "warning: plugin 'typo' skipped: unknown hook 'register_metric' (did you mean 'register_metrics'?)",
    ]
    names = [p["name"] for p in data["plugins"]]
    assert "tally" in names and "broken" not in names and "typo" not in names


@pytest.mark.parametrize(
    ("args", "extra_env", "visible"),
    [
        ((), {"PROMPTYARD_PLUGINS": "tally"}, {"tally"}),
        ((), {"PROMPTYARD_PLUGINS": "promptyard-tally,typo"}, {"tally"}),
        ((), {"PROMPTYARD_PLUGINS": "broken"}, set()),
        ((), {"PROMPTYARD_PLUGINS": "none"}, set()),
        (("--no-plugins",), {}, set()),
    ],
)
def test_allow_list_hides_it(world, args, extra_env, visible):
    data, stderr = plugins_list(world, *args, **extra_env)
    assert {p["name"] for p in data["plugins"] if p["origin"] == "external"} == visible
    allowed = extra_env.get("PROMPTYARD_PLUGINS", "").split(",")
    assert ("'broken' skipped" in stderr) == ("broken" in allowed)


def test_scaffolded_plugin_passes_its_own_tests_once_installed(world):
    # its tests use the `plugin` and `cli` fixtures from promptyard's pytest11 entry point
    result = run([world["python"], "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
                 {**world["env"], "PROMPTYARD_PLUGINS": "tally"}, world["root"] / "promptyard-tally",
                 check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout and "skipped" not in result.stdout
