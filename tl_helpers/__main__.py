"""``python -m tl_helpers ...``: see ``tl_helpers.cli``."""

import os
import sys

from tl_helpers.interrupts import INTERRUPTED, say_interrupted  # the standard library only

try:
    from tl_helpers.cli import main
except KeyboardInterrupt:  # Ctrl-C while the command line itself is being imported
    say_interrupted(" while starting")
    os._exit(INTERRUPTED)

exit_code = main()
if exit_code == INTERRUPTED:
    # Exit at once: an interrupt that passed through some compiled extensions makes Python end
    # the process by SIGINT at shutdown even though it was handled. Files are already cleaned up.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(exit_code)
raise SystemExit(exit_code)
