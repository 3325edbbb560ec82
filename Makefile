# Two commands for a new user: `make demo` and `make test`. Both build the environment first.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test test-all lint env clean

env: $(STAMP)

# pip (not uv) so torch comes from this machine's local wheel cache when one exists.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/distillctl run

test: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider

lint: $(STAMP)
	$(VENV)/bin/ruff check distillctl tests benchmarks
	$(VENV)/bin/ruff format --check distillctl tests benchmarks

clean:
	rm -rf $(VENV) build dist *.egg-info
