# Two commands (README): `make demo` and `make test`. Both set up .venv from nothing.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# the browser the setup page's test drives (host_tests/support/browser.py reads the same names)
CHROMIUM ?= /usr/bin/chromium
CHROMEDRIVER ?= /usr/bin/chromedriver

.PHONY: setup browser demo test figures bench clean

$(BIN)/micropython: requirements.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt
	touch $@

setup: $(BIN)/micropython

# The browser test_setup_browser.py drives: Debian's chromium and chromium-driver, from apt
# (with sudo when not root) only when they are missing. .ci/run does this before `make test`.
browser:
	@if [ -x $(CHROMIUM) ] && [ -x $(CHROMEDRIVER) ]; then \
	  echo "chromium and chromedriver are installed"; \
	else \
	  if [ "$$(id -u)" = 0 ]; then sudo=; else sudo=sudo; fi; \
	  set -x; $$sudo apt-get update -q && $$sudo apt-get install -y -q chromium chromium-driver; \
	fi

demo: setup
	$(BIN)/python tools/demo.py

# -p no:anyio: anyio's pytest plugin (no test uses it) imports trio, selenium's dependency,
# which then warns about Hypothesis's random in every run
test: setup
	$(BIN)/python -m pytest -q -p no:anyio host_tests

figures: setup
	$(BIN)/python tools/figures.py

bench: setup
	$(BIN)/python tools/bench.py

clean:
	rm -rf build .pytest_cache
