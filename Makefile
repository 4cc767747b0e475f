# The newcomer's path: `make demo`, `make test`, `make run`. Each creates .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test run lint format bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,dev,postgres]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/newsletter demo

test: $(STAMP)
	$(BIN)/python -m pytest

run: $(STAMP)
	$(BIN)/newsletter serve

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# -P keeps bench/ off sys.path, so bench/subscribers.py cannot shadow the package.
bench: $(STAMP)
	for script in bench/*.py; do $(BIN)/python -P $$script || exit 1; done

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .hypothesis
