"""A matplotlib Figure that shows itself in Jupyter without pyplot.

A :class:`matplotlib.figure.Figure` made without pyplot has no display hook: returned from a
notebook cell it prints ``<Figure size 1400x1000 with 1 Axes>`` unless pyplot's inline backend
was loaded first. :class:`NotebookFigure` adds ``_repr_png_``, which IPython's display
formatter calls for ``image/png``, and lives on the Agg canvas (no GUI, no global pyplot
state). Needs matplotlib (``pip install 'kgif[plot]'``); import this module lazily.
"""

from __future__ import annotations

import io

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["NotebookFigure", "new_figure"]


class NotebookFigure(Figure):
    """:class:`~matplotlib.figure.Figure` with a PNG representation for notebooks."""

    def _repr_png_(self) -> bytes:
        """The figure as PNG bytes at its own dpi (IPython's ``image/png`` output)."""
        buffer = io.BytesIO()
        self.savefig(buffer, format="png")
        return buffer.getvalue()


def new_figure(figsize: tuple[float, float], **kwargs) -> NotebookFigure:
    """A :class:`NotebookFigure` of ``figsize`` inches on an Agg canvas.

    Args:
        figsize: (width, height) in inches.
        **kwargs: other :class:`~matplotlib.figure.Figure` arguments (e.g. ``layout``).
    """
    fig = NotebookFigure(figsize=figsize, **kwargs)
    FigureCanvasAgg(fig)
    return fig
