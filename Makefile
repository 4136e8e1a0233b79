# Two commands (README): `make demo` and `make test`. Both set up .venv from nothing.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup demo test figures bench clean

$(BIN)/micropython: requirements.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt
	touch $@

setup: $(BIN)/micropython

demo: setup
	$(BIN)/python tools/demo.py

test: setup
	$(BIN)/python -m pytest -q host_tests

figures: setup
	$(BIN)/python tools/figures.py

bench: setup
	$(BIN)/python tools/bench.py

clean:
	rm -rf build .pytest_cache
