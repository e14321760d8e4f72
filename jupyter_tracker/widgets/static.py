"""Static HTML/SVG versions of the panels: what a saved notebook shows where no widget can run
(nbconvert HTML, GitHub, a front end without the widget manager) and what the live card turns into
when its cell ends. Self-contained: inline SVG and CSS, no script, no network."""

from __future__ import annotations

import html
import math
import re
from collections.abc import Sequence

from .colors import PALETTE, SVG_DASHES, RunStyle

STATUS_COLORS = {"RUNNING": "#1a73e8", "FINISHED": "#188038", "FAILED": "#d93025", "KILLED": "#e37400"}


def escape(value) -> str:
    return html.escape("" if value is None else str(value))


#: Text that is a decimal number written with more digits than anyone reads (a param logged as
#: ``0.1 * 3`` is stored exactly as "0.30000000000000004"); table.js's formatCell has the same rule.
_LONG_DECIMAL = re.compile(r"[+-]?\d*\.\d{10,}(?:[eE][+-]?\d+)?")


def format_value(value) -> str:
    """Numbers as a person reads them (metrics: 4 significant digits; a param's long decimal text:
    12, so ``0.30000000000000004`` reads 0.3), everything else as text. Display only: the stored
    value stays exact."""
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "∞" if value > 0 else "-∞"
        return f"{value:.4g}"
    if isinstance(value, str) and _LONG_DECIMAL.fullmatch(value):
        return f"{float(value):.12g}"
    return str(value)


def status_badge(status: str) -> str:
    color = STATUS_COLORS.get(status, "#5f6368")
    return (f'<span style="background:{color};color:#fff;border-radius:8px;padding:0 6px;'
            f'font-size:11px">{escape(status)}</span>')


def _finite(values: Sequence) -> list[float]:
    return [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]


def sparkline(values: Sequence[float], width: int = 120, height: int = 24, color: str = PALETTE[0]) -> str:
    """A tiny SVG line of ``values`` (non-finite points skipped)."""
    points = [(i, v) for i, v in enumerate(values) if isinstance(v, (int, float)) and math.isfinite(v)]
    if len(points) == 1:  # one point: a dot, not an empty box
        return (f'<svg width="{width}" height="{height}"><circle cx="{width / 2}" cy="{height / 2}" r="2.5" '
                f'fill="{color}"/></svg>')
    if len(points) < 2:
        return f'<svg width="{width}" height="{height}"></svg>'
    low, high = min(v for _, v in points), max(v for _, v in points)
    span = (high - low) or 1.0
    last = points[-1][0] or 1
    coordinates = " ".join(f"{1 + (width - 2) * i / last:.1f},{height - 2 - (height - 4) * (v - low) / span:.1f}"
                           for i, v in points)
    return (f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
            f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{coordinates}"/></svg>')


def legend_html(entries: Sequence[tuple[str, RunStyle, str]], max_shown: int = 8) -> str:
    """One line of legend entries ``(label, style, hover text)``: a swatch in the run's colour and
    dash, its name; past ``max_shown`` a "+k more" whose tooltip lists the rest (all of it is
    outside the plots, so it never covers a curve or an axis title)."""
    def swatch(style: RunStyle) -> str:
        dash = f' stroke-dasharray="{SVG_DASHES[style.dash]}"' if SVG_DASHES[style.dash] else ""
        return (f'<svg width="22" height="10" style="vertical-align:middle"><line x1="1" x2="21" y1="5" y2="5" '
                f'stroke="{style.color}" stroke-width="3"{dash}/></svg>')

    shown = list(entries) if len(entries) <= max_shown else list(entries)[:max_shown - 1]
    items = [f'<span class="jt-legend-entry" data-color="{style.color}" title="{escape(hover or label)}" '
             f'style="margin-right:12px;white-space:nowrap">{swatch(style)} {escape(label)}</span>'
             for label, style, hover in shown]
    rest = list(entries)[len(shown):]
    if rest:
        listed = "\n".join(label + (f" ({hover})" if hover else "") for label, _, hover in rest)
        items.append(f'<span class="jt-legend-more" title="{escape(listed)}" style="white-space:nowrap;'
                     f'text-decoration:underline dotted;cursor:help">+{len(rest)} more</span>')
    return (f'<div class="jt-legend" style="font-family:sans-serif;font-size:12px;line-height:20px;'
            f'display:flex;flex-wrap:wrap;padding:2px 0 4px 60px">{"".join(items)}</div>')


def line_chart(series: Sequence[tuple[str, Sequence, Sequence[float]]], *, title: str = "", width: int = 640,
               height: int = 280, log_y: bool = False, styles: Sequence[RunStyle] | None = None,
               legend: bool = True, x_title: str = "") -> str:
    """An SVG chart of ``(label, xs, ys)`` series with axes ticks and a legend on its right
    (``legend=False`` when a ``legend_html`` sits above it); numeric x only (non-numeric x such
    as timestamps fall back to point index). ``styles`` gives each series its run's colour."""
    margin_left, margin_right, margin_top, margin_bottom = 56, 28, 24 if title else 10, 28 + (12 if x_title else 0)
    plot_w, plot_h = width - margin_left - margin_right, height - margin_top - margin_bottom
    prepared = []
    for label, raw_xs, ys in series:
        xs = raw_xs if all(isinstance(x, (int, float)) for x in raw_xs) else list(range(len(ys)))
        pairs = [(float(x), float(y)) for x, y in zip(xs, ys)
                 if isinstance(y, (int, float)) and math.isfinite(y) and (not log_y or y > 0)]
        if log_y:
            pairs = [(x, math.log10(y)) for x, y in pairs]
        prepared.append((label, pairs))
    all_x = [x for _, pairs in prepared for x, _ in pairs]
    all_y = [y for _, pairs in prepared for _, y in pairs]
    # The legend sits right of the plot (never over the lines), as wide as its longest label.
    legend_w = min(260, 24 + 6 * max((len(label) for label, _ in prepared), default=0)) if legend else 0
    legend_rows = max(1, int((height - margin_top) // 13))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width + legend_w}" height="{height}" '
             f'font-family="sans-serif" font-size="10">',
             f'<rect width="{width + legend_w}" height="{height}" fill="#fff"/>']
    if title:
        parts.append(f'<text x="{width / 2}" y="15" text-anchor="middle" font-size="12">{escape(title)}</text>')
    if not all_x:
        parts.append(f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle">no points</text></svg>')
        return "".join(parts)
    x_low, x_high = min(all_x), max(all_x)
    y_low, y_high = min(all_y), max(all_y)
    # Halves, so a range near the float64 limit (1.7e308 and -1.7e308) does not overflow to inf.
    x_half, y_half = (x_high / 2 - x_low / 2) or 0.5, (y_high / 2 - y_low / 2) or 0.5

    def px(x: float) -> float:
        return margin_left + plot_w * ((x / 2 - x_low / 2) / x_half)

    def py(y: float) -> float:
        return margin_top + plot_h - plot_h * ((y / 2 - y_low / 2) / y_half)

    parts.append(f'<rect x="{margin_left}" y="{margin_top}" width="{plot_w}" height="{plot_h}" fill="none" '
                 f'stroke="#ccc"/>')
    for i in range(5):
        y = 2 * (y_low / 2 + y_half * (i / 4))
        shown = 10 ** y if log_y else y
        parts.append(f'<line x1="{margin_left}" x2="{margin_left + plot_w}" y1="{py(y):.1f}" y2="{py(y):.1f}" '
                     f'stroke="#eee"/><text x="{margin_left - 4}" y="{py(y) + 3:.1f}" text-anchor="end">'
                     f'{escape(format_value(shown))}</text>')
        x = 2 * (x_low / 2 + x_half * (i / 4))
        parts.append(f'<text x="{px(x):.1f}" y="{height - margin_bottom + 16}" text-anchor="middle">'
                     f'{escape(_x_tick(x, 4 * x_half))}</text>')
    if x_title:
        parts.append(f'<text x="{margin_left + plot_w / 2}" y="{height - 4}" text-anchor="middle">'
                     f'{escape(x_title)}</text>')
    for index, (label, pairs) in enumerate(prepared):
        style = styles[index] if styles else RunStyle(PALETTE[index % len(PALETTE)], "solid")
        color = style.color
        dash = f' stroke-dasharray="{SVG_DASHES[style.dash]}"' if SVG_DASHES[style.dash] else ""
        if len(pairs) == 1:
            x, y = pairs[0]
            parts.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{color}"/>')
        elif pairs:
            points = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in pairs)
            parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5"{dash} points="{points}"/>')
        if not legend:
            continue
        if index < legend_rows - 1 or len(prepared) == legend_rows:
            parts.append(f'<rect x="{width + 4}" y="{margin_top + 6 + 13 * index}" width="10" height="3" '
                         f'fill="{color}"/><text x="{width + 18}" y="{margin_top + 10 + 13 * index}">'
                         f'{escape(label)}</text>')
        elif index == legend_rows - 1:
            parts.append(f'<text x="{width + 4}" y="{margin_top + 10 + 13 * index}">'
                         f'+{len(prepared) - index} more</text>')
    parts.append("</svg>")
    return "".join(parts)


def _x_tick(x: float, span: float) -> str:
    """An x tick as a person reads steps: whole numbers with thousands separators when the axis
    spans more than a few units (61,650 rather than 6.165e+04), else 4 significant digits."""
    if span >= 8 and abs(x) < 1e15:
        return f"{round(x):,}"
    return format_value(x)


def html_table(headers: Sequence[str], rows: Sequence[Sequence], *, highlight: Sequence[bool] | None = None,
               caption: str = "", header_colors: Sequence[str | None] | None = None) -> str:
    """A plain HTML table; rows flagged in ``highlight`` get a tinted background; a header with a
    colour in ``header_colors`` gets a swatch of it (a run's colour over its column)."""
    colors = list(header_colors or []) + [None] * len(headers)
    head = "".join('<th style="text-align:left;padding:2px 8px;border-bottom:1px solid #ccc"'
                   + (f' data-color="{color}">{swatch_html(color)}' if color else ">") + f"{escape(h)}</th>"
                   for h, color in zip(headers, colors))
    body = []
    for index, row in enumerate(rows):
        tint = ' style="background:#fff4d6;color:#1f1f1f"' if highlight and highlight[index] else ""
        cells = "".join(f'<td style="padding:2px 8px">{_cell_html(cell)}</td>' for cell in row)
        body.append(f"<tr{tint}>{cells}</tr>")
    caption_html = f'<caption style="text-align:left;font-weight:bold">{escape(caption)}</caption>' if caption else ""
    return (f'<table style="border-collapse:collapse;font-size:12px;font-family:sans-serif">{caption_html}'
            f'<thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>')


def swatch_html(color: str) -> str:
    """A small square of a run's colour (its table row, its diff column)."""
    return (f'<span class="jt-swatch" data-color="{color}" style="display:inline-block;width:10px;height:10px;'
            f'border-radius:2px;margin-right:4px;background:{color}"></span>')


class Markup(str):
    """HTML we built ourselves (a badge, a swatch and an escaped name): table cells pass it through
    unescaped, while any other text, a run name or a param value, is escaped."""


def _cell_html(cell) -> str:
    """A table cell: our own markup passes through, everything else is escaped text."""
    if isinstance(cell, Markup) or isinstance(cell, str) and cell.startswith('<span style="background:'):
        return cell
    return escape(format_value(cell))
