"""Child process for the kill test: register adapter versions in a loop until killed, reporting each one.

``python -m tests.registry.register_loop REGISTRY_FILE ADAPTER_DIR WORK_DIR``
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def main() -> None:
    from promptyard.registry.api import Registry

    registry_file, source = sys.argv[1], Path(sys.argv[2])
    registry = Registry.open(registry_file)
    work = Path(sys.argv[3])
    # the first registration of a process pays one-time costs (plugin host, SQL engine): not what we kill
    registry.register_adapter("warmup", source, {}, message="warm-up")
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    sys.stdin.readline()  # the parent says go, then kills us at a random moment
    i = 0
    while True:
        folder = work / f"adapter-{i}"
        shutil.copytree(source, folder)
        # new bytes (this child's work folder and run): every registration is a new version, across children too
        (folder / "note.txt").write_text(f"{work.name} run {i}")
        registry.register_adapter("killed", folder, {"run": i}, message=f"run {i}")
        sys.stdout.write(f"registered {i}\n")  # recorded: the parent counts these
        sys.stdout.flush()
        i += 1


if __name__ == "__main__":
    main()
