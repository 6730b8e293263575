"""Self-check helpers for the notebooks' exercises.

Each ``check_*`` function takes the learner's answer, works out the right one from the real data
or by testing the learner's function, prints a short verdict with a hint, and returns ``True``
or ``False``. Nothing is hard-coded: the answer is recomputed every time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from tl_helpers.data.splits import DatasetSplits, Split


def _verdict(ok: bool, success: str, hint: str) -> bool:
    print(("correct: " + success) if ok else ("not yet: " + hint))
    return ok


def check_test_counts(splits: DatasetSplits, answer: Mapping[str, int]) -> bool:
    """Exercise: how many test images does each class have?"""
    expected = splits.counts()["test"]
    return _verdict(dict(answer) == expected, f"{sum(expected.values())} test images, per class as you said.",
                    "count the labels of splits.test; splits.counts() can check your work, but try without it first.")


def check_overlap_function(shares_a_file: Callable[[Split, Split], bool]) -> bool:
    """Exercise: write ``shares_a_file(a, b)`` that is True when two splits have a file in common."""
    a = Split((Path("x/1.jpg"), Path("x/2.jpg")), (0, 1))
    b = Split((Path("x/3.jpg"),), (0,))
    c = Split((Path("x/2.jpg"), Path("x/4.jpg")), (1, 0))
    cases = [(a, b, False), (a, c, True), (b, b, True), (Split((), ()), a, False)]
    wrong = [(len(x), len(y), want) for x, y, want in cases if bool(shares_a_file(x, y)) != want]
    return _verdict(not wrong, "your function spots shared files and only those.",
                    f"{len(wrong)} of {len(cases)} test cases gave the wrong answer; compare sets of files, e.g. set(a.files) & set(b.files).")


def check_smallest_image(split: Split, answer: str | Path) -> bool:
    """Exercise: which file of ``split`` has the fewest pixels?"""
    from PIL import Image

    def pixels(path: Path) -> int:
        with Image.open(path) as image:
            return image.width * image.height

    smallest = min(split.files, key=pixels)
    ok = Path(answer).name == smallest.name
    return _verdict(ok, f"{smallest.name} is the smallest ({pixels(smallest):,} pixels).",
                    "open each file with PIL.Image.open and compare width * height; only the header is read, so it is quick.")
