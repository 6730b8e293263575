"""The course's Jupyter kernel: the ordinary IPython kernel, started after a quiet TensorFlow import.

    python -m tl_helpers.kernel -f CONNECTION_FILE    what Jupyter runs to start a kernel
    python -m tl_helpers.kernel install               make it the "python3" kernel of this environment

TensorFlow's C++ start-up notices (see ``tl_helpers.startup``) would otherwise land in the first
notebook cell that imports it, as red text. ``make install`` (and so ``make lab`` and
``make test``) installs this kernel into ``.venv`` under the name the notebooks ask for,
``python3``, so JupyterLab and nbval both start it. Outside ``.venv`` the notebooks run with any
Python 3 kernel; only the notices come back.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

__all__ = ["install_kernelspec", "kernelspec", "main"]

KERNEL_NAME = "python3"  # the name in every notebook's metadata


def kernelspec() -> dict:
    """The ``kernel.json`` content: this Python, this module, IPython's usual settings."""
    return {
        "argv": [sys.executable, "-m", "tl_helpers.kernel", "-f", "{connection_file}"],
        "display_name": "Python 3 (transfer-learning course)",
        "language": "python",
        "metadata": {"debugger": True},
    }


def install_kernelspec(prefix: str | Path | None = None) -> Path:
    """Write the kernel spec into ``prefix``/share/jupyter/kernels/python3 (default: this
    environment, ``sys.prefix``) and return the file written."""
    folder = Path(prefix or sys.prefix) / "share" / "jupyter" / "kernels" / KERNEL_NAME
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "kernel.json"
    path.write_text(json.dumps(kernelspec(), indent=1) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["install"]:
        print(f"installed the course kernel: {install_kernelspec()}")
        return 0
    from tl_helpers.startup import brief_course_warnings, import_tensorflow

    import_tensorflow()
    brief_course_warnings()
    from ipykernel import kernelapp

    sys.argv = [sys.argv[0], *argv]
    kernelapp.launch_new_instance()
    return 0


if __name__ == "__main__":
    sys.exit(main())
