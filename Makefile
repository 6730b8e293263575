# Two commands for learners and teachers:
#   make lab    set up .venv if needed and open the course in JupyterLab
#   make test   set up .venv if needed, run the unit tests, then execute every notebook
# Everything is installed into .venv from pyproject.toml; nothing is assumed to be on the machine
# except Python 3.11.

PYTHON_FOR_VENV ?= $(shell command -v python3.11 || command -v python3)
VENV            := .venv
PY              := $(VENV)/bin/python
STAMP           := $(VENV)/.installed
NOTEBOOKS       := $(sort $(wildcard notebooks/[0-9]*.ipynb))
LAB_PORT        ?= 8888
PYTEST_ARGS     ?=

.PHONY: lab test unit notebooks install clean-venv student help

help:
	@echo "make lab    - create .venv if missing, install, start JupyterLab on notebooks/"
	@echo "make test   - create .venv if missing, install, run unit tests and every notebook (nbval)"
	@echo "make unit   - unit tests only;  make notebooks - notebooks only"
	@echo "make student - copies of the notebooks without solutions, in student/"

$(PY):
	$(PYTHON_FOR_VENV) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required, found " + sys.version'
	$(PYTHON_FOR_VENV) -m venv $(VENV)

# Re-install whenever pyproject.toml changes (the stamp is older than it).
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --upgrade --quiet "pip>=24"
	$(PY) -m pip install --quiet -e .
	touch $(STAMP)

install: $(STAMP)

lab: install
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks --port=$(LAB_PORT)

unit: install
	$(PY) -m pytest tests $(PYTEST_ARGS)

# nbval exits with 5 when there is no notebook to collect: that is not a failure.
notebooks: install
	@if [ -z "$(NOTEBOOKS)" ]; then echo "no notebooks to execute yet"; exit 0; fi; \
	$(PY) -m pytest --nbval-lax --nbval-current-env -p no:cacheprovider $(NOTEBOOKS) $(PYTEST_ARGS); \
	rc=$$?; if [ $$rc -eq 5 ]; then echo "nbval collected no notebook cells"; exit 0; fi; exit $$rc

test: unit notebooks

# Classroom copies without the cells tagged "solution" (and without outputs), in student/.
student: install
	$(PY) -m tl_helpers.student notebooks student

clean-venv:
	rm -rf $(VENV)
