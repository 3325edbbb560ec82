# Two commands for a new user: `make demo` and `make test`. Both build the environment first.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test test-all lint env clean browser report-shot

env: $(STAMP)

# pip (not uv) so torch comes from this machine's local wheel cache when one exists.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	touch $(STAMP)

# three seeds of the whole pipeline, then the seed-group table: what holds on any machine
# (one seed's figures are a draw; benchmarks/demo.py times it)
demo: $(STAMP)
	$(VENV)/bin/distillctl run -m seed=0,1,2

# one worker per core (pytest-xdist); each computes on one thread (tests/conftest.py)
test: $(STAMP) browser
	$(PY) -m pytest -q -p no:cacheprovider -n auto --dist worksteal

browser:
	@bash scripts/ensure-chromium.sh

# A full-page screenshot of a report in headless Chromium: the newest one under outputs/, or
# REPORT=path/to/report.html; written beside it as report.png.
REPORT ?= $(shell ls -t outputs/run/*/*/report.html outputs/explain/*/*/report.html 2>/dev/null | head -1)
report-shot: $(STAMP) browser
	@test -n "$(REPORT)" || { echo "no report.html under outputs/: run 'make demo' first" >&2; exit 1; }
	$(PY) -m distillctl.report.browser shot "$(REPORT)" "$(dir $(REPORT))report.png"

lint: $(STAMP)
	$(VENV)/bin/ruff check distillctl tests benchmarks scripts
	$(VENV)/bin/ruff format --check distillctl tests benchmarks scripts

clean:
	rm -rf $(VENV) build dist *.egg-info
