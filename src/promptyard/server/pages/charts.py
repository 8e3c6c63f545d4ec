"""Charts drawn on the server as inline SVG (no script, no image request): bars with 95% intervals, and
lines. Colours come from CSS classes, so a chart follows the light or dark theme. Every text is escaped."""

from __future__ import annotations

import math
from html import escape
from typing import Any

from markupsafe import Markup

W, H = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 28, 40
SERIES = 6  # .s0 … .s5 in ui.css


def _ticks(low: float, high: float, n: int = 4) -> list[float]:
    if high <= low:
        high = low + 1.0
    step = (high - low) / n
    magnitude = 10 ** math.floor(math.log10(step))
    step = min((m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= step), default=step)
    start = math.floor(low / step) * step
    return [start + i * step for i in range(int((high - start) / step) + 2) if start + i * step <= high + 1e-12]


def _fmt(value: float) -> str:
    return f"{value:.3g}"


def _frame(title: str, y_low: float, y_high: float, y_label: str) -> tuple[list[str], Any]:
    def y(value: float) -> float:
        return TOP + (H - TOP - BOTTOM) * (1 - (value - y_low) / ((y_high - y_low) or 1.0))

    parts = [f'<text class="ct" x="{LEFT}" y="16">{escape(title)}</text>']
    for tick in _ticks(y_low, y_high):
        if y_low - 1e-12 <= tick <= y_high + 1e-12:
            parts.append(f'<line class="grid" x1="{LEFT}" x2="{W - RIGHT}" y1="{y(tick):.1f}" y2="{y(tick):.1f}"/>'
                         f'<text class="tick" x="{LEFT - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">'
                         f"{_fmt(tick)}</text>")
    if y_label:
        parts.append(f'<text class="tick" x="12" y="{TOP + (H - TOP - BOTTOM) / 2:.0f}" text-anchor="middle" '
                     f'transform="rotate(-90 12 {TOP + (H - TOP - BOTTOM) / 2:.0f})">{escape(y_label)}</text>')
    return parts, y


def _svg(parts: list[str], label: str) -> Markup:
    body = "".join(parts)
    return Markup(f'<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{escape(label)}" '
                  f'xmlns="http://www.w3.org/2000/svg"><title>{escape(label)}</title>{body}</svg>')


def bars(title: str, items: list[tuple[str, float | None, float | None, float | None]]) -> Markup:
    """One bar per (label, value, low, high), with the interval as a whisker."""
    values = [v for _, v, lo, hi in items for v in (v, lo, hi) if v is not None and math.isfinite(v)]
    y_low = min([0.0, *values])
    y_high = max([*values, 1e-9]) * 1.05 if values else 1.0
    parts, y = _frame(title, y_low, y_high, "")
    n = max(len(items), 1)
    slot = (W - LEFT - RIGHT) / n
    width = min(slot * 0.6, 80)
    for i, (label, value, low, high) in enumerate(items):
        cx = LEFT + slot * (i + 0.5)
        if value is not None and math.isfinite(value):
            top, base = y(max(value, 0.0)), y(min(value, 0.0))
            parts.append(f'<rect class="bar s{i % SERIES}" x="{cx - width / 2:.1f}" y="{top:.1f}" width="{width:.1f}" '
                         f'height="{max(base - top, 0.5):.1f}"><title>{escape(label)}: {_fmt(value)}'
                         f"{'' if low is None else f' [{_fmt(low)}, {_fmt(high or 0.0)}]'}</title></rect>")
            if low is not None and high is not None:
                parts.append(f'<path class="whisker" d="M{cx:.1f} {y(low):.1f}V{y(high):.1f}M{cx - 6:.1f} '
                             f'{y(low):.1f}h12M{cx - 6:.1f} {y(high):.1f}h12"/>')
            parts.append(f'<text class="tick" x="{cx:.1f}" y="{top - 4:.1f}" text-anchor="middle">'
                         f"{_fmt(value)}</text>")
        parts.append(f'<text class="tick" x="{cx:.1f}" y="{H - BOTTOM + 16}" text-anchor="middle">'
                     f"{escape(label[:24])}</text>")
    return _svg(parts, title)


def lines(title: str, series: list[tuple[str, list[tuple[float, float]]]], *, x_label: str = "",
          y_label: str = "") -> Markup:
    """One polyline (with dots) per (name, [(x, y), …]); a legend below."""
    points = [(x, v) for _, pts in series for x, v in pts if v is not None and math.isfinite(v)]
    if not points:
        return Markup('<p class="muted">no points to plot</p>')
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x_low, x_high = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    pad = (max(ys) - min(ys)) * 0.05 or abs(max(ys)) * 0.05 or 1.0
    parts, y = _frame(title, min(ys) - pad, max(ys) + pad, y_label)

    def x(value: float) -> float:
        return LEFT + (W - LEFT - RIGHT) * (value - x_low) / (x_high - x_low)

    for tick in _ticks(x_low, x_high):
        if x_low - 1e-12 <= tick <= x_high + 1e-12:
            parts.append(f'<text class="tick" x="{x(tick):.1f}" y="{H - BOTTOM + 16}" text-anchor="middle">'
                         f"{_fmt(tick)}</text>")
    if x_label:
        parts.append(f'<text class="tick" x="{(W + LEFT) / 2:.0f}" y="{H - 6}" text-anchor="middle">'
                     f"{escape(x_label)}</text>")
    for i, (name, pts) in enumerate(series):
        good = [(px, py) for px, py in pts if py is not None and math.isfinite(py)]
        if not good:
            continue
        cls = f"s{i % SERIES}"
        path = " ".join(f"{x(px):.1f},{y(py):.1f}" for px, py in good)
        parts.append(f'<polyline class="line {cls}" points="{path}"><title>{escape(name)}</title></polyline>')
        parts += [f'<circle class="dot {cls}" cx="{x(px):.1f}" cy="{y(py):.1f}" r="2.5">'
                  f"<title>{escape(name)}: {_fmt(px)}, {_fmt(py)}</title></circle>" for px, py in good]
    legend = "".join(f'<span class="key"><span class="swatch s{i % SERIES}"></span>{escape(name)}</span>'
                     for i, (name, _) in enumerate(series[:24]))
    return Markup(f'<figure class="chart-box">{_svg(parts, title)}<figcaption>{legend}</figcaption></figure>')


def trial_points(history: list[dict[str, Any]], metric: str) -> list[tuple[float, float]]:
    """(step, metric) of each reported result of a search trial."""
    def x(i: int, row: dict[str, Any]) -> float:
        for key in ("step", "training_iteration"):
            if row.get(key) is not None:
                return row[key]
        return i + 1

    return [(x(i, h), h.get(metric)) for i, h in enumerate(history)]
