"""Self-check helpers for the notebooks' exercises.

Each ``check_*`` function takes the learner's answer, works out the right one from the real data
or by testing the learner's function, prints a short verdict with a hint, and returns ``True``
or ``False``. Nothing is hard-coded: the answer is recomputed every time. ``checks``: look-ups and
small functions; ``decisions``: choices made from measurements, checked against the stated rule;
``measurements``: the open exercises' new measurements, checked from what the learner measured.
"""

from tl_helpers.exercises import checks, decisions, measurements
from tl_helpers.exercises.checks import *  # noqa: F403 (each module's __all__ is the public part)
from tl_helpers.exercises.decisions import *  # noqa: F403 (each module's __all__ is the public part)
from tl_helpers.exercises.measurements import *  # noqa: F403 (each module's __all__ is the public part)

__all__ = []  # filled from the modules below: one list each, not a copy
__all__ += checks.__all__
__all__ += decisions.__all__
__all__ += measurements.__all__
