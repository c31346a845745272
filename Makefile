# Set-up and the two everyday commands. Both are idempotent: the venv is made
# once and re-installed only when pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: train test test-fast lint clean planner

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev,planner]"
	touch $(STAMP)

train: $(STAMP)
	$(PY) train.py

# the planner page on a finished run: make planner RUN=outputs/<date>/<time>
# (http://127.0.0.1:8501; PLAN_ARGS for more plan.py settings, e.g. page.port=8600)
planner: $(STAMP)
	@test -n "$(RUN)" || (echo "usage: make planner RUN=<run directory>" >&2; exit 2)
	$(PY) plan.py run=$(RUN) serve=true $(PLAN_ARGS)

# the whole suite, slow recovery tests included; --dist loadgroup: tests that
# share one expensive fixture (marked xdist_group) run on one worker, so it runs once
test: $(STAMP)
	$(PY) -m pytest -q -n 2 --dist loadgroup --runslow $(PYTEST_ARGS)

# unit tests only (seconds to a minute or two)
test-fast: $(STAMP)
	$(PY) -m pytest -q -n 2 --dist loadgroup $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check dcmmm tests scripts train.py

clean:
	rm -rf outputs multirun .pytest_cache
