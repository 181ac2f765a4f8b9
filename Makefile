# The two commands of the README. Everything they need is installed from this repo's own files.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
PYTEST_ARGS ?=
WITH_TEST_TOOLS := .[test,dev]
# uv: install with uv (put into the venv by pip), falling back to pip if uv fails; pip: pip only.
INSTALLER ?= uv

PIP_INSTALL = $(PY) -m pip install --quiet --upgrade pip && $(PY) -m pip install -e
UV_INSTALL = { [ -x $(UV) ] || $(PY) -m pip install --quiet uv; } && $(UV) pip install --python $(PY) -e

ifeq ($(INSTALLER),uv)
install = $(UV_INSTALL) '$(1)' || { echo "uv could not install qws: installing with pip"; $(PIP_INSTALL) '$(1)'; }
else ifeq ($(INSTALLER),pip)
install = $(PIP_INSTALL) '$(1)'
else
$(error INSTALLER must be uv or pip, not '$(INSTALLER)')
endif

.PHONY: run test lint bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-run: pyproject.toml | $(PY)
	@echo "installing qws and its dependencies (first run only)..."
	$(call install,.)
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(PY)
	@echo "installing qws, its dependencies and the test tools (first run only)..."
	$(call install,$(WITH_TEST_TOOLS))
	touch $@ $(VENV)/.installed-run

run: $(VENV)/.installed-run
	$(VENV)/bin/qws run --feed demo

test: $(VENV)/.installed-test
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

$(VENV)/.installed-bench: pyproject.toml | $(PY)
	@echo "installing qws, the test tools and the benchmarks' peers (first bench only)..."
	$(call install,.[test,dev,bench])
	touch $@ $(VENV)/.installed-test $(VENV)/.installed-run

bench: $(VENV)/.installed-bench
	$(PY) benchmarks/run_all.py $(BENCH)

clean:
	rm -rf $(VENV) build *.egg-info
