"""Shape-preserving downsampling of long metric series for charts."""

from __future__ import annotations

import numpy as np


def downsample_indices(x: np.ndarray, y: np.ndarray, n_out: int) -> np.ndarray:
    """Indices of at most ``n_out`` points that keep the series' shape (MinMaxLTTB via tsdownsample).

    NaN values are kept out of the selection (they cannot be drawn) but the first and last points
    are always included, as are the global minimum and maximum.
    """
    from tsdownsample import MinMaxLTTBDownsampler

    n_out = max(int(n_out), 4)
    finite = np.isfinite(y)
    positions = np.flatnonzero(finite)
    if len(positions) <= n_out:
        return positions
    xs = np.asarray(x, dtype=np.float64)[positions]
    ys = np.asarray(y, dtype=np.float64)[positions]
    order = np.argsort(xs, kind="stable")
    chosen = MinMaxLTTBDownsampler().downsample(xs[order], ys[order], n_out=n_out)
    picked = positions[order[chosen]]
    extremes = positions[[int(np.argmin(ys)), int(np.argmax(ys)), 0, len(positions) - 1]]
    return np.unique(np.concatenate([picked, extremes]))
