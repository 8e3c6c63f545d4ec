"""Side-by-side rows from the unified diffs that ``Registry.diff`` returns (the CLI's ``prompt diff``)."""

from __future__ import annotations

import re
from dataclasses import dataclass

_HUNK = re.compile(r"^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@")


@dataclass(frozen=True)
class Row:
    """One line of the side-by-side view; ``kind`` is same, change, del, add or hunk."""

    kind: str
    left_no: int | None = None
    left: str | None = None
    right_no: int | None = None
    right: str | None = None


def side_by_side(unified: str) -> list[Row]:
    """Pair removed and added lines of each hunk, line by line; context lines stand on both sides."""
    rows: list[Row] = []
    removed: list[tuple[int, str]] = []
    added: list[tuple[int, str]] = []
    left = right = 0

    def flush() -> None:
        for i in range(max(len(removed), len(added))):
            a = removed[i] if i < len(removed) else (None, None)
            b = added[i] if i < len(added) else (None, None)
            kind = "change" if a[1] is not None and b[1] is not None else ("del" if a[1] is not None else "add")
            rows.append(Row(kind, a[0], a[1], b[0], b[1]))
        removed.clear()
        added.clear()

    for line in unified.splitlines():
        if line.startswith(("--- ", "+++ ")) and not rows and not removed and not added:
            continue
        match = _HUNK.match(line)
        if match:
            flush()
            left, right = int(match.group(1)), int(match.group(2))
            rows.append(Row("hunk", left=line))
        elif line.startswith("-"):
            removed.append((left, line[1:]))
            left += 1
        elif line.startswith("+"):
            added.append((right, line[1:]))
            right += 1
        elif line.startswith("\\"):
            continue  # "\ No newline at end of file"
        else:
            flush()
            rows.append(Row("same", left, line[1:], right, line[1:]))
            left += 1
            right += 1
    flush()
    return rows
