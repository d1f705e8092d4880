"""Histograms drawn as standalone SVG images (no script, no external font or stylesheet).

>>> svg = histogram_svg([(0.0, 0.5, 3), (0.5, 1.0, 1)], "numeric", "conv_rate")
>>> svg.startswith("<svg") and svg.count("<rect") == 3
True
"""

from __future__ import annotations

from html import escape
from typing import Any

WIDTH, HEIGHT, PAD = 260, 96, 4
BAR_AREA = 64


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if value != 0 and (abs(value) >= 1e6 or abs(value) < 1e-3):
            return f"{value:.3g}"
        return f"{value:,.3f}".rstrip("0").rstrip(".")
    return str(value)


def histogram_svg(bins: list[tuple[Any, Any, int]], kind: str, title: str) -> str:
    """An SVG bar chart: numeric bins (low, high, count) or categories (value, None, count)."""
    shown = bins if kind == "numeric" else bins[:12]
    peak = max((c for _, _, c in shown), default=0) or 1
    n = max(len(shown), 1)
    step = (WIDTH - 2 * PAD) / n
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)} histogram">',
        f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#fbfcfe"/>',
    ]
    for i, (low, high, count) in enumerate(shown):
        h = BAR_AREA * count / peak
        x = PAD + i * step
        label = f"[{_fmt(low)}, {_fmt(high)}): {count:,}" if kind == "numeric" else f"{low}: {count:,}"
        parts.append(
            f'<rect x="{x + 0.5:.1f}" y="{PAD + BAR_AREA - h:.1f}" width="{max(step - 1, 1):.1f}" '
            f'height="{max(h, 0.5 if count else 0):.1f}" fill="#3b6fb6"><title>{escape(label)}</title></rect>'
        )
    style = 'font-family="sans-serif" font-size="10" fill="#445"'
    if kind == "numeric" and shown:
        parts.append(f'<text x="{PAD}" y="{HEIGHT - 16}" {style}>{escape(_fmt(shown[0][0]))}</text>')
        parts.append(
            f'<text x="{WIDTH - PAD}" y="{HEIGHT - 16}" text-anchor="end" {style}>{escape(_fmt(shown[-1][1]))}</text>'
        )
    elif shown:
        names = ", ".join(str(v) for v, _, _ in shown[:4]) + (" ..." if len(shown) > 4 else "")
        parts.append(f'<text x="{PAD}" y="{HEIGHT - 16}" {style}>{escape(names[:48])}</text>')
    parts.append(f'<text x="{PAD}" y="{HEIGHT - 4}" {style}>peak {peak:,} rows a bin</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
