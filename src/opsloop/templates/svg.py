"""Small inline-SVG charts for the HTML pages: no scripts, no external resources. Each
function returns SVG markup whose text is escaped here (templates take it with
`opsloop.templates.safe_svg`).

`histogram` draws a reference and a current share per bin side by side. `line_chart` draws
one or more series over windows (evenly spaced by index), with an optional horizontal
threshold line, a shaded band (an alert band such as lower..upper), red marks on flagged
points and light bars of counts along the bottom (e.g. labelled rows). Every point and bar
carries a `<title>` tooltip.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from opsloop.templates import num

_PAD_L, _PAD_R, _PAD_T, _PAD_B = 44, 8, 22, 18


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]
    colour: str
    marks: Sequence[bool] = ()  # red ring where True (drifted, degraded)


def histogram(
    name: str,
    reference_counts: Sequence[int],
    current_counts: Sequence[int],
    labels: Sequence[str],
    *,
    drifted: bool = False,
    width: int = 320,
    height: int = 140,
) -> str:
    """The share of rows per bin, reference (blue) beside current (orange)."""
    n = max(len(reference_counts), 1)
    rs, cs = max(sum(reference_counts), 1), max(sum(current_counts), 1)
    shares = [(r / rs, c / cs) for r, c in zip(reference_counts, current_counts, strict=False)]
    top = max([max(a, b) for a, b in shares] + [1e-9])
    slot = (width - 20) / n
    bars = []
    for i, (a, b) in enumerate(shares):
        x = 10 + i * slot
        label = escape(labels[i] if i < len(labels) else str(i))
        for j, (value, colour) in enumerate(((a, "#9db4d8"), (b, "#e07b39"))):
            h = value / top * (height - 30)
            bars.append(
                f'<rect x="{x + j * slot / 2:.1f}" y="{height - 20 - h:.1f}" '
                f'width="{max(slot / 2 - 1, 1):.1f}" height="{h:.1f}" fill="{colour}">'
                f"<title>{label}: {'reference' if j == 0 else 'current'} {value:.1%}</title></rect>"
            )
    name = escape(name)
    return (
        f'<svg class="chart" width="{width}" height="{height}" role="img" '
        f'aria-label="{name} histogram">'
        f'<text x="10" y="14" font-size="12">{name} '
        f"{'(drifted)' if drifted else ''}</text>{''.join(bars)}</svg>"
    )


def _runs(ys: Sequence[float | None]) -> list[list[int]]:
    """Indices of consecutive defined values: a missing value breaks the line."""
    runs: list[list[int]] = [[]]
    for i, v in enumerate(ys):
        if v is None:
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append(i)
    return [r for r in runs if r]


def line_chart(
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    threshold: float | None = None,
    threshold_label: str = "",
    band: Sequence[tuple[float | None, float | None]] = (),
    bars: Sequence[int | None] = (),
    bars_label: str = "",
    span: tuple[float, float] | None = None,
    width: int = 340,
    height: int = 150,
) -> str:
    """`span`: a fixed y range (e.g. 0..1 for a share) instead of the data's."""
    n = len(labels)
    finite = [v for s in series for v in s.values if v is not None]
    finite += [v for pair in band for v in pair if v is not None]
    if threshold is not None:
        finite.append(threshold)
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5 * (abs(lo) or 1), hi + 0.5 * (abs(hi) or 1)
    pad = (hi - lo) * 0.08
    lo, hi = span if span is not None else (lo - pad, hi + pad)
    plot_w, plot_h = width - _PAD_L - _PAD_R, height - _PAD_T - _PAD_B

    def x(i: int) -> float:
        return _PAD_L + (plot_w / 2 if n <= 1 else i * plot_w / (n - 1))

    def y(v: float) -> float:
        return _PAD_T + (hi - v) / (hi - lo) * plot_h

    xs = [x(i) for i in range(n)]
    parts = [
        f'<text x="4" y="14" font-size="12" font-weight="600">{escape(title)}</text>',
        f'<rect x="{_PAD_L}" y="{_PAD_T}" width="{plot_w}" height="{plot_h}" '
        'fill="none" stroke="#ddd"/>',
        f'<text x="{_PAD_L - 3}" y="{_PAD_T + 8}" font-size="9" text-anchor="end">{num(hi)}</text>',
        f'<text x="{_PAD_L - 3}" y="{_PAD_T + plot_h}" font-size="9" text-anchor="end">'
        f"{num(lo)}</text>",
    ]
    if n:
        parts.append(
            f'<text x="{_PAD_L}" y="{height - 4}" font-size="9">{escape(labels[0])}</text>'
        )
        if n > 1:
            parts.append(
                f'<text x="{_PAD_L + plot_w}" y="{height - 4}" font-size="9" '
                f'text-anchor="end">{escape(labels[-1])}</text>'
            )
    counts = [c for c in bars if c is not None]
    if counts:
        top = max(max(counts), 1)
        slot = plot_w / max(n, 1)
        for i, c in enumerate(bars[:n]):
            if c is None:
                continue
            h = c / top * plot_h * 0.25
            parts.append(
                f'<rect x="{xs[i] - slot * 0.35:.1f}" y="{_PAD_T + plot_h - h:.1f}" '
                f'width="{max(slot * 0.7, 1):.1f}" height="{h:.1f}" fill="#e6e6e6">'
                f"<title>{escape(labels[i])}: {c} {escape(bars_label)}</title></rect>"
            )
    if band:
        pairs = [(a, b) if a is not None and b is not None else None for a, b in band[:n]]
        for run in _runs([None if p is None else p[0] for p in pairs]):
            edges = [(xs[i], pairs[i]) for i in run]
            upper = " ".join(f"{px:.1f},{y(p[1]):.1f}" for px, p in edges if p)
            lower = " ".join(f"{px:.1f},{y(p[0]):.1f}" for px, p in reversed(edges) if p)
            parts.append(
                f'<polygon points="{upper} {lower}" fill="#cfe3cf" opacity="0.6">'
                "<title>alert band</title></polygon>"
            )
    if threshold is not None:
        ty = y(threshold)
        parts.append(
            f'<line x1="{_PAD_L}" x2="{_PAD_L + plot_w}" y1="{ty:.1f}" y2="{ty:.1f}" '
            'stroke="#b00020" stroke-dasharray="4 3"/>'
            f'<text x="{_PAD_L + plot_w - 2}" y="{ty - 3:.1f}" font-size="9" '
            f'fill="#b00020" text-anchor="end">{escape(threshold_label)}</text>'
        )
    for s in series:
        parts.append(f'<g class="series" data-name="{escape(s.name)}">')
        for run in _runs(s.values):
            if len(run) > 1:
                pts = " ".join(f"{xs[i]:.1f},{y(s.values[i]):.1f}" for i in run)  # type: ignore[arg-type]
                parts.append(
                    f'<polyline points="{pts}" fill="none" stroke="{s.colour}" stroke-width="1.5"/>'
                )
        for i, v in enumerate(s.values):
            if v is None:
                continue
            marked = i < len(s.marks) and s.marks[i]
            ring = ' stroke="#b00020" stroke-width="2"' if marked else ""
            parts.append(
                f'<circle cx="{xs[i]:.1f}" cy="{y(v):.1f}" r="{3.5 if marked else 2.2}"'
                f' fill="{s.colour}"{ring}><title>{escape(labels[i])}: '
                f"{escape(s.name)} {num(v, 4)}{' (flagged)' if marked else ''}"
                "</title></circle>"
            )
        parts.append("</g>")
    return (
        f'<svg class="chart" width="{width}" height="{height}" role="img" '
        f'data-series="{len(series)}" aria-label="{escape(title)}">{"".join(parts)}</svg>'
    )


# heatmap cell colours by a feature's drift status in one window
HEAT_COLOURS = {
    "drifted": "#d9534f",
    "immaterial": "#f0ad4e",
    "ok": "#8fcf9a",
    "insufficient_data": "#d6d6d6",
}


@dataclass(frozen=True)
class Cell:
    status: str | None  # a HEAT_COLOURS key; None: not judged in that window
    tip: str  # the cell's tooltip
    href: str | None = None  # a link (e.g. that feature and window's detail)
    opacity: float | None = None  # lighter for a weaker verdict (an aggregate's share)


def heatmap(
    rows: Sequence[str],
    columns: Sequence[str],
    cells: Sequence[Sequence[Cell]],
    *,
    title: str,
    cell: int = 10,
) -> str:
    """A grid of `rows` (e.g. features) × `columns` (e.g. windows), one coloured cell per
    pair (`cells[row][column]`), each with a tooltip and an optional link. The columns
    shrink to fit about 900 pixels; the row labels are written on the left."""
    label_w = min(max((len(r) for r in rows), default=4) * 7 + 8, 200)
    w = max(2.0, min(float(cell), 900 / max(len(columns), 1)))
    width = max(label_w + w * len(columns) + 8, 360)
    height = _PAD_T + cell * len(rows) + 16
    parts = [f'<text x="4" y="14" font-size="12" font-weight="600">{escape(title)}</text>']
    for i, name in enumerate(rows):
        y = _PAD_T + i * cell
        parts.append(
            f'<text x="{label_w - 4}" y="{y + cell - 2}" font-size="9" text-anchor="end">'
            f"{escape(name)}</text>"
        )
        for j, c in enumerate(cells[i][: len(columns)]):
            colour = HEAT_COLOURS.get(c.status or "", "#ffffff")
            shade = "" if c.opacity is None else f' fill-opacity="{c.opacity:.2f}"'
            rect = (
                f'<rect class="cell" data-status="{escape(c.status or "none")}" '
                f'x="{label_w + j * w:.1f}" y="{y}" width="{max(w - 1, 1):.1f}" '
                f'height="{cell - 1}" fill="{colour}"{shade}><title>{escape(c.tip)}</title></rect>'
            )
            parts.append(rect if c.href is None else f'<a href="{escape(c.href)}">{rect}</a>')
    if columns:
        bottom = _PAD_T + cell * len(rows) + 12
        parts.append(f'<text x="{label_w}" y="{bottom}" font-size="9">{escape(columns[0])}</text>')
        if len(columns) > 1:
            parts.append(
                f'<text x="{width - 8:.1f}" y="{bottom}" font-size="9" text-anchor="end">'
                f"{escape(columns[-1])}</text>"
            )
    return (
        f'<svg class="chart heatmap" width="{width:.0f}" height="{height}" role="img" '
        f'data-rows="{len(rows)}" data-columns="{len(columns)}" '
        f'aria-label="{escape(title)}">{"".join(parts)}</svg>'
    )
