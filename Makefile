# Two commands for learners and teachers:
#   make lab    set up .venv if needed and open the course in JupyterLab
#   make test   set up .venv if needed, lint, run every unit test, then execute every notebook
#   TL_QUICK=1 make test   the teacher's few-minute check of a machine: the fast unit tests, and
#               every notebook on small subsets (assertions on results skipped)
#   make test-python PYTHON=3.13   the package as a user installs it, on another Python: the
#               fast unit tests; then make standalone-notebooks runs each notebook alone with it
# Everything is installed into .venv from pyproject.toml, at the versions of requirements/lock.txt;
# nothing is assumed to be on the machine except Python 3.11, 3.12 or 3.13.

PYTHON_FOR_VENV ?= $(shell command -v python3.11 || command -v python3)
VENV            := .venv
PY              := $(VENV)/bin/python
STAMP           := $(VENV)/.installed
NOTEBOOKS       := $(sort $(wildcard notebooks/[0-9]*.ipynb))
LAB_PORT        ?= 8888
LAB_ARGS        ?=
PYTEST_ARGS     ?=
# JupyterLab refuses to start as root unless told; classroom containers often run as root.
ALLOW_ROOT      := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: lab test lint unit unit-slow unit-all notebooks quick-notebooks test-python \
        standalone-notebooks ci ci-full e2e \
        install clean-venv student help

help:
	@echo "make lab    - create .venv if missing, install, start JupyterLab on notebooks/"
	@echo "make test   - create .venv if missing, install, lint, run all unit tests and every notebook (nbval)"
	@echo "TL_QUICK=1 make test - a few minutes: fast unit tests, every notebook on small subsets"
	@echo "make lint   - ruff (lint and format check) and pyright"
	@echo "make unit   - the fast unit tests only (not marked slow, no mirror);  make notebooks - notebooks only"
	@echo "make ci     - what CI runs, fastest checks first, each step timed; make ci-full - the same, empty cache"
	@echo "make student - copies of the notebooks without solutions, in student/"
	@echo "make e2e    - JupyterLab in headless Chromium: widgets render, upload works (installs chromium with apt if root)"

LOCK            := requirements/lock.txt
# uv (in the dev extra) installs the lock's versions as pip would, but links the packages from its
# cache instead of unpacking them again: seconds instead of a minute once they were installed
# before, which every CI run and every test venv pays. pip does it where uv is missing or fails
# (say, behind a proxy that only pip is configured for), or with UV=no.
UV              ?= $(VENV)/bin/uv
lock_install     = if [ "$(UV)" != no ] && [ -x "$(UV)" ] && "$(UV)" pip install --quiet \
	--python $(1) -c $(LOCK) $(2); then :; else $(1) -m pip install --quiet -c $(LOCK) $(2); fi
# (What to install, as variables: a comma inside $(call ...) would split the argument.)
COURSE_EDITABLE := -e ".[course,lab,dev]"
COURSE_AS_USER  := ".[course,test]"
E2E_EDITABLE    := -e ".[e2e]"
# TensorFlow 2.21 ships wheels for these Pythons only.
CHECK_PYTHON    := import sys; v = sys.version_info[:2]; assert (3, 11) <= v <= (3, 13), \
	f"Python 3.11, 3.12 or 3.13 is needed (TensorFlow 2.21 has wheels for those), found {sys.version.split()[0]}"

$(PY):
	$(PYTHON_FOR_VENV) -c '$(CHECK_PYTHON)'
	$(PYTHON_FOR_VENV) -m venv $(VENV)

# Re-install whenever pyproject.toml changes (the stamp is older than it). The course's kernel
# (tl_helpers/kernel.py: IPython after a quiet TensorFlow import) becomes .venv's "python3" kernel,
# the one the notebooks name, so JupyterLab and nbval start it.
$(STAMP): pyproject.toml $(LOCK) tl_helpers/kernel.py | $(PY)
	$(PY) -m pip install --upgrade --quiet "pip>=24"
	$(if $(filter no,$(UV)),,$(PY) -m pip install --quiet -c $(LOCK) uv)
	$(call lock_install,$(PY),$(COURSE_EDITABLE))
	$(PY) -m tl_helpers.kernel install
	touch $(STAMP)

install: $(STAMP)

lab: install
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks --port=$(LAB_PORT) $(ALLOW_ROOT) $(LAB_ARGS)

# The Python sources, not the notebooks (those are checked by running them).
LINTED := tl_helpers tests benchmarks e2e

lint: install
	$(VENV)/bin/ruff check $(LINTED)
	$(VENV)/bin/ruff format --check $(LINTED)
	$(VENV)/bin/pyright

# Minutes-long and mirror-dependent tests are marked (pyproject.toml's markers); `make unit` skips
# them for a quick check while editing, `make unit-slow` runs just them, `make test` runs them all.
# Tests run on every core (pytest-xdist, at most 4 processes: each holds a TensorFlow), except
# those marked serial (they start processes or clusters of their own), which run after, alone.
PARALLEL  ?= -n auto --maxprocesses=4
DURATIONS := --durations=10
unit: install
	$(PY) -m pytest tests -m "not slow and not mirror and not serial" $(PARALLEL) $(DURATIONS) $(PYTEST_ARGS)
	$(PY) -m pytest tests -m "not slow and not mirror and serial" $(DURATIONS) $(PYTEST_ARGS)

unit-slow: install
	$(PY) -m pytest tests -m "(slow or mirror) and not serial" $(PARALLEL) $(DURATIONS) $(PYTEST_ARGS)
	$(PY) -m pytest tests -m "(slow or mirror) and serial" $(DURATIONS) $(PYTEST_ARGS)

unit-all: unit unit-slow

# nbval runs the notebooks; tests/nbval_times.py prints each notebook's time at the end (the
# README quotes them). It starts the "python3" kernel installed in .venv (the course's). Two
# notebooks run side by side, each in its own kernel with its cells in order: those named in
# OWN_WORKER on one worker, the others on the other (about the same time each; xdist's own
# assignment put 03 and 05 together), each worker on its own half of the CPUs (nbval_times), so
# that the ratios of timings that 07 and 08 assert are measured without the other lane skewing
# them (unpinned, beside a busy lane, 08's Lite2/Lite0 cost ratio once fell to 1.40x, under its
# 1.5x floor; they used to run alone after the others, 8 to 9 minutes more). 07 reads the model
# 04 saves: both are in the second lane, which runs its notebooks in file order.
OWN_WORKER ?= 02_feature_extraction_cats_dogs 03_fine_tuning_cats_dogs 08_choosing_a_backbone
notebooks: install
	@if [ -z "$(NOTEBOOKS)" ]; then echo "no notebooks to execute yet"; exit 0; fi
	NBVAL_OWN_WORKER="$(OWN_WORKER)" $(PY) -m pytest --nbval-lax --nbval-kernel-name python3 \
	    -p no:cacheprovider -p tests.nbval_times -n 2 --dist loadscope $(NOTEBOOKS) $(PYTEST_ARGS)

# Another Python, as a user gets the course there: a new venv (pyenv's Python, else pythonX.Y on
# PATH), the package built and installed NOT editable with [course,test] at the lock's versions
# (so its package data and imports are checked as shipped), then the fast unit tests. The tests
# run with `pytest`, not `python -m pytest`, so that `tl_helpers` is the installed copy, not this
# folder. `make standalone-notebooks` then runs every notebook with that copy.
PYTHON       ?= 3.13
OTHER_VENV   := .venv-py$(PYTHON)
test-python:
	@interpreter="$$(pyenv prefix $(PYTHON) 2>/dev/null)/bin/python$(PYTHON)"; \
	[ -x "$$interpreter" ] || interpreter="$$(command -v python$(PYTHON))" || { \
	    echo "no Python $(PYTHON) here: install it (pyenv install $(PYTHON)) or name another"; exit 2; }; \
	"$$interpreter" -c '$(CHECK_PYTHON)' && rm -rf $(OTHER_VENV) && "$$interpreter" -m venv $(OTHER_VENV)
	$(OTHER_VENV)/bin/python -m pip install --upgrade --quiet "pip>=24"
	$(call lock_install,$(OTHER_VENV)/bin/python,$(COURSE_AS_USER))
	rm -rf build  # what the wheel build left beside the sources
	cd /tmp && $(CURDIR)/$(OTHER_VENV)/bin/python -c 'import sys, tl_helpers; \
	    print("Python", sys.version.split()[0], "- tl_helpers from", tl_helpers.__file__)'
	$(OTHER_VENV)/bin/python -m tl_helpers.kernel install
	$(OTHER_VENV)/bin/pytest tests -m "not slow and not mirror and not serial" $(PARALLEL) -q -p no:cacheprovider
	$(OTHER_VENV)/bin/pytest tests -m "not slow and not mirror and serial" -q -p no:cacheprovider

# Each notebook on its own, as a learner who downloaded one gets it: copied alone into an empty
# folder outside the repository, run in quick mode with the package installed from its wheel
# (make test-python's $(OTHER_VENV)), two side by side. Nothing may be read relative to the
# notebook. The kernels start with Keras's weight download replaced by generated files
# (tests/offline_weights.py), so notebook 08's online branch runs here as it would with internet.
# The lanes are not pinned to cores in quick mode, which times nothing (nbval_times).
# In quick mode 05, 01, 02 and 03 together take about as long as the other four (05 beside 08
# alone kept one lane busy well after the other had finished: the step times print the lanes).
QUICK_OWN_WORKER ?= 05_pitfalls 01_setup_and_data 02_feature_extraction_cats_dogs 03_fine_tuning_cats_dogs
standalone-notebooks:
	@[ -x $(OTHER_VENV)/bin/pytest ] || { echo "run make test-python PYTHON=$(PYTHON) first"; exit 2; }
	@set -e; alone=$$(mktemp -d); trap 'rm -rf "$$alone"' EXIT; \
	mkdir -p "$$alone/ipython/profile_default/startup"; \
	for notebook in $(NOTEBOOKS); do folder="$$alone/$$(basename $$notebook .ipynb)"; \
	    mkdir "$$folder"; cp $$notebook "$$folder/"; done; \
	$(OTHER_VENV)/bin/python -c 'import sys; sys.path.insert(0, "tests"); import offline_weights; \
	    print(offline_weights.startup_script(sys.argv[1]))' "$$alone/weights" \
	    > "$$alone/ipython/profile_default/startup/00-offline-weights.py"; \
	mkdir "$$alone/plugin" && cp tests/nbval_times.py "$$alone/plugin/"; \
	cd "$$alone" && (set -x; TL_QUICK=1 IPYTHONDIR="$$alone/ipython" PYTHONPATH="$$alone/plugin" \
	    NBVAL_OWN_WORKER="$(QUICK_OWN_WORKER)" $(CURDIR)/$(OTHER_VENV)/bin/pytest --nbval-lax \
	    --nbval-kernel-name python3 -p no:cacheprovider -p nbval_times -n 2 --dist loadscope \
	    --durations=8 $(PYTEST_ARGS) */*.ipynb); \
	made=$$(ls "$$alone/weights" 2>/dev/null | grep -c '\.h5$$' || true); \
	if [ "$$made" != 4 ]; then echo "notebook 08's online branch built $$made of its 4 Keras applications"; exit 1; fi; \
	echo "notebook 08's online branch ran: its 4 Keras applications were built from generated weights"

# The teacher's check of a classroom machine: every notebook on small subsets (assertions skipped).
quick-notebooks: install
	TL_QUICK=1 $(MAKE) --no-print-directory notebooks

# In quick mode (TL_QUICK=1) the fast unit tests stand in for all of them.
test: lint $(if $(filter 1,$(TL_QUICK)),unit,unit-all) notebooks

# What CI runs (.ci/run), ordered to fail fast: a broken change stops in the first minutes, not
# after the full notebooks. Each step's wall time is printed as it ends and again at the end.
# Every supported Python runs tests for real, each test once: the fast unit tests on 3.13 against
# the installed wheel (test-python), the Colab-like test on 3.12 (in unit-slow), the slow tests and
# the full notebooks on 3.11 (.venv, where pyright also checks the package against 3.11's library).
# `make unit` is the same fast tests on .venv, for editing.
CI_STEPS := lint test-python standalone-notebooks unit-slow notebooks e2e
ci: install
	@summary=""; total_start=$$(date +%s); \
	for step in $(CI_STEPS); do \
	    echo "==> make $$step"; start=$$(date +%s); \
	    if ! $(MAKE) --no-print-directory $$step; then \
	        echo "==> make $$step FAILED after $$(( $$(date +%s) - start )) s"; exit 1; fi; \
	    took=$$(( $$(date +%s) - start )); echo "==> make $$step took $$took s"; \
	    summary="$$summary  $$(printf '%-16s %5d s' $$step $$took)\n"; \
	done; \
	printf "CI steps, wall time:\n$$summary  $$(printf '%-16s %5d s' total $$(( $$(date +%s) - total_start )))\n"

# The cold path: CI with an empty feature cache (a new machine), for the moment before
# re-executed notebooks are committed (their headers quote cold times).
ci-full: install
	@cold=$$(mktemp -d); echo "empty cache: $$cold"; \
	TL_CACHE_DIR=$$cold $(MAKE) --no-print-directory ci; rc=$$?; rm -rf "$$cold"; exit $$rc

# Classroom copies without the cells tagged "solution" (and without outputs), in student/.
student: install
	$(PY) -m tl_helpers.student notebooks student

clean-venv:
	rm -rf $(VENV) .venv-py*

# The learner's view: JupyterLab from .venv in headless Chromium (Debian's package; Playwright
# drives it and never downloads a browser). Screenshots land in e2e/artifacts/.
e2e: install
	@if ! command -v chromium >/dev/null 2>&1; then \
	    if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	        (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium) >/dev/null 2>&1 \
	            || echo "could not install chromium with apt-get; the browser tests will be skipped"; \
	    else echo "chromium is not installed and cannot be installed here (not root or no apt-get); the browser tests will be skipped"; fi; \
	fi
	$(call lock_install,$(PY),$(E2E_EDITABLE))
	$(PY) -m pytest e2e -p no:cacheprovider $(PYTEST_ARGS)
