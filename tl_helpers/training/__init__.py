"""Training: cached feature extraction, head training, end-to-end fitting, fine-tuning and fast
fine-tuning on cached activations."""

from tl_helpers.training import (
    activations,
    budget,
    cached_pass,
    callbacks,
    choosing,
    cross_validation,
    cutting,
    fast_fine_tuning,
    features,
    folder,
    recipes,
    sharding,
    strategy,
)
from tl_helpers.training.activations import *  # noqa: F403 (each module's __all__ is the public part)
from tl_helpers.training.budget import *  # noqa: F403 (each module's __all__ is the public part)
from tl_helpers.training.cached_pass import *  # noqa: F403 (each module's __all__ is the public part)
from tl_helpers.training.callbacks import *  # noqa: F403 (each module's __all__ is the public part)
from tl_helpers.training.choosing import *  # noqa: F403 (each module's __all__ is the public part)
from tl_helpers.training.cross_validation import *  # noqa: F403 (each module's __all__ is the public part)
from tl_helpers.training.cutting import *  # noqa: F403 (each module's __all__ is the public part)
from tl_helpers.training.fast_fine_tuning import *  # noqa: F403 (each module's __all__ is the public part)
from tl_helpers.training.features import *  # noqa: F403 (each module's __all__ is the public part)
from tl_helpers.training.folder import *  # noqa: F403 (each module's __all__ is the public part)
from tl_helpers.training.recipes import *  # noqa: F403 (each module's __all__ is the public part)
from tl_helpers.training.sharding import *  # noqa: F403 (each module's __all__ is the public part)
from tl_helpers.training.strategy import *  # noqa: F403 (each module's __all__ is the public part)

__all__ = []  # filled from the modules: one list each, not a copy
__all__ += activations.__all__
__all__ += budget.__all__
__all__ += cached_pass.__all__
__all__ += callbacks.__all__
__all__ += choosing.__all__
__all__ += cross_validation.__all__
__all__ += cutting.__all__
__all__ += fast_fine_tuning.__all__
__all__ += features.__all__
__all__ += folder.__all__
__all__ += recipes.__all__
__all__ += sharding.__all__
__all__ += strategy.__all__
