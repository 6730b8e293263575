"""Where training runs: one device, every device of this machine, or several machines.

- ``"mirrored"``: ``tf.distribute.MirroredStrategy`` splits each batch across the devices of one
  machine (GPUs; two logical CPU devices in the tests) and keeps one copy of every variable per
  device, summing the gradients before each update.
- ``"multi-worker"``: ``tf.distribute.MultiWorkerMirroredStrategy`` does the same across
  processes, usually one per machine, described by ``TF_CONFIG`` as TensorFlow defines it
  (``{"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker", "index": i}}``).
- ``"auto"``: mirrored when two or more GPUs are visible, else one device.

Build models inside ``strategy.scope()``; ``fine_tune`` and ``fast_fine_tune`` then train under
the strategy the model was built in, and ``extract_features`` / ``extract_activations`` take the
strategy to split their frozen pass (``training.sharding``).
"""

from __future__ import annotations

import json
import os
import socket
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import tensorflow as tf

from tl_helpers.config import CONNECT_TIMEOUT_S, STRATEGIES
from tl_helpers.errors import CourseError, CourseWarning

__all__ = [
    "CONNECT_TIMEOUT_S",
    "STRATEGIES",
    "ClusterTask",
    "Worker",
    "current_worker",
    "distributed_data",
    "distribution_strategy",
    "local_addresses",
    "read_tf_config",
    "wait_for_workers",
]


_EXAMPLE = (
    '{"cluster": {"worker": ["10.0.0.1:12345", "10.0.0.2:12345"]}, '
    '"task": {"type": "worker", "index": 0}}'
)


@dataclass(frozen=True)
class ClusterTask:
    """One process of a cluster: every address in TensorFlow's order (chief first), and which
    of them this process is."""

    addresses: tuple[str, ...]
    index: int

    @property
    def address(self) -> str:
        return self.addresses[self.index]


@dataclass(frozen=True)
class Worker:
    """This process's place among the workers sharing a job: worker 0 (the chief) merges and
    saves; ``count == 1`` means no other process takes part."""

    index: int = 0
    count: int = 1

    @property
    def is_chief(self) -> bool:
        return self.index == 0


def _bad_config(reason: str) -> CourseError:
    return CourseError(
        f"TF_CONFIG is not usable: {reason}. Set it on every machine to JSON like {_EXAMPLE} "
        "(the same cluster everywhere, each machine its own task index)"
    )


def read_tf_config(text: str | None = None) -> ClusterTask:
    """The cluster and this task from ``TF_CONFIG`` (``text``, default the environment variable),
    checked: JSON, a ``cluster`` with ``worker`` (and at most one ``chief``) lists of
    ``host:port``, a ``task`` whose type is one of them and whose index is in range."""
    text = os.environ.get("TF_CONFIG", "") if text is None else text
    if not text.strip():
        raise _bad_config("it is not set")
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as error:
        raise _bad_config(f"not valid JSON ({error.msg} at character {error.pos})") from None
    if not isinstance(parsed, dict) or not isinstance(parsed.get("cluster"), dict):
        raise _bad_config('no "cluster" object')
    cluster, task = parsed["cluster"], parsed.get("task")
    jobs = {name: cluster[name] for name in ("chief", "worker") if name in cluster}
    unknown = sorted(set(cluster) - {"chief", "worker"})
    if unknown:
        raise _bad_config(f"jobs {unknown} are not used here; only 'chief' and 'worker' are")
    if not jobs.get("worker") and not jobs.get("chief"):
        raise _bad_config('the cluster names no "worker" addresses')
    for name, addresses in jobs.items():
        if not isinstance(addresses, list) or not all(
            isinstance(a, str) and a.rpartition(":")[2].isdigit() and a.rpartition(":")[0]
            for a in addresses
        ):
            raise _bad_config(f'"{name}" must be a list of "host:port" strings, got {addresses!r}')
    if len(jobs.get("chief", [])) > 1:
        raise _bad_config(f"at most one chief, got {len(jobs['chief'])}")
    if not isinstance(task, dict) or task.get("type") not in jobs:
        raise _bad_config(f'"task" must be {{"type": one of {sorted(jobs)}, "index": i}}')
    index = task.get("index")
    members = jobs[task["type"]]
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(members):
        raise _bad_config(
            f'task index {index!r} is not one of the {len(members)} "{task["type"]}" entries'
        )
    addresses = tuple(jobs.get("chief", [])) + tuple(jobs.get("worker", []))
    if len(set(addresses)) != len(addresses):
        raise _bad_config("an address appears twice")
    offset = len(jobs.get("chief", [])) if task["type"] == "worker" else 0
    return ClusterTask(addresses, offset + index)


def local_addresses(count: int) -> list[str]:
    """``count`` free ``127.0.0.1:port`` addresses: a cluster of processes on this machine, to try
    ``TF_CONFIG`` before renting machines (the tests and ``benchmarks/distributed.py`` use it)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for each in sockets:
            each.bind(("127.0.0.1", 0))
        return [f"127.0.0.1:{each.getsockname()[1]}" for each in sockets]
    finally:
        for each in sockets:
            each.close()


def wait_for_workers(task: ClusterTask, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """Listen on this task's port and wait until every other task's port answers, or give up
    after ``timeout_s`` seconds naming the addresses that did not.

    TensorFlow itself would wait for a missing worker for a very long time, silently; this check
    runs first. This process's own listener keeps answering the others until it returns (then
    TensorFlow's server takes the port over; the others retry in between)."""
    port = task.address.rpartition(":")[2]
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(("", int(port)))
    except OSError as error:
        listener.close()
        raise CourseError(
            f"cannot listen on port {port} for {task.address} ({error.strerror}): another "
            "program uses it; choose a free port in TF_CONFIG"
        ) from None
    listener.listen(16)
    listener.settimeout(0.05)
    waiting = [a for i, a in enumerate(task.addresses) if i != task.index]
    deadline = time.monotonic() + timeout_s
    try:
        while waiting:
            for address in list(waiting):
                peer_host, _, peer_port = address.rpartition(":")
                try:
                    socket.create_connection((peer_host, int(peer_port)), timeout=1.0).close()
                    waiting.remove(address)
                except OSError:
                    pass
            try:  # answer the others' checks while waiting
                listener.accept()[0].close()
            except OSError:
                pass
            if waiting and time.monotonic() > deadline:
                raise CourseError(
                    f"{task.address} could not reach {', '.join(waiting)} within {timeout_s:.0f} s: "
                    "start the same command there with its own TF_CONFIG task index, and check "
                    "that the address is right and its port is open between the machines"
                )
        # Keep answering briefly, so that a peer that started late also sees this process.
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            try:
                listener.accept()[0].close()
            except OSError:
                pass
    finally:
        listener.close()


class _KerasReduce:
    """A strategy's ``reduce`` that accepts what Keras 3 hands it.

    Keras 3 (3.x up to this course's pin) makes two calls that TensorFlow's strategies reject,
    so ``model.fit`` fails before its first step (keras-team/keras#20585):
    - to build the model it reduces a whole ``(x, y)`` batch with ``"MEAN"`` over no axis, only
      to learn the batch's shapes; the replicas' slices differ in size when a batch does not
      divide evenly (the last one of an epoch), so each keeps its own slice, which has the
      shapes Keras needs (``MirroredStrategy`` fails there too);
    - with several workers it reduces scalar metrics with ``axis=0``; a scalar has no axis 0, so
      they are averaged over the replicas as they are.
    Meant for Keras training: ``distribution_strategy`` returns strategies with this ``reduce``."""

    def reduce(self, reduce_op, value, axis):  # noqa: ANN001, ANN201 - TensorFlow's signature
        strategy = cast(tf.distribute.Strategy, self)

        def one(tensor):  # noqa: ANN001, ANN202
            local = strategy.experimental_local_results(tensor)[0]
            rank = local.shape.rank
            if axis is None and rank and str(reduce_op).upper().endswith("MEAN"):
                return local  # Keras's symbolic build: shapes are all it reads
            return super(_KerasReduce, self).reduce(  # pyright: ignore[reportAttributeAccessIssue]
                reduce_op, tensor, None if rank == 0 else axis
            )

        return tf.nest.map_structure(one, value)


class _MultiWorkerStrategy(_KerasReduce, tf.distribute.MultiWorkerMirroredStrategy):
    """``MultiWorkerMirroredStrategy`` with ``_KerasReduce``."""


class _MirroredStrategy(_KerasReduce, tf.distribute.MirroredStrategy):
    """``MirroredStrategy`` with ``_KerasReduce``."""


def distribution_strategy(
    name: str = "auto",
    devices: Sequence[str] | None = None,
    connect_timeout_s: float = CONNECT_TIMEOUT_S,
) -> tf.distribute.Strategy:
    """The strategy ``name`` (one of ``STRATEGIES``) over ``devices`` (default: every GPU).

    ``"auto"`` gives ``MirroredStrategy`` with two or more GPUs, else the default strategy (one
    CPU or one GPU, nothing to synchronise). ``"mirrored"`` insists on two or more devices.
    ``"multi-worker"`` reads ``TF_CONFIG`` and waits up to ``connect_timeout_s`` for the other
    workers (``wait_for_workers``) before TensorFlow connects them."""
    if name not in STRATEGIES:
        raise CourseError(f"unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}")
    if name == "multi-worker":
        # Before anything else touches TensorFlow's devices: the multi-worker strategy must
        # configure them itself, at start-up.
        task = read_tf_config()
        wait_for_workers(task, connect_timeout_s)
        return _MultiWorkerStrategy()
    if devices is None:
        devices = [device.name for device in tf.config.list_logical_devices("GPU")]
    if name == "mirrored" and len(devices) < 2:
        raise CourseError(
            f"--strategy mirrored needs two or more devices, but this machine shows {len(devices)} "
            f"({', '.join(devices) or 'no GPU'}); use --strategy auto to train on one device"
        )
    if os.environ.get("TF_CONFIG") and name == "auto":
        warnings.warn(
            "TF_CONFIG is set, but strategy 'auto' trains on this machine alone; "
            "use 'multi-worker' to train with the cluster it describes",
            CourseWarning,
            stacklevel=2,
        )
    if len(devices) > 1:
        return _MirroredStrategy(list(devices))  # pyright: ignore[reportCallIssue] (the mixin hides the signature)
    return tf.distribute.get_strategy()


def current_worker(strategy: tf.distribute.Strategy | None) -> Worker:
    """This process's place among the workers of ``strategy`` (``Worker()`` for a strategy on
    one machine, or none)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) or resolver is None:
        return Worker()
    spec = resolver.cluster_spec()
    chiefs = spec.num_tasks("chief") if "chief" in spec.jobs else 0
    workers = spec.num_tasks("worker") if "worker" in spec.jobs else 0
    offset = chiefs if resolver.task_type == "worker" else 0
    return Worker(index=offset + int(resolver.task_id or 0), count=max(1, chiefs + workers))


def distributed_data(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """``dataset`` marked to be split across workers by element (``AutoShardPolicy.DATA``).

    Every worker then builds the same batches as one process would and keeps its own slice of
    each: the global batch is ``batch_size``, each of ``n`` replicas computes ``batch_size / n``
    examples, and the summed gradients equal one process's, so the learning rate stays as it is.
    (The course's datasets are made from lists of files or arrays, which the default policy
    would try to split by file and, failing, split this way after a warning.)"""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)
