"""Models: classifier heads on pretrained bases, freezing and fine-tuning rules, save and load,
and the one way to get class probabilities."""

from tl_helpers.models import build, freezing, predict, saving
from tl_helpers.models.build import *  # noqa: F403 (each module's __all__ is the public part)
from tl_helpers.models.freezing import *  # noqa: F403 (each module's __all__ is the public part)
from tl_helpers.models.predict import *  # noqa: F403 (each module's __all__ is the public part)
from tl_helpers.models.saving import *  # noqa: F403 (each module's __all__ is the public part)

__all__ = []  # filled from the modules: one list each, not a copy
__all__ += build.__all__
__all__ += freezing.__all__
__all__ += predict.__all__
__all__ += saving.__all__
