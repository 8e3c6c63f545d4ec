"""A stored run as ONE self-contained HTML file: tables, and matplotlib charts embedded as base64 PNG."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;font-size:.9em}
th{background:#f3f3f3}
code{background:#f6f6f6;padding:0 .2em}
.small{color:#666;font-size:.85em}
"""


def _cell_name(cell: dict[str, Any]) -> str:
    lin = cell["lineage"]
    adapter = f" + {lin['adapter']['resolved']}" if lin.get("adapter") else ""
    return f"{lin['prompt']['resolved']} | {lin['model']['ref']}{adapter}"


def _metric_chart(run: dict[str, Any], name: str) -> str:
    """A bar chart of one metric across cells with 95% CI error bars, as a base64 PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels, values, lows, highs = [], [], [], []
    for cell in run["cells"]:
        for m in cell["metrics"]:
            if m["name"] == name and m["value"] is not None:
                labels.append(f"#{cell['position']}")
                values.append(m["value"])
                lows.append(m["value"] - (m["low"] if m["low"] is not None else m["value"]))
                highs.append((m["high"] if m["high"] is not None else m["value"]) - m["value"])
    fig, ax = plt.subplots(figsize=(max(3.5, 0.8 * len(labels) + 2), 2.8), dpi=100)
    ax.bar(labels, values, yerr=[lows, highs], capsize=4, color="#4c78a8")
    ax.set_title(f"{name} (95% bootstrap CI)")
    ax.set_xlabel("cell")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def html_table(columns: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape('' if v is None else str(v))}</td>" for v in row) + "</tr>"
                   for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def render_html(run: dict[str, Any], *, max_examples: int = 50) -> str:
    """The report's HTML text."""
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>promptyard eval run {run['id']}</title>"
            f"<style>{STYLE}</style></head><body>\n{render_sections(run, max_examples=max_examples)}\n"
            "</body></html>")


def render_sections(run: dict[str, Any], *, max_examples: int = 50, level: int = 1) -> str:
    """The report's body (title, metrics, charts, lineage, examples), to embed in a larger page.

    ``level`` is the heading level of the run's title; sections use the next one.
    """
    h, sub, subsub = f"h{level}", f"h{level + 1}", f"h{level + 2}"
    parts = [f"<{h}>Eval run {run['id']}: {html.escape(run['name'])}</{h}>",
             f"<p class='small'>{html.escape(run['created_at'])} · {len(run['cells'])} cells · "
             f"{run['duration_s']:.1f}s · cache {run['cache_hits']} hits / {run['cache_misses']} misses</p>"]
    metric_names = list(dict.fromkeys(m["name"] for c in run["cells"] for m in c["metrics"]))
    rows = []
    for cell in run["cells"]:
        values = {m["name"]: m for m in cell["metrics"]}
        rows.append([cell["position"], _cell_name(cell), f"{cell['lineage']['data']['ref']}:"
                     f"{cell['lineage']['data']['split']}", cell["n_examples"]]
                    + [f"{_fmt(values[n]['value'])} [{_fmt(values[n]['low'])}, {_fmt(values[n]['high'])}]"
                       if n in values else "" for n in metric_names])
    parts.append(f"<{sub}>Metrics</{sub}>" + html_table(["#", "cell", "data", "n"] + metric_names, rows))
    parts.append(f"<{sub}>Charts</{sub}>")
    for name in metric_names:
        parts.append(f"<img alt='{html.escape(name)}' src='data:image/png;base64,{_metric_chart(run, name)}'>")
    parts.append(f"<{sub}>Lineage</{sub}>")
    lin_rows = [[c["position"], c["lineage"]["prompt"]["hash"][:12], (c["lineage"].get("adapter") or {}).get("hash",
                 "")[:12], c["lineage"]["model"]["hash"][:12], c["lineage"]["data"]["fingerprint"][:12],
                 c["lineage"]["seed"], c["lineage"]["scoring"]] for c in run["cells"]]
    parts.append(html_table(["#", "prompt hash", "adapter hash", "model hash", "data fingerprint", "seed", "scoring"],
                        lin_rows))
    parts.append(f"<{sub}>Examples</{sub}>")
    for cell in run["cells"]:
        examples = cell.get("examples", [])[:max_examples]
        parts.append(f"<{subsub}>#{cell['position']} {html.escape(_cell_name(cell))}</{subsub}>")
        parts.append(html_table(["index", "reference", "prediction", "output"],
                            [[e["index"], e["reference"], e["prediction"], e["output"][:200]] for e in examples]))
    return "\n".join(parts)


def write_report(run: dict[str, Any], path: str | Path) -> Path:
    """Write the report for a stored run (from ``load_run``) to ``path``."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_html(run), encoding="utf-8")
    return out
