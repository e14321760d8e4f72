"""One colour per run for the whole kernel session: the run table's row swatch, its curves, its
parallel-coordinates line, its column in a comparison's diff and its live card all use the colour
``style_of(run_id)`` gave it first.

The palette holds 20 colours chosen to stay distinguishable with the common colour-vision
deficiencies (Okabe & Ito's 7, then Paul Tol's muted and bright schemes); the 21st run starts the
palette again with a dashed line, the 41st dotted, and so on.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#332288", "#117733",
           "#882255", "#44AA99", "#999933", "#AA4499", "#88CCEE", "#DDCC77", "#CC6677", "#4477AA",
           "#EE6677", "#228833", "#AA3377", "#555555")
DASHES = ("solid", "dash", "dot", "dashdot")
# SVG stroke-dasharray of each plotly dash style, for the static charts
SVG_DASHES = {"solid": "", "dash": "6,3", "dot": "1.5,2.5", "dashdot": "6,2,1.5,2"}

_lock = threading.Lock()
_assigned: dict[str, int] = {}


@dataclass(frozen=True)
class RunStyle:
    """A run's colour and line dash (plotly's names: solid, dash, dot, dashdot)."""

    color: str
    dash: str


def style_of(key: str) -> RunStyle:
    """The style of ``key`` (a run id, or a group label such as ``"params.optimizer=sgd"``), the
    same for the rest of this session; the first key asked for gets the first colour."""
    with _lock:
        index = _assigned.setdefault(key, len(_assigned))
    return RunStyle(PALETTE[index % len(PALETTE)], DASHES[(index // len(PALETTE)) % len(DASHES)])


def color_of(key: str) -> str:
    """``style_of(key).color``."""
    return style_of(key).color


def rgba(color: str, alpha: float) -> str:
    """``#rrggbb`` as a CSS ``rgba()`` with ``alpha`` (the band of a group's min-max range)."""
    red, green, blue = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red},{green},{blue},{alpha})"
