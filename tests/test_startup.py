"""TensorFlow's C++ start-up notices stay out of notebooks and the terminal; real errors do not."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from tl_helpers.kernel import install_kernelspec, kernelspec
from tl_helpers.startup import is_startup_notice

# Real interpreters and a kernel, started and waited on: run alone, not beside other tests.
pytestmark = pytest.mark.serial

# Copied from a notebook run on this course's CPU machines (TensorFlow 2.21).
NOTICES = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1795512538.391217    2433 port.cc:153] oneDNN custom operations are on. You may see slightly different "
    "numerical results due to floating-point round-off errors from different computation orders.",
    "I0000 00:00:1795512538.392080    2433 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.",
    "E0000 00:00:1795512539.267307    2433 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)",
    "I0000 00:00:1795512559.613767    2485 cpu_feature_guard.cc:227] This TensorFlow binary is optimized to use available CPU instructions",
    "To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild TensorFlow with the appropriate compiler flags.",
]
REAL_ERRORS = [
    "E0000 00:00:1795512539.267307    2433 cuda_platform.cc:52] failed call to cuInit: CUDA_ERROR_OUT_OF_MEMORY: out of memory",
    "E0000 00:00:1795512539.267307    2433 cuda_dnn.cc:522] Loaded runtime CuDNN library: 8.1.0 but source was compiled with: 8.9.4",
    "ImportError: libcudart.so.12: cannot open shared object file",
    "Traceback (most recent call last):",
]


def test_only_the_known_notices_are_recognised():
    assert all(is_startup_notice(line) for line in NOTICES)
    assert not any(is_startup_notice(line) for line in REAL_ERRORS)


def run_python(code: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=180,
        **kwargs,
    )


@pytest.mark.slow
def test_import_tensorflow_is_quiet_with_the_real_library():
    result = run_python("""
        from tl_helpers.startup import import_tensorflow
        tf = import_tensorflow()
        print(tf.reduce_sum(tf.ones(3)).numpy())
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "3.0"
    assert not any(is_startup_notice(line) for line in result.stderr.splitlines()), result.stderr
    assert "absl::InitializeLog" not in result.stderr and "cudart_stub" not in result.stderr


def test_other_lines_written_during_the_import_still_reach_stderr(tmp_path):
    # A stand-in TensorFlow that writes, at the file-descriptor level as C++ does, two notices and one real error.
    fake = tmp_path / "tensorflow"
    fake.mkdir()
    lines = [NOTICES[0], NOTICES[2], REAL_ERRORS[0]]
    (fake / "__init__.py").write_text(
        textwrap.dedent(f"""
        import os
        os.write(2, ({json.dumps(chr(10).join(lines) + chr(10))}).encode())
        class config:
            @staticmethod
            def list_physical_devices():
                os.write(2, {json.dumps(NOTICES[3] + chr(10))}.encode())
                return []
    """)
    )
    result = run_python(f"""
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        from tl_helpers.startup import import_tensorflow
        import_tensorflow()
        print("imported")
    """)
    assert result.returncode == 0 and result.stdout.strip() == "imported"
    assert result.stderr.splitlines() == [REAL_ERRORS[0]]


@pytest.mark.slow
def test_command_line_errors_come_without_cpp_lines(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tl_helpers",
            "predict",
            str(tmp_path / "missing.keras"),
            "photo.jpg",
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"error: no model file at {tmp_path / 'missing.keras'}"]


def test_kernelspec_runs_this_module_with_this_python(tmp_path):
    path = install_kernelspec(tmp_path)
    assert path == tmp_path / "share" / "jupyter" / "kernels" / "python3" / "kernel.json"
    written = json.loads(path.read_text())
    assert written == kernelspec()
    assert (
        written["argv"][:3] == [sys.executable, "-m", "tl_helpers.kernel"]
        and "{connection_file}" in written["argv"]
    )


@pytest.mark.slow
def test_the_course_kernel_starts_without_notices(tmp_path):
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    install_kernelspec(tmp_path)
    specs = KernelSpecManager(kernel_dirs=[str(tmp_path / "share" / "jupyter" / "kernels")])
    manager = KernelManager(kernel_name="python3", kernel_spec_manager=specs)
    assert manager.kernel_spec.argv[:3] == [sys.executable, "-m", "tl_helpers.kernel"]
    manager.start_kernel()
    client = manager.client()
    client.start_channels()
    client.wait_for_ready(timeout=120)
    streams: list[tuple[str, str]] = []
    try:
        code = (
            "import tensorflow as tf, warnings\nfrom tl_helpers.errors import CourseWarning\n"
            "print(tf.constant(2.0).numpy() * 2)\nwarnings.warn('skipped notes.txt', CourseWarning)"
        )
        reply = client.execute_interactive(
            code,
            timeout=120,
            output_hook=lambda msg: (
                streams.append((msg["content"].get("name", ""), msg["content"].get("text", "")))
                if msg["msg_type"] == "stream"
                else None
            ),
        )
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    assert reply["content"]["status"] == "ok"
    assert ("stdout", "4.0\n") in streams
    assert [text for name, text in streams if name == "stderr"] == [
        "warning: skipped notes.txt\n"
    ], streams


def test_course_warnings_are_one_line_other_warnings_unchanged():
    result = run_python("""
        import warnings
        from tl_helpers.errors import CourseWarning
        from tl_helpers.startup import brief_course_warnings
        brief_course_warnings()
        brief_course_warnings()  # twice is the same as once
        warnings.warn("skipped 2 file(s) that cannot be read as images", CourseWarning)
        warnings.warn("something else", UserWarning)
    """)
    lines = result.stderr.splitlines()
    assert lines[0] == "warning: skipped 2 file(s) that cannot be read as images"
    assert "UserWarning: something else" in lines[1] and "<string>" in lines[1], (
        "other warnings keep their origin"
    )
