"""``python -m tl_helpers ...``: see ``tl_helpers.cli``."""

from tl_helpers.cli import main

raise SystemExit(main())
