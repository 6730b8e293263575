"""Figures for the notebooks. Each function returns a matplotlib ``Figure`` and never blocks:
figures are built without pyplot, so nothing stays open behind your back and a script can
save them with ``figure.savefig(path)``. In a notebook, a returned figure is shown inline once
``show_figures_inline()`` (called by ``setup_notebook()``) has told IPython how.

``figures``: data, training and evaluation; ``comparisons``: a wrong way next to the right way."""

from tl_helpers.plots import comparisons, figures
from tl_helpers.plots.comparisons import *  # noqa: F403 (each module's __all__ is the public part)
from tl_helpers.plots.figures import *  # noqa: F403 (each module's __all__ is the public part)

__all__ = []  # filled from the modules below: one list each, not a copy
__all__ += comparisons.__all__
__all__ += figures.__all__
