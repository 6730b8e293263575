"""Benchmark: memory a frozen pass takes per pixel of each photo (``tl_helpers.limits``).

    python benchmarks/memory_per_pixel.py [--json results.json]

For each EfficientNet-Lite backbone, a fresh process builds the pooled base at a small and a large
square size and runs one batch of 32 photos through it, the way ``extract_features`` does; its
peak resident memory is read at the end. The slope between the two sizes, divided by the batch and
the pixels added, is the memory per pixel per photo; ``limits.PEAK_BYTES_PER_PIXEL`` must not be
below the largest one measured (exit status 1 if it is).
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from common import finish

SIZES, BATCH = (256, 640), 32
BACKBONES = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")
PASS = """
import json, resource, sys
import numpy as np
from tl_helpers.training import pooled_backbone
size, batch = int(sys.argv[2]), int(sys.argv[3])
model = pooled_backbone(sys.argv[1], (size, size))
model.predict(np.zeros((batch, size, size, 3), np.float32), batch_size=batch, verbose=0)
print(json.dumps(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024))
"""


def peak_bytes(backbone: str, size: int) -> int:
    command = [sys.executable, "-c", PASS, backbone, str(size), str(BATCH)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return int(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    from tl_helpers.limits import PEAK_BYTES_PER_PIXEL

    results: dict = {"sizes": SIZES, "batch": BATCH, "bytes_per_pixel": {}}
    for backbone in BACKBONES:
        small, large = (peak_bytes(backbone, size) for size in SIZES)
        per_pixel = (large - small) / (BATCH * (SIZES[1] ** 2 - SIZES[0] ** 2))
        results["bytes_per_pixel"][backbone] = per_pixel
        print(f"{backbone}: peak {small / 2**30:.2f} GB at {SIZES[0]} px, "
              f"{large / 2**30:.2f} GB at {SIZES[1]} px: {per_pixel:.0f} bytes per pixel per photo")  # fmt: skip
    worst = max(results["bytes_per_pixel"].values())
    checks = {f"PEAK_BYTES_PER_PIXEL ({PEAK_BYTES_PER_PIXEL}) >= measured ({worst:.0f})": (
        PEAK_BYTES_PER_PIXEL >= worst
    )}  # fmt: skip
    results["limit"] = PEAK_BYTES_PER_PIXEL
    return finish(results, checks, args.json)


if __name__ == "__main__":
    sys.exit(main())
