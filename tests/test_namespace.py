"""The package's contracts: one lazy namespace, no side effects on import, ``__all__`` everywhere,
small modules, notebook settings only on request, and a catalog that ships with the package."""

from __future__ import annotations

import ast
import importlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import tl_helpers

PACKAGE = Path(tl_helpers.__file__).parent
PROJECT = PACKAGE.parent
MODULES = sorted(path for path in PACKAGE.rglob("*.py") if path.name != "__main__.py")


def _run(script: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=PROJECT,
        env={**os.environ, **env},
    )


def test_importing_the_package_changes_nothing_and_loads_no_tensorflow():
    result = _run("""
        import logging, os, sys, warnings
        filters, environment = list(warnings.filters), dict(os.environ)
        import tl_helpers as tl
        assert "tensorflow" not in sys.modules and "keras" not in sys.modules, "importing tl_helpers loaded TensorFlow"
        assert warnings.filters == filters, "importing tl_helpers changed the warnings filters"
        assert dict(os.environ) == environment, "importing tl_helpers changed the environment"
        assert logging.getLogger("tensorflow").filters == []
        print(len(tl.__all__))
    """)
    assert result.returncode == 0, result.stderr[-2000:]
    assert int(result.stdout) > 40


@pytest.mark.slow
def test_every_public_name_resolves_and_loads_on_first_use():
    result = _run("""
        import sys
        import tl_helpers as tl
        tl.fetch, tl.dataset_splits, tl.get_spec
        assert "tensorflow" not in sys.modules, "the data functions must not need TensorFlow"
        for name in tl.__all__:
            assert getattr(tl, name) is not None, name
        assert tl.build_classifier.__module__ == "tl_helpers.models.build"
        # Importing a submodule sets it as an attribute of the package: no public name may be
        # a submodule's name too, or the module would shadow the function (tl.evaluate).
        import pkgutil, importlib, types
        for module in pkgutil.walk_packages(tl.__path__, "tl_helpers."):
            if not module.name.endswith(("__main__", ".kernel")):
                importlib.import_module(module.name)
        for name in tl._API:
            assert not isinstance(getattr(tl, name), types.ModuleType), f"tl.{name} is shadowed by a module"
        assert tl.plots.learning_curves and tl.pitfalls.lint_pitfalls and tl.config.DEFAULT_SEED == 42
        assert set(tl.__all__) <= set(dir(tl))
        try:
            tl.no_such_helper
        except AttributeError as error:
            assert "no_such_helper" in str(error)
        else:
            raise AssertionError("an unknown name must raise AttributeError")
    """)
    assert result.returncode == 0, result.stderr[-2000:]


def test_the_data_command_line_stays_free_of_tensorflow(mirror):
    result = _run(
        """
        import sys
        from tl_helpers.cli import main
        assert main(["data", "info", "flowers"]) == 0
        assert "tensorflow" not in sys.modules
    """,
        TL_MIRROR=str(mirror),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "daisy" in result.stdout


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_every_module_declares_all_and_each_name_exists(path):
    module_name = ".".join(path.relative_to(PROJECT).with_suffix("").parts).removesuffix(
        ".__init__"
    )
    tree = ast.parse(path.read_text())
    declared = [
        node
        for node in tree.body
        if isinstance(node, ast.Assign)
        and any(isinstance(target, ast.Name) and target.id == "__all__" for target in node.targets)
    ]
    assert declared, f"{module_name} has no __all__"
    if module_name == "tl_helpers":
        return  # checked by test_every_public_name_resolves_and_loads_on_first_use
    module = importlib.import_module(module_name)
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert not missing, f"{module_name}.__all__ lists names it does not define: {missing}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_modules_stay_readable_in_one_sitting(path):
    lines = len(path.read_text().splitlines())
    assert lines < 400, (
        f"{path.relative_to(PROJECT)} has {lines} lines: split it by job (the README's layout)"
    )


MAX_FUNCTION_LINES = 60


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_functions_stay_short(path):
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long, f"{path.relative_to(PROJECT)}: split these by job: {long}"


def _imports_of(path: Path) -> set[str]:
    """The tl_helpers modules ``path`` imports at its top level or in its functions (not those
    only imported for type checkers)."""
    module = ".".join(path.relative_to(PROJECT).with_suffix("").parts).removesuffix(".__init__")
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            node.body = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" for alias in node.names]
            found |= {node.module, *names}
        elif isinstance(node, ast.ImportFrom) and node.level:
            found.add(package)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    known = {".".join(p.relative_to(PROJECT).with_suffix("").parts).removesuffix(".__init__")
             for p in MODULES}  # fmt: skip
    return {name for name in found if name in known and name != module}


def test_the_modules_import_each_other_without_a_circle():
    """Arrows point one way: a circle of imports among the modules (a package's __init__
    aside: it only hands its modules' names on) means one job split across files."""
    graph = {}
    for path in MODULES:
        if path.name == "__init__.py":
            continue
        module = ".".join(path.relative_to(PROJECT).with_suffix("").parts)
        graph[module] = {name for name in _imports_of(path) if not _is_package(name)}
    state: dict[str, str] = {}

    def visit(module: str, trail: list[str]) -> None:
        state[module] = "open"
        for imported in sorted(graph.get(module, ())):
            if state.get(imported) == "open":
                circle = trail[trail.index(imported) :] + [imported]
                raise AssertionError("import circle: " + " -> ".join(circle))
            if imported not in state:
                visit(imported, [*trail, imported])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


def _is_package(name: str) -> bool:
    return (PROJECT / Path(*name.split(".")) / "__init__.py").exists()


def test_the_recipe_and_the_train_command_s_help_need_no_tensorflow():
    result = _run(
        """
        import contextlib, io, sys
        import tl_helpers as tl
        recipe = tl.TrainRecipe(blocks=2)
        from tl_helpers.cli import main
        with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
            main(["train", "--help"])
        assert "tensorflow" not in sys.modules, "TensorFlow was imported"
        print(recipe.describe())
    """
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "top 2 blocks fine-tuned" in result.stdout


@pytest.mark.slow
def test_setup_notebook_applies_the_settings_once_and_only_when_asked():
    result = _run("""
        import logging, warnings
        from IPython.core.interactiveshell import InteractiveShell
        shell = InteractiveShell.instance()
        import tl_helpers as tl
        from matplotlib.figure import Figure
        formatters = shell.display_formatter.formatters
        assert formatters["image/png"](Figure()) is None, "figures must not be set up before setup_notebook()"
        tl.setup_notebook()
        tl.setup_notebook()  # twice is harmless
        plot = Figure(figsize=(2, 2)); plot.subplots().plot([0, 1])
        photos = tl.plots.PhotoGrid(figsize=(2, 2)); photos.subplots().imshow([[0, 1], [1, 0]])
        assert formatters["image/png"](plot).startswith(b"\\x89PNG") and formatters["image/jpeg"](plot) is None
        assert formatters["image/png"](photos) is None and formatters["image/jpeg"](photos).startswith(b"\\xff\\xd8")
        assert len(logging.getLogger("tensorflow").filters) == 1
        record = logging.LogRecord("tensorflow", logging.WARNING, "", 0, "5 out of the last 5 calls to f triggered tf.function retracing", None, None)
        assert not logging.getLogger("tensorflow").filters[0].filter(record)
        with warnings.catch_warnings(record=True) as caught:
            warnings.warn("`shuffle=True` was passed, but will be ignored", UserWarning)
            warnings.warn("something else", UserWarning)
        assert [str(w.message) for w in caught] == ["something else"]
    """)
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.mark.slow
def test_a_non_editable_install_finds_its_dataset_catalog(tmp_path):
    """``pip install .`` copies the package elsewhere: the catalog and manifests must travel with it."""
    target = tmp_path / "site"
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(PROJECT),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(target)!r})
        import tl_helpers
        from tl_helpers.data import dataset_names, get_spec
        assert tl_helpers.__file__.startswith({str(target)!r}), tl_helpers.__file__
        spec = get_spec("cats_vs_dogs")
        assert str(spec.file_manifest).startswith({str(target)!r}) and spec.file_manifest.stat().st_size > 1000
        print(" ".join(dataset_names()))
    """)
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["cats_vs_dogs", "flowers"]
