"""Inline panels: ``runs`` (run table), ``plot_metrics`` (metric curves), ``compare`` (parallel
coordinates, diff, overlaid curves) and the live card of ``%%track`` cells.

All are anywidget/ipywidgets views (plots through our small anywidget, ``plot.py``), so ``pip install``
is all a front end needs: JupyterLab 4, Notebook 7, VS Code and Colab render them. Each also
carries a static HTML version for saved notebooks and HTML exports. They read the store through
``query.py`` only.
"""

from .compare import Comparison, compare
from .curves import MetricCurves, plot_metrics
from .table import RunTable, runs

__all__ = ["Comparison", "MetricCurves", "RunTable", "compare", "plot_metrics", "runs"]
