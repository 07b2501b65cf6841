# Quick start (fresh Linux machine with Python 3.11):
#   make course   # set up .venv, execute every notebook headless, write build/course/
#   make test     # set up .venv, run the whole test suite (unit tests + notebooks)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: course test setup lint bench release autograde feedback export summary collect clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

course: $(STAMP)
	$(BIN)/python -m coursekit.runner notebooks --out build/course $(if $(filter 1,$(QUICK)),--quick,)

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check coursekit tests bench

clean:
	rm -rf build .pytest_cache
