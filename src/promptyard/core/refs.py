"""References to versions: ``name``, ``name@3``, ``name@latest``, ``name@production``, ``name@sha:1a2b3c``.

Pure parsing, no database: :mod:`promptyard.registry` resolves a :class:`Ref` to a stored version.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from promptyard.core.errors import UsageError

#: the label a bare ``name`` means (falling back to the latest version when the label is not set)
DEFAULT_LABEL = "production"
#: shortest hash prefix accepted after ``sha:`` (shorter ones match too much to be useful)
MIN_HASH_PREFIX = 4

# matched with fullmatch: "$" would also match before a trailing newline ("canary\n" would pass)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*")
_LABEL = re.compile(r"[A-Za-z][A-Za-z0-9._-]*")
_HASH = re.compile(r"[0-9a-f]+")
RESERVED_LABELS = frozenset({"latest"})


@dataclass(frozen=True)
class Ref:
    """A parsed reference. Exactly one of ``number``, ``label``, ``hash_prefix``, ``latest`` is set,
    or none of them (a bare ``name``: label ``production``, else the latest version)."""

    name: str
    number: int | None = None
    label: str | None = None
    hash_prefix: str | None = None
    latest: bool = False

    @property
    def is_bare(self) -> bool:
        return self.number is None and self.label is None and self.hash_prefix is None and not self.latest

    def __str__(self) -> str:
        if self.number is not None:
            return f"{self.name}@{self.number}"
        if self.label is not None:
            return f"{self.name}@{self.label}"
        if self.hash_prefix is not None:
            return f"{self.name}@sha:{self.hash_prefix}"
        if self.latest:
            return f"{self.name}@latest"
        return self.name


def check_name(name: str, *, what: str = "name") -> str:
    """Return ``name`` if it is a valid item name (``team/sentiment`` allowed); else raise UsageError."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or len(name) > 200:
        raise UsageError(
            f"invalid {what} {name!r}",
            where=what,
            hint="letters, digits, '.', '_', '-', with '/' between parts, e.g. team/sentiment",
        )
    return name


def check_label(label: str) -> str:
    """Return ``label`` if it can name a label, else raise UsageError."""
    if not isinstance(label, str) or not _LABEL.fullmatch(label) or label in RESERVED_LABELS or len(label) > 100:
        raise UsageError(
            f"invalid label {label!r}",
            where="label",
            hint="start with a letter; letters, digits, '.', '_', '-'; not 'latest'",
        )
    return label


def parse_ref(text: str | Ref) -> Ref:
    """Parse a reference string; raise UsageError saying what is wrong."""
    if isinstance(text, Ref):
        return text
    if not isinstance(text, str) or not text.strip():
        raise UsageError(
            "empty reference", hint="NAME, NAME@3, NAME@latest, NAME@production or NAME@sha:1a2b"
        )
    text = text.strip()
    name, sep, selector = text.partition("@")
    check_name(name, what="reference")
    if not sep:
        return Ref(name)
    if selector == "latest":
        return Ref(name, latest=True)
    if selector.isascii() and selector.isdigit():  # str.isdigit alone accepts "²", which int() refuses
        number = int(selector)
        if number < 1:
            raise UsageError(f"version numbers start at 1, got {selector}", where=text)
        return Ref(name, number=number)
    if selector.startswith("sha:") or selector.startswith("sha256:"):
        prefix = selector.split(":", 1)[1].lower()
        if not _HASH.fullmatch(prefix) or len(prefix) < MIN_HASH_PREFIX or len(prefix) > 64:
            raise UsageError(
                f"invalid hash prefix {prefix!r}",
                where=text,
                hint=f"{MIN_HASH_PREFIX} to 64 hex digits, e.g. {name}@sha:1a2b3c",
            )
        return Ref(name, hash_prefix=prefix)
    if _LABEL.fullmatch(selector):
        return Ref(name, label=selector)
    raise UsageError(
        f"cannot read the part after '@': {selector!r}",
        where=text,
        hint="a version number, 'latest', a label or sha:HEXPREFIX",
    )
