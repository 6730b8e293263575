"""Staging the classic transfer-learning mistakes, so that notebook 05 can measure them.

Each helper builds the *wrong* version of one step next to the right one, on the same data,
seed and budget, and returns numbers rather than opinions. They are small on purpose: the
notebook shows the mistake in its own cells; these functions only do the bookkeeping that
would otherwise bury the point (cloning a model so that experiments do not leak into each
other, iterating a ``tf.data`` pipeline epoch by epoch, resampling a test split).
"""

from tl_helpers.pitfalls import data, fine_tuning, heads, lint
from tl_helpers.pitfalls.data import *  # noqa: F403 (each module's __all__ is the public part)
from tl_helpers.pitfalls.fine_tuning import *  # noqa: F403 (each module's __all__ is the public part)
from tl_helpers.pitfalls.heads import *  # noqa: F403 (each module's __all__ is the public part)
from tl_helpers.pitfalls.lint import *  # noqa: F403 (each module's __all__ is the public part)

__all__ = []  # filled from the modules: one list each, not a copy
__all__ += data.__all__
__all__ += fine_tuning.__all__
__all__ += heads.__all__
__all__ += lint.__all__
