"""``setup_notebook()``: what every notebook's first cell calls, and nothing happens without it.

Importing ``tl_helpers`` changes no global state. A notebook asks for the course's settings
explicitly, the way d2l's notebooks call ``use_svg_display()``:

- TensorFlow imported without its C++ start-up notices (``startup.import_tensorflow``);
- the course's warnings shown as one line (``startup.brief_course_warnings``);
- two known, harmless training messages hidden (``startup.quiet_training_logs``);
- figures returned by ``tl.plots`` shown inline, photos as JPEG (``plots.show_figures_inline``).
"""

from __future__ import annotations

from tl_helpers.startup import brief_course_warnings, import_tensorflow, quiet_training_logs

__all__ = ["setup_notebook"]


def setup_notebook() -> None:
    """Apply the course's notebook settings (safe to call more than once)."""
    import_tensorflow()
    brief_course_warnings()
    quiet_training_logs()
    from tl_helpers.plots import show_figures_inline

    show_figures_inline()
