# The newcomer's path: `make demo`, `make test`, `make run`. Each creates .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The demo needs only the application, not the test, dev or PostgreSQL extras.
DEMO_STAMP := $(VENV)/.installed-app
DEMO_PIP := --quiet --disable-pip-version-check --no-compile

.PHONY: demo test run lint format bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,dev,postgres,celery]'
	touch $(STAMP)

# Where the interpreter's own pip can install into another environment (pip 22.3 or
# later), the venv is made without pip: seeding pip into it is a quarter of a fresh demo.
$(DEMO_STAMP): pyproject.toml
	@if $(PYTHON) -m pip install --help 2>/dev/null | grep -q -- '--python '; then \
		set -x; [ -x $(BIN)/python ] || $(PYTHON) -m venv --without-pip $(VENV) || exit 1; \
		$(PYTHON) -m pip --python $(BIN)/python install $(DEMO_PIP) -e . || exit 1; \
	else \
		set -x; $(PYTHON) -m venv $(VENV) && $(BIN)/python -m pip install $(DEMO_PIP) -e . || exit 1; \
	fi
	touch $(DEMO_STAMP)

# A full install (make test) serves the demo too; else install just the application.
demo:
	@if [ ! -f $(STAMP) ] || [ pyproject.toml -nt $(STAMP) ]; then $(MAKE) --no-print-directory $(DEMO_STAMP); fi
	$(BIN)/newsletter demo

test: $(STAMP)
	$(BIN)/python -m pytest

run: $(STAMP)
	$(BIN)/newsletter serve

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# -P keeps bench/ off sys.path, so bench/subscribers.py cannot shadow the package.
bench: $(STAMP)
	for script in bench/*.py; do $(BIN)/python -P $$script || exit 1; done

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .hypothesis
