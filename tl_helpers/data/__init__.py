"""Data: the dataset catalog, fetching (mirror, local archive or download), splits, checks.

Without TensorFlow: reading pixels (``data.decode``) and ``tf.data`` pipelines
(``data.pipelines``) are imported from their own modules."""

from tl_helpers.data import archives, catalog, fetching, images, splits, verify

# Under another name: the module's one function, download, takes its name in this package.
from tl_helpers.data import download as download_module
from tl_helpers.data.archives import *  # noqa: F403 (each module's __all__ is the public part)
from tl_helpers.data.catalog import *  # noqa: F403 (each module's __all__ is the public part)
from tl_helpers.data.download import *  # noqa: F403 (each module's __all__ is the public part)
from tl_helpers.data.fetching import *  # noqa: F403 (each module's __all__ is the public part)
from tl_helpers.data.images import *  # noqa: F403 (each module's __all__ is the public part)
from tl_helpers.data.splits import *  # noqa: F403 (each module's __all__ is the public part)
from tl_helpers.data.verify import *  # noqa: F403 (each module's __all__ is the public part)

__all__ = []  # filled from the modules: one list each, not a copy
__all__ += archives.__all__
__all__ += catalog.__all__
__all__ += download_module.__all__
__all__ += fetching.__all__
__all__ += images.__all__
__all__ += splits.__all__
__all__ += verify.__all__
