"""Charts as inline SVG made on the server: no JavaScript, nothing from another host, and legible on paper.

Every number is written as text next to its bar; series differ by pattern (solid, hatched, dotted) as well as
by shade, so a black-and-white printout still tells them apart. A suppressed value gets no bar drawn to scale
(its length would give the count away): a short outlined stub carries its label ("<5" or "—") instead.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH = 720
LABEL_W = 200
VALUE_W = 70
BAR_H = 13
BAR_GAP = 2
ROW_GAP = 10
LEGEND_H = 26
STUB_W = 18
INK = "#111111"
FILLS = ("#1b3a5c", "#1b3a5c", "#1b3a5c")
_ids = itertools.count(1)


@dataclass(frozen=True)
class Point:
    value: float | None  # None: suppressed, never drawn to scale
    text: str  # what is written beside the bar, exactly as in the table


def _defs(prefix: str) -> str:
    # Series 0 solid, 1 diagonal hatch, 2 dots: distinct in grey-scale print and for colour-blind readers.
    return (
        "<defs>"
        f'<pattern id="{prefix}-p1" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="6" height="6" fill="#ffffff"/>'
        f'<rect width="3" height="6" fill="{FILLS[1]}"/></pattern>'
        f'<pattern id="{prefix}-p2" width="5" height="5" patternUnits="userSpaceOnUse">'
        f'<rect width="5" height="5" fill="#ffffff"/><circle cx="2.5" cy="2.5" r="1.6" fill="{FILLS[2]}"/></pattern>'
        f'<pattern id="{prefix}-hidden" width="4" height="4" patternUnits="userSpaceOnUse">'
        '<rect width="4" height="4" fill="#ffffff"/><path d="M0 4L4 0" stroke="#777777" stroke-width="1"/></pattern>'
        "</defs>"
    )


def _fill(prefix: str, series: int) -> str:
    return FILLS[0] if series % 3 == 0 else f"url(#{prefix}-p{series % 3})"


def _text(x: float, y: float, content: str, anchor: str = "start", weight: str = "normal") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-family="sans-serif" font-size="12" '
            f'font-weight="{weight}" fill="{INK}">{escape(content)}</text>')


def bar_chart(title: str, rows: list[str], series: list[str], points: list[list[Point]], unit: str = "") -> Markup:
    """Horizontal grouped bars: one group per row label, one bar per series, each with its value as text."""
    prefix = f"chart{next(_ids)}"
    group_h = len(series) * (BAR_H + BAR_GAP) + ROW_GAP
    height = LEGEND_H + 24 + len(rows) * group_h + 10
    visible = [p.value for row in points for p in row if p.value is not None]
    top = max(visible, default=0) or 1
    scale = (WIDTH - LABEL_W - VALUE_W) / top
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" aria-labelledby="{prefix}-t">',
        f'<title id="{prefix}-t">{escape(title)}</title>',
        _defs(prefix),
        f'<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>',
        _text(0, 14, title, weight="bold"),
    ]
    x = float(LABEL_W)
    for s, name in enumerate(series):  # the legend
        parts.append(f'<rect x="{x:.1f}" y="22" width="16" height="12" fill="{_fill(prefix, s)}" '
                     f'stroke="{INK}" stroke-width="1"/>')
        parts.append(_text(x + 22, 32, name))
        x += 30 + 7.5 * len(name)
    y = LEGEND_H + 24.0
    parts.append(f'<line x1="{LABEL_W}" y1="{y - 4:.1f}" x2="{LABEL_W}" y2="{height - 6}" stroke="{INK}"/>')
    for label, row in zip(rows, points, strict=True):
        parts.append(_text(LABEL_W - 8, y + BAR_H - 2, label, anchor="end"))
        for s, point in enumerate(row):
            if point.value is None:
                parts.append(f'<rect x="{LABEL_W}" y="{y:.1f}" width="{STUB_W}" height="{BAR_H}" '
                             f'fill="url(#{prefix}-hidden)" stroke="#777777" stroke-dasharray="2 2"/>')
                end = float(LABEL_W + STUB_W)
            else:
                width = point.value * scale
                if width > 0:
                    parts.append(f'<rect x="{LABEL_W}" y="{y:.1f}" width="{width:.1f}" height="{BAR_H}" '
                                 f'fill="{_fill(prefix, s)}" stroke="{INK}" stroke-width="0.8"/>')
                end = LABEL_W + width
            parts.append(_text(end + 5, y + BAR_H - 2, point.text + unit))
            y += BAR_H + BAR_GAP
        y += ROW_GAP
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every piece of text above went through escape()
