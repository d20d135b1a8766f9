"""The dashboard's activity chart, drawn on the server as SVG geometry for a template."""

from dataclasses import dataclass

WIDTH, HEIGHT = 640, 200
LEFT, RIGHT, BOTTOM, TOP = 32, 24, 24, 10


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    kind: str  # "issued" or "returned"
    value: int
    day: object


def activity_chart(days):
    """Paired bars per day (issued, returned), scaled to the busiest day."""
    peak = max([1] + [max(d.issued, d.returned) for d in days])
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - BOTTOM - TOP
    slot = plot_w / max(1, len(days))
    bar_w = slot * 0.4
    bars = []
    for i, d in enumerate(days):
        for j, (kind, value) in enumerate((("issued", d.issued), ("returned", d.returned))):
            h = plot_h * value / peak
            x = LEFT + i * slot + slot * 0.1 + j * bar_w
            bars.append(
                Bar(
                    round(x, 1),
                    round(TOP + plot_h - h, 1),
                    round(bar_w, 1),
                    round(h, 1),
                    kind,
                    value,
                    d.day,
                )
            )
    ticks = [(round(TOP + plot_h - plot_h * v / peak, 1), v) for v in sorted({0, peak // 2, peak})]
    labels = [
        (round(LEFT + i * slot + slot / 2, 1), d.day)
        for i, d in enumerate(days)
        if (len(days) - 1 - i) % 7 == 0  # weekly, ending today
    ]
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "left": LEFT,
        "baseline": TOP + plot_h,
        "bars": bars,
        "ticks": ticks,
        "labels": labels,
        "issued": sum(d.issued for d in days),
        "returned": sum(d.returned for d in days),
    }
