"""tf.distribute: TF_CONFIG, waiting for workers, sharding the frozen pass, backups, and real
processes: two logical CPU devices, and two workers on 127.0.0.1 (one killed and restarted)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import write_image
from tl_helpers.cli import build_parser, main
from tl_helpers.data.folders import folder_splits
from tl_helpers.data.splits import Split
from tl_helpers.errors import CourseError, CourseWarning
from tl_helpers.models import compile_classifier
from tl_helpers.training import (
    STRATEGIES,
    ClusterTask,
    Worker,
    backup_callback,
    current_worker,
    distributed_data,
    distribution_strategy,
    fit,
    frozen_copy,
    frozen_pass,
    local_addresses,
    merge_shards,
    read_tf_config,
    shard_of,
    shard_path,
    shard_positions,
    sharded_pass,
    wait_for_workers,
)

# Real processes and clusters, waited on with time limits: run alone, not beside other tests.
pytestmark = pytest.mark.serial

PROJECT = Path(__file__).resolve().parent.parent
WORKER = PROJECT / "tests" / "distributed_worker.py"


def _free_ports(count: int) -> list[int]:
    return [int(address.rpartition(":")[2]) for address in local_addresses(count)]


def _run_alone(command: list[str], cache: Path) -> subprocess.CompletedProcess:
    """One process with its own cache folder; fails the test with its output if it fails."""
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=PROJECT,
        env={**os.environ, "TL_CACHE_DIR": str(cache)},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def _tf_config(addresses: list[str], index: int) -> str:
    return json.dumps(
        {"cluster": {"worker": addresses}, "task": {"type": "worker", "index": index}}
    )


# ----------------------------------------------------------------------------------------------
# TF_CONFIG and connecting
# ----------------------------------------------------------------------------------------------


def test_tf_config_is_read_as_tensorflow_defines_it():
    task = read_tf_config(_tf_config(["10.0.0.1:2222", "10.0.0.2:2222"], 1))
    assert task == ClusterTask(("10.0.0.1:2222", "10.0.0.2:2222"), 1)
    assert task.address == "10.0.0.2:2222"
    # A chief comes first in TensorFlow's order; worker 0 is then the second task.
    with_chief = json.dumps(
        {
            "cluster": {"chief": ["a:1"], "worker": ["b:2", "c:3"]},
            "task": {"type": "worker", "index": 0},
        }
    )
    assert read_tf_config(with_chief) == ClusterTask(("a:1", "b:2", "c:3"), 1)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "not set"),
        ('{"cluster": {"worker": ["a:1"]', "not valid JSON"),
        ('{"task": {"type": "worker", "index": 0}}', 'no "cluster"'),
        (
            '{"cluster": {"worker": ["localhost"]}, "task": {"type": "worker", "index": 0}}',
            "host:port",
        ),
        (
            '{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 2}}',
            "task index 2",
        ),
        ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "ps", "index": 0}}', '"task" must be'),
        (
            '{"cluster": {"worker": ["a:1"], "ps": ["b:2"]}, "task": {"type": "worker", "index": 0}}',
            "'ps'",
        ),
        (
            '{"cluster": {"worker": ["a:1", "a:1"]}, "task": {"type": "worker", "index": 0}}',
            "twice",
        ),
    ],
)
def test_a_malformed_tf_config_says_what_is_wrong_and_shows_the_format(text, reason):
    with pytest.raises(CourseError) as error:
        read_tf_config(text)
    assert reason in str(error.value) and '"cluster": {"worker": [' in str(error.value)


def test_a_worker_that_cannot_reach_the_others_gives_up_naming_the_address():
    own, missing = _free_ports(2)
    task = ClusterTask((f"127.0.0.1:{own}", f"127.0.0.1:{missing}"), 0)
    start = time.monotonic()
    with pytest.raises(CourseError, match=f"could not reach 127.0.0.1:{missing} within 1 s"):
        wait_for_workers(task, timeout_s=1.0)
    assert time.monotonic() - start < 10


def test_workers_find_each_other_whichever_starts_first():
    addresses = tuple(f"127.0.0.1:{port}" for port in _free_ports(2))
    errors: list[BaseException] = []

    def later() -> None:
        time.sleep(1.0)
        try:
            wait_for_workers(ClusterTask(addresses, 1), timeout_s=20)
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    thread = threading.Thread(target=later)
    thread.start()
    wait_for_workers(ClusterTask(addresses, 0), timeout_s=20)
    thread.join()
    assert errors == []


def test_a_port_in_use_is_named():
    blocker = socket.socket()
    blocker.bind(("", 0))
    blocker.listen(1)
    port = blocker.getsockname()[1]
    try:
        task = ClusterTask((f"127.0.0.1:{port}", "127.0.0.1:1"), 0)
        with pytest.raises(CourseError, match=f"cannot listen on port {port}"):
            wait_for_workers(task, timeout_s=1)
    finally:
        blocker.close()


def test_strategy_names_and_device_counts_are_checked(monkeypatch):
    with pytest.raises(CourseError, match="unknown strategy 'ring'"):
        distribution_strategy("ring")
    with pytest.raises(CourseError, match="needs two or more devices, but this machine shows 1"):
        distribution_strategy("mirrored", devices=["/cpu:0"])
    assert distribution_strategy("auto", devices=["/cpu:0"]) is tf.distribute.get_strategy()
    monkeypatch.setenv("TF_CONFIG", _tf_config(["a:1", "b:2"], 0))
    with pytest.warns(CourseWarning, match="use 'multi-worker'"):
        distribution_strategy("auto", devices=["/cpu:0"])
    assert current_worker(tf.distribute.get_strategy()) == Worker(0, 1)
    assert current_worker(None).is_chief


def test_the_command_line_offers_exactly_the_strategies():
    train = build_parser()._subparsers._group_actions[0].choices["train"]  # noqa: SLF001
    action = next(a for a in train._actions if a.dest == "strategy")  # noqa: SLF001
    assert tuple(action.choices) == STRATEGIES and action.default == "auto"


@pytest.mark.parametrize(
    ("strategy", "tf_config", "message"),
    [
        ("mirrored", None, "needs two or more devices"),
        ("multi-worker", "{oops", "TF_CONFIG is not usable: not valid JSON"),
        ("multi-worker", "unreachable", "could not reach 127.0.0.1:"),
    ],
)
def test_train_refuses_a_strategy_it_cannot_use_in_one_line(
    image_folder, tmp_path, monkeypatch, capsys, strategy, tf_config, message
):
    if tf_config == "unreachable":
        tf_config = _tf_config([f"127.0.0.1:{port}" for port in _free_ports(2)], 0)
    if tf_config is not None:
        monkeypatch.setenv("TF_CONFIG", tf_config)
    start = time.monotonic()
    code = main(
        ["train", str(image_folder), "--out", str(tmp_path / "m.keras"), "--strategy", strategy]
        + ["--connect-timeout", "1"]
    )
    error = capsys.readouterr().err
    assert code == 2 and message in error and "Traceback" not in error
    assert time.monotonic() - start < 30


# ----------------------------------------------------------------------------------------------
# Sharding the frozen pass
# ----------------------------------------------------------------------------------------------


def test_shards_by_file_name_are_deterministic_disjoint_and_complete(image_folder):
    split = folder_splits(image_folder, validation_fraction=0.2).train
    for count in (2, 3):
        parts = [shard_positions(split, Worker(i, count)) for i in range(count)]
        joined = np.sort(np.concatenate(parts))
        assert np.array_equal(joined, np.arange(len(split)))
        assert all(len(part) > 0 for part in parts)
    # Another machine mounting the photos elsewhere computes the same shard for each file.
    moved = [Path("/elsewhere") / p.parent.name / p.name for p in split.files]
    assert [shard_of(p, 3) for p in moved] == [shard_of(p, 3) for p in split.files]


def test_merging_shards_restores_the_order_and_refuses_gaps():
    rows = np.arange(10, dtype=np.float32)[:, None] * np.ones((1, 3), np.float32)
    first, second = np.array([0, 3, 4, 9]), np.array([1, 2, 5, 6, 7, 8])
    merged = merge_shards(
        [
            {"positions": second, "features": rows[second]},
            {"positions": first, "features": rows[first]},
        ],
        10,
    )
    assert np.array_equal(merged["features"], rows)
    with pytest.raises(CourseError, match="1 rows missing, 0 given twice"):
        merge_shards(
            [
                {"positions": first, "features": rows[first]},
                {"positions": second[1:], "features": rows[second[1:]]},
            ],
            10,
        )
    with pytest.raises(CourseError, match="0 rows missing, 1 given twice"):
        merge_shards(
            [
                {"positions": np.arange(10), "features": rows},
                {"positions": first[:1], "features": rows[:1]},
            ],
            10,
        )


def _fake_features(part: Split) -> dict[str, np.ndarray]:
    """Stands in for the frozen pass: each row depends on its file alone."""
    values = [
        [len(p.name), sum(p.name.encode()), label] for p, label in zip(part.files, part.labels)
    ]
    return {"features": np.asarray(values, dtype=np.float32)}


def test_two_workers_merge_into_the_single_process_result(image_folder, tmp_path):
    split = folder_splits(image_folder, validation_fraction=0.2).train
    entry = tmp_path / "features" / "entry.npz"
    results: dict[int, dict[str, np.ndarray]] = {}

    def run(index: int) -> None:
        results[index] = sharded_pass(
            split, entry, Worker(index, 2), _fake_features, ("features",), 60
        )

    other = threading.Thread(target=run, args=(1,))
    other.start()
    run(0)
    other.join()
    expected = _fake_features(split)["features"]
    assert np.array_equal(results[0]["features"], expected)
    assert np.array_equal(results[1]["features"], expected)
    assert np.array_equal(np.load(entry)["features"], expected)
    assert not shard_path(entry, 0, 2).exists() and not shard_path(entry, 1, 2).exists()


def test_a_worker_waiting_for_the_chief_gives_up_with_a_reason(image_folder, tmp_path):
    split = folder_splits(image_folder, validation_fraction=0.2).train
    with pytest.raises(
        CourseError, match="the chief \\(worker 0\\) has not written entry.npz within 1 s"
    ):
        sharded_pass(split, tmp_path / "entry.npz", Worker(1, 2), _fake_features, ("features",), 1)


# ----------------------------------------------------------------------------------------------
# Training under a strategy: data split by element, backups
# ----------------------------------------------------------------------------------------------


def test_datasets_are_split_across_workers_by_element():
    dataset = distributed_data(tf.data.Dataset.range(4))
    policy = dataset.options().experimental_distribute.auto_shard_policy
    assert policy == tf.data.experimental.AutoShardPolicy.DATA


def test_a_model_built_in_a_strategy_s_scope_runs_its_share_as_a_plain_copy():
    """The recipe builds its base in the strategy's scope; a worker's share of the frozen pass
    runs on a copy with ordinary variables and the same outputs, while a plain model is used as
    it is (nothing copied)."""
    keras.utils.set_random_seed(0)
    with tf.distribute.MirroredStrategy(["/cpu:0"]).scope():
        scoped = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    assert isinstance(scoped.weights[0].value, tf.distribute.DistributedValues)
    copy = frozen_copy(scoped, None)
    assert copy is not scoped
    assert not any(isinstance(w.value, tf.distribute.DistributedValues) for w in copy.weights)
    inputs = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    np.testing.assert_allclose(copy(inputs), scoped(inputs), atol=1e-6)
    plain = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    assert frozen_copy(plain, None) is plain


def _tiny_model() -> keras.Model:
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    compile_classifier(model, 0.01)
    return model


def test_a_killed_run_resumes_from_its_backup(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int32)
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
    backup = tmp_path / "backup"
    model = _tiny_model()
    assert Path(backup_callback(backup, model).backup_dir) == backup / "worker-0"

    class Killed(Exception):
        pass

    class KillInEpochThree(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            if epoch == 2:
                raise Killed

    with pytest.raises(Killed):
        fit(
            model,
            data,
            data,
            epochs=5,
            early_stopping=False,
            verbose=False,
            backup_dir=backup,
            callbacks=[KillInEpochThree()],
        )
    saved = json.loads((backup / "worker-0" / "training_metadata.json").read_text())
    assert saved["epoch"] == 2
    resumed = _tiny_model()  # a fresh process: new weights, restored from the backup
    history = fit(
        resumed, data, data, epochs=5, early_stopping=False, verbose=False, backup_dir=backup
    )
    assert history.epochs == 3  # epochs 3, 4 and 5: the two finished ones are not run again
    assert not backup.exists()  # removed once training ended


# ----------------------------------------------------------------------------------------------
# Real processes
# ----------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_mirrored_strategy_over_two_logical_cpus_splits_the_frozen_pass_and_fine_tuning(tmp_path):
    """One machine, two devices: the frozen pass gives the single-device features, and fast
    fine-tuning the weights of a one-device run of the same global batch (24 training photos:
    three whole batches of 8, see ``_colour_folder``)."""
    image_folder = _colour_folder(tmp_path / "photos", 10)
    script = textwrap.dedent(
        f"""
        import numpy as np, tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from tl_helpers.backbones import build_backbone
        from tl_helpers.data.folders import folder_splits
        from tl_helpers.training import (classifier_from_head, distribution_strategy, extract_activations,
            extract_features, fast_fine_tune, pooled_features, split_backbone, train_head)
        devices = [d.name for d in tf.config.list_logical_devices("CPU")]
        mirrored = distribution_strategy("mirrored", devices)
        assert isinstance(mirrored, tf.distribute.MirroredStrategy) and mirrored.num_replicas_in_sync == 2
        one = tf.distribute.MirroredStrategy(devices[:1])
        splits = folder_splits("{image_folder}", validation_fraction=0.25)
        plain = extract_features("efficientnet_lite0", splits.train, image_size=64, use_cache=False, verbose=False)
        split = extract_features("efficientnet_lite0", splits.train, image_size=64, use_cache=False, verbose=False, strategy=mirrored)
        print("features", np.abs(plain.features - split.features).max(), flush=True)
        parts = split_backbone(build_backbone("efficientnet_lite0", (64, 64)), 1)
        options = dict(use_cache=False, verbose=False)
        train = extract_activations(parts, splits.train, **options)
        validation = extract_activations(parts, splits.validation, flips=False, **options)
        split_train = extract_activations(parts, splits.train, strategy=mirrored, **options)
        gap = max(np.abs(train.activations.astype("f4") - split_train.activations.astype("f4")).max(),
                  np.abs(train.flipped.astype("f4") - split_train.flipped.astype("f4")).max())
        print("activations", gap / np.abs(train.activations.astype("f4")).max(), flush=True)
        head, _ = train_head(pooled_features(parts.top, train), pooled_features(parts.top, validation), 3, epochs=3, dropout=0.0, verbose=False)
        weights = {{}}
        for name, strategy in (("one", one), ("two", mirrored)):
            with strategy.scope():
                model = classifier_from_head(head, "efficientnet_lite0", splits.class_names, 64)
            start = np.concatenate([w.ravel() for w in model.get_weights()])
            fast_fine_tune(model, train, validation, blocks=1, epochs=1, batch_size=8, crop=0, verbose=False)
            weights[name] = np.concatenate([w.ravel() for w in model.get_weights()])
            weights[name + "-moved"] = np.abs(weights[name] - start).max()
        print("weights", np.abs(weights["one"] - weights["two"]).max(), "moved", weights["one-moved"], flush=True)
        # fine_tune on images (the path for sets too big for cached activations), batch of 8.
        from tl_helpers.data.pipelines import make_dataset
        from tl_helpers.training import fine_tune
        images = dict(image_size=(64, 64), batch_size=8)
        for name, strategy in (("one", one), ("two", mirrored)):
            with strategy.scope():
                model = classifier_from_head(head, "efficientnet_lite0", splits.class_names, 64)
            fine_tune(model, make_dataset(splits.train, shuffle=True, **images), make_dataset(splits.validation, **images),
                      blocks=1, learning_rate=1e-4, epochs=1, verbose=False)
            weights[name] = np.concatenate([w.ravel() for w in model.get_weights()])
        print("images", np.abs(weights["one"] - weights["two"]).max(), flush=True)
        """
    )
    result = _run_alone([sys.executable, "-c", script], tmp_path / "cache")
    words = result.stdout.split()
    features = float(words[words.index("features") + 1])
    activations = float(words[words.index("activations") + 1])
    weights, moved = (
        float(words[words.index("weights") + 1]),
        float(words[words.index("moved") + 1]),
    )
    # The same numbers up to float rounding over other batch shapes (float16 activations: their
    # rounding step, about 1e-3 of the largest value).
    assert features <= 1e-4 and activations <= 2e-3, result.stdout
    assert moved > 1e-5 and weights <= 1e-6, result.stdout
    assert float(words[words.index("images") + 1]) <= 1e-6, result.stdout


def _colour_folder(root: Path, per_class: int) -> Path:
    """Easy classes; 10 per class leaves 24 training photos, three global batches of 8."""
    for label, name in enumerate(["blue", "green", "red"]):
        for index in range(per_class):
            write_image(
                root / name / f"{name}_{index:02d}.png", size=(48, 48), seed=10 * label + index
            )
    return root


def _start_workers(
    addresses: list[str], arguments: list[str], logs: Path, tag: str, env: dict
) -> list[subprocess.Popen]:
    processes = []
    for index in range(len(addresses)):
        log = open(logs / f"{tag}-{index}.log", "w")  # noqa: SIM115 - closed with the process
        processes.append(
            subprocess.Popen(
                [
                    sys.executable,
                    str(WORKER),
                    *arguments[:1],
                    f"{arguments[1]}-{index}.npz",
                    *arguments[2:],
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=PROJECT,
                env={**env, "TF_CONFIG": _tf_config(addresses, index)},
            )
        )
    return processes


@pytest.mark.slow
def test_two_workers_extract_like_one_process_and_train_like_one_device(tmp_path):
    folder = _colour_folder(tmp_path / "photos", 10)
    addresses = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    env = {**os.environ, "TL_CACHE_DIR": str(tmp_path / "shared-cache")}
    workers = _start_workers(
        addresses, [str(folder), str(tmp_path / "worker"), "multi-worker"], tmp_path, "run", env
    )
    codes = [p.wait(timeout=600) for p in workers]
    logs = [(tmp_path / f"run-{i}.log").read_text() for i in range(2)]
    assert codes == [0, 0], logs[0][-3000:] + logs[1][-3000:]
    _run_alone(
        [sys.executable, str(WORKER), str(folder), str(tmp_path / "one.npz"), "reference"],
        tmp_path / "own-cache",
    )
    one, first, second = (
        np.load(tmp_path / n) for n in ("one.npz", "worker-0.npz", "worker-1.npz")
    )
    # The frozen pass: sharded, merged by the chief, equal to one process's, order included.
    for name in ("features", "activations", "flipped"):
        assert np.array_equal(first[name], one[name]) and np.array_equal(second[name], one[name])
    assert not list((tmp_path / "shared-cache").rglob("*.shard-*"))
    # Fine-tuning: both workers hold the same weights, those of one device with the same global
    # batch up to float rounding, while training moved them by far more.
    assert np.array_equal(first["weights"], second["weights"])
    moved = np.abs(one["weights"] - one["start"]).max()
    assert moved > 1e-5 and np.abs(first["weights"] - one["weights"]).max() <= 1e-6, moved


@pytest.mark.slow
def test_a_killed_worker_and_its_cluster_resume_from_the_backup(tmp_path):
    folder = _colour_folder(tmp_path / "photos", 10)
    addresses = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    env = {**os.environ, "TL_CACHE_DIR": str(tmp_path / "shared-cache")}
    backup = tmp_path / "backup"
    arguments = [
        str(folder),
        str(tmp_path / "worker"),
        "multi-worker",
        "--epochs",
        "3",
        "--backup",
        str(backup),
    ]
    first = _start_workers(addresses, [*arguments, "--slow", "0.5"], tmp_path, "first", env)
    log = tmp_path / "first-1.log"
    deadline = time.monotonic() + 300
    # Killed inside the second epoch, once its first batch has run.
    while "finished batch 1 of epoch 2" not in log.read_text():
        assert time.monotonic() < deadline and first[1].poll() is None, log.read_text()[-3000:]
        time.sleep(0.1)
    first[1].send_signal(signal.SIGKILL)
    assert first[1].wait(timeout=30) == -signal.SIGKILL
    # The survivor notices within the heartbeat timeout and stops with an error, never hangs.
    assert first[0].wait(timeout=120) != 0
    assert (backup / "worker-1" / "training_metadata.json").exists()

    again = _start_workers(addresses, [*arguments, "--slow", "0.01"], tmp_path, "again", env)
    codes = [p.wait(timeout=600) for p in again]
    logs = [(tmp_path / f"again-{i}.log").read_text() for i in range(2)]
    assert codes == [0, 0], logs[0][-3000:] + logs[1][-3000:]
    for text in logs:
        assert "starting epoch 1" not in text and "starting epoch 2" in text, text[-2000:]
        assert "done after 2 epochs" in text  # epochs 2 and 3: the finished first one is kept
    assert not backup.exists()


@pytest.mark.slow
def test_the_train_command_runs_as_two_workers_and_the_chief_saves(tmp_path):
    folder = _colour_folder(tmp_path / "photos", 10)
    addresses = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    model = tmp_path / "model.keras"
    command = [sys.executable, "-m", "tl_helpers", "train", str(folder), "--out", str(model)]
    command += ["--fast", "--image-size", "64", "--epochs", "3", "--blocks", "1"]
    command += ["--fine-tune-epochs", "1", "--strategy", "multi-worker", "--no-verbose"]
    command += ["--backup-dir", str(tmp_path / "backup")]
    env = {**os.environ, "TL_CACHE_DIR": str(tmp_path / "shared-cache")}
    workers = [
        subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=PROJECT,
            env={**env, "TF_CONFIG": _tf_config(addresses, index)},
        )
        for index in range(2)
    ]
    outputs = [p.communicate(timeout=600)[0] for p in workers]
    assert [p.returncode for p in workers] == [0, 0], outputs[0][-3000:] + outputs[1][-3000:]
    assert "this is worker 0 of 2" in outputs[0] and f"saved {model}" in outputs[0]
    assert "validation accuracy of the saved model" in outputs[0]
    assert "worker 1 finished; the chief (worker 0) evaluates and saves" in outputs[1]
    assert "saved" not in outputs[1] and model.exists() and not (tmp_path / "backup").exists()


def test_a_worker_that_loses_the_others_says_how_to_resume(
    image_folder, tmp_path, monkeypatch, capsys
):
    import tl_helpers.cli.train
    import tl_helpers.training

    def lost(*_args: object) -> None:
        raise tf.errors.UnavailableError(None, None, "The following tasks are unhealthy\nmore")

    monkeypatch.setattr(
        tl_helpers.training, "distribution_strategy", lambda *a, **k: tf.distribute.get_strategy()
    )
    monkeypatch.setattr(tl_helpers.training, "current_worker", lambda _strategy: Worker(1, 2))
    monkeypatch.setattr(tl_helpers.cli.train, "_train_folder", lost)
    code = main(
        [
            "train",
            str(image_folder),
            "--out",
            str(tmp_path / "m.keras"),
            "--strategy",
            "multi-worker",
        ]
    )
    error = capsys.readouterr().err
    assert code == 2 and "Traceback" not in error
    assert "worker 1 lost the others (The following tasks are unhealthy)" in error
    assert "with --backup-dir they resume from the last finished epoch" in error


def test_the_frozen_pass_is_stored_alone_and_needs_the_cache_with_workers(
    image_folder, tmp_path, monkeypatch
):
    split = folder_splits(image_folder, validation_fraction=0.2).train
    entry = tmp_path / "entry.npz"
    arrays = frozen_pass(split, entry, None, _fake_features, ("features",))
    assert np.array_equal(np.load(entry)["features"], _fake_features(split)["features"])
    assert np.array_equal(arrays["features"], _fake_features(split)["features"])

    import tl_helpers.training.sharding as sharding

    monkeypatch.setattr(sharding, "current_worker", lambda _strategy: Worker(0, 2))
    with pytest.raises(CourseError, match="keep use_cache=True"):
        frozen_pass(split, None, None, _fake_features, ("features",))
