"""The quickstart's HTML report: one self-contained file (PNG charts embedded as base64).

The eval sections come from :func:`promptyard.evals.report.render_sections`, the search plot from
:func:`promptyard.tuning.search_results.plot_trials` (written by the search), the training curves from
:func:`promptyard.tuning.curves.save_curves`.
"""

from __future__ import annotations

import base64
import html
import tempfile
from pathlib import Path
from typing import Any

from promptyard.evals.report import STYLE, html_table, render_sections
from promptyard.tuning.curves import save_curves


def _png(path: Path | str | None) -> str:
    if not path or not Path(path).exists():
        return "<p class='small'>(no chart)</p>"
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f"<img alt='{html.escape(Path(path).name)}' src='data:image/png;base64,{data}'>"


def _curves_png(record: Any, metric: str) -> str:
    """Training curves of one trial (train loss, validation loss and metric per evaluation)."""

    history = [h for h in record.history if h.get("step") is not None]
    steps = [{"step": h["step"], "loss": h["train_loss"]} for h in history
             if h.get("train_loss") is not None and h["step"] > 0]
    with tempfile.TemporaryDirectory() as tmp:
        _, png = save_curves(Path(tmp), steps, history, metric)
        return _png(png)


def render_report(*, settings: Any, prompts: list[dict[str, Any]], evals: dict[str, Any], tuned: dict[str, Any],
                  gated: dict[str, Any]) -> str:
    """The report's HTML text."""
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>promptyard quickstart</title>"
             f"<style>{STYLE}</style></head><body>", "<h1>promptyard quickstart</h1>",
             f"<p class='small'>model <code>{html.escape(settings.model)}</code> · data rotten_tomatoes · "
             f"{settings.eval_sample} test examples · seed {settings.seed} · "
             f"{'Ray' if tuned['ray'] else 'in-process'} search</p>"]
    parts.append("<h2>1. Prompt versions</h2>" + html_table(
        ["ref", "kind", "hash", "accuracy", "message"],
        [[p["ref"], p["kind"], p["hash"][:12], f"{p.get('accuracy', 0):.3f}", p["message"]] for p in prompts]))
    parts.append("<h2>2. Evaluation</h2>" + render_sections(evals["run"], max_examples=10, level=3))
    parts.append("<h3>Against production</h3>")
    for c in evals["comparisons"]:
        parts.append(f"<p>{html.escape(c['a'])} &rarr; {html.escape(c['b'])} ({c['n']} paired examples)</p>")
        parts.append(html_table(["metric", "A", "B", "delta", "95% CI", "test", "p"],
                            [[m["name"], f"{m['a']:.3f}", f"{m['b']:.3f}", f"{m['delta']:+.3f}",
                              f"[{m['low']:+.3f}, {m['high']:+.3f}]", m["test"]["test"],
                              f"{m['test']['p_value']:.3g}"] for m in c["metrics"]]))
    parts.append("<h2>3. Hyper-parameter search</h2>")
    for x in tuned["searches"]:
        r = x["result"]
        parts.append(f"<h3>{html.escape(x['method'])}: search {html.escape(r.search_id)}</h3>")
        parts.append(html_table(["trial", "params", "status", "evaluations", f"best {r.metric}"],
                            [[t.trial_id, t.params, t.status, t.iterations,
                              "" if t.best_metric is None else f"{t.best_metric:.3f}"] for t in r.trials]))
        parts.append("<p>Search plot</p>" + _png(r.plot_path))
        if r.best is not None:
            parts.append(f"<p>Training curves of the best trial ({html.escape(r.best.trial_id)}), registered as "
                         f"<code>{html.escape(str(x['adapter']))}</code></p>" + _curves_png(r.best, "accuracy"))
    parts.append("<h2>4. Gate and rollback</h2>")
    parts.append(f"<p><b>{html.escape(gated['summary'])}</b></p>")
    parts.append(render_sections(gated["run"], max_examples=10, level=3))
    rb = gated["rollback"]
    parts.append(f"<h3>production label of {html.escape(rb['kind'])} {html.escape(rb['name'])}</h3>")
    parts.append(html_table(["from", "to", "action", "reason", "when"],
                        [[m["from_number"], m["to_number"], m["action"], m["reason"], m["created_at"][:19]]
                         for m in rb["history"]]))
    parts.append("</body></html>")
    return "\n".join(parts)


def write_quickstart_report(path: Path, **parts: Any) -> Path:
    """Write the report to ``path`` (atomically: a half-written report never replaces a good one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(render_report(**parts), encoding="utf-8")
    tmp.replace(path)
    return path
