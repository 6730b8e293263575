"""Figures for the notebooks. Each function returns a matplotlib ``Figure`` and never blocks:
figures are built without pyplot, so nothing stays open behind your back and a script can
save them with ``figure.savefig(path)``. In a notebook, a returned figure is shown inline once
``show_figures_inline()`` (called by ``setup_notebook()``) has told IPython how.

``figures``: data, training and evaluation; ``comparisons``: a wrong way next to the right way."""

from tl_helpers.plots.comparisons import (
    outcome_bars,
    outcome_curves,
    photo_at_size,
    pitfall_overview,
)
from tl_helpers.plots.figures import (
    PhotoGrid,
    accuracy_over_time,
    augmentation_grid,
    confident_mistakes,
    confusion_matrix,
    deployment_plot,
    feature_pca,
    gradcam_grid,
    learning_curves,
    pareto_plot,
    sample_grid,
    show_figures_inline,
)

__all__ = [
    "PhotoGrid",
    "accuracy_over_time",
    "augmentation_grid",
    "confident_mistakes",
    "confusion_matrix",
    "deployment_plot",
    "feature_pca",
    "gradcam_grid",
    "learning_curves",
    "outcome_bars",
    "outcome_curves",
    "pareto_plot",
    "photo_at_size",
    "pitfall_overview",
    "sample_grid",
    "show_figures_inline",
]
