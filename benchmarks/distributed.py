"""The frozen pass in one process against two workers on this machine (127.0.0.1).

    TL_MIRROR=../shared/mirror python benchmarks/distributed.py [--photos 600] [--json tl_helpers/records/distributed.json]

The first ``--photos`` training photos of flowers (by file name) go through the frozen bottom of
``efficientnet_lite0`` (cut before its last block, with mirror images: what ``train`` runs), each
run with its own empty cache: once in one process, then in two worker processes started with
their own ``TF_CONFIG`` (``distribution_strategy("multi-worker")``), which split the photos by
file-name hash and merge through the shared cache. Reported: wall-clock times from start to the
last process's exit (TensorFlow's start-up included) and of the pass itself, their ratios, and
whether the merged activations equal the single process's exactly. Both runs share the same
cores, so this measures the cost of splitting, not the gain from more machines.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import finish

PROJECT = Path(__file__).resolve().parent.parent
IMAGE_SIZE = 224


def _worker(args: argparse.Namespace) -> int:
    """One process of the benchmark: the frozen pass over the chosen photos."""
    from tl_helpers.startup import import_tensorflow, quiet_training_logs

    import_tensorflow()
    quiet_training_logs()
    import numpy as np

    from tl_helpers.backbones import build_backbone
    from tl_helpers.data import dataset_splits, fetch
    from tl_helpers.data.splits import Split
    from tl_helpers.training import distribution_strategy, extract_activations, split_backbone

    strategy = distribution_strategy(args.strategy)
    train = dataset_splits("flowers", fetch("flowers", verbose=False)).train
    chosen = Split(train.files[: args.photos], train.labels[: args.photos])
    parts = split_backbone(build_backbone("efficientnet_lite0", (IMAGE_SIZE, IMAGE_SIZE)), 1)
    start = time.perf_counter()
    computed = extract_activations(parts, chosen, verbose=False, strategy=strategy)
    seconds = time.perf_counter() - start
    np.savez(args.out, activations=computed.activations, flipped=computed.flipped)
    print(json.dumps({"pass_s": seconds}))
    return 0


def _run(processes: list[tuple[list[str], dict]]) -> tuple[float, list[float]]:
    start = time.perf_counter()
    running = [
        subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=PROJECT, env=env)
        for command, env in processes
    ]
    outputs = [p.communicate()[0] for p in running]
    wall = time.perf_counter() - start
    if any(p.returncode for p in running):
        raise SystemExit(f"a benchmark process failed: {outputs}")
    return wall, [json.loads(o.strip().splitlines()[-1])["pass_s"] for o in outputs]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=600)
    parser.add_argument("--json")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--strategy", default="auto", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return _worker(args)
    import numpy as np

    me = [sys.executable, str(Path(__file__).resolve()), "--worker", "--photos", str(args.photos)]
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        single_env = {**os.environ, "TL_CACHE_DIR": str(folder / "single-cache")}
        single_wall, (single_pass,) = _run(
            [([*me, "--out", str(folder / "single.npz")], single_env)]
        )
        from tl_helpers.training.strategy import local_addresses

        addresses = local_addresses(2)
        shared_env = {**os.environ, "TL_CACHE_DIR": str(folder / "shared-cache")}
        workers = []
        for index in range(2):
            config = {"cluster": {"worker": addresses}, "task": {"type": "worker", "index": index}}
            command = [*me, "--strategy", "multi-worker", "--out", str(folder / f"w{index}.npz")]
            workers.append((command, {**shared_env, "TF_CONFIG": json.dumps(config)}))
        workers_wall, workers_pass = _run(workers)
        single = np.load(folder / "single.npz")
        merged = [np.load(folder / f"w{index}.npz") for index in range(2)]
        equal = all(
            np.array_equal(m[name], single[name])
            for m in merged
            for name in ("activations", "flipped")
        )
    results = {
        "photos": args.photos,
        "image_size": IMAGE_SIZE,
        "cpu_count": os.cpu_count(),
        "single_process": {"wall_s": round(single_wall, 1), "pass_s": round(single_pass, 1)},
        "two_workers": {
            "wall_s": round(workers_wall, 1),
            "pass_s": [round(s, 1) for s in workers_pass],
        },
        "wall_ratio_two_over_one": round(workers_wall / single_wall, 2),
        "pass_ratio_two_over_one": round(max(workers_pass) / single_pass, 2),
        "merged_equals_single": equal,
    }
    print(json.dumps(results, indent=2))
    return finish(
        results, {"two workers' merged activations equal one process's": equal}, args.json
    )


if __name__ == "__main__":
    sys.exit(main())
