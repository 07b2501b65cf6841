# Quick start (fresh Linux machine with Python 3.11):
#   make course   # set up .venv, execute every notebook headless, write build/course/
#   make test     # set up .venv, run the whole test suite (unit tests + notebooks)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
export PATH := $(abspath $(BIN)):$(PATH)
# Offline samples beside the project (this repository's CI layout) are used when the
# data variables are unset; elsewhere the loaders download and cache the full data.
SAMPLES := $(abspath ..)/shared/data
ifeq ($(COURSEKIT_MNIST_DIR),)
ifneq ($(wildcard $(SAMPLES)/mnist-sample/.),)
export COURSEKIT_MNIST_DIR := $(SAMPLES)/mnist-sample
endif
endif
ifeq ($(COURSEKIT_FASHION_MNIST_DIR),)
ifneq ($(wildcard $(SAMPLES)/fashion-mnist-sample/.),)
export COURSEKIT_FASHION_MNIST_DIR := $(SAMPLES)/fashion-mnist-sample
endif
endif

.PHONY: course test setup bench verify lint release autograde feedback export summary collect clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

course: $(STAMP)
	$(BIN)/python -m coursekit.runner notebooks --out build/course $(if $(filter 1,$(QUICK)),--quick,) $(if $(JOBS),--jobs $(JOBS),)

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python bench/course_times.py
	$(BIN)/python bench/fashion_mnist.py
	$(BIN)/python bench/grading.py --assignment backprop --submissions 30 --workers 2
	$(BIN)/python bench/playground.py

# Every notebook in full and quick mode for COURSEKIT_SEED=0,1,2: one table (build/verify/verify.md).
# ONLY="12 13" runs some notebooks; SEEDS="0" and MODES="quick" shrink it further; JOBS=2 runs
# two notebooks at once (one thread each), as `make course JOBS=2` does.
# Then, for the whole sequence (no ONLY), the Colab replica (make colab-check): it is run here
# and not in CI because a cold replica install alone takes about 27 min on a 2-core machine.
# COLAB=0 skips it.
SEEDS ?= 0 1 2
MODES ?= full quick
COLAB ?= 1
verify: $(STAMP)
	$(BIN)/python -m coursekit.runner notebooks --out build/verify --seeds $(SEEDS) --modes $(MODES) $(if $(ONLY),--only $(ONLY),) $(if $(JOBS),--jobs $(JOBS),)
	$(if $(or $(ONLY),$(filter 0,$(COLAB))),@echo "[verify] the Colab replica was not run (ONLY or COLAB=0): make colab-check",$(BIN)/python tools/colab_check.py)

lint: $(STAMP)
	$(BIN)/ruff check coursekit tests bench notebooks

# JupyterLab from the repository root (notebooks/, assignments/ and Formgrader all
# reachable), with the virtualenv's tools (alembic, nbgrader) on PATH and the shipped
# configuration of ROLE on JUPYTER_CONFIG_PATH (jupyter/README.md): student (default) =
# Validate only, no exchange errors, no instructor tools; ROLE=instructor = Formgrader.
# LAB_ARGS="--port=9000" passes options to jupyter lab.
.PHONY: lab colab-check floors
ROLE ?= student
LAB_ARGS ?=
lab: $(STAMP)
	@case "$(ROLE)" in student|instructor) ;; *) echo "usage: make lab [ROLE=student|instructor]"; exit 2;; esac
	JUPYTER_CONFIG_PATH="$(CURDIR)/jupyter/$(ROLE)$(if $(JUPYTER_CONFIG_PATH),:$(JUPYTER_CONFIG_PATH))" $(BIN)/jupyter lab --notebook-dir=$(CURDIR) $(LAB_ARGS)

# A Colab replica (Python 3.13, Colab's pins, the notebooks' own setup cell), then every
# lecture notebook and reference solution in quick mode there (tools/colab_check.py).
colab-check: $(STAMP)
	$(BIN)/python tools/colab_check.py

# The numpy/matplotlib floors of pyproject.toml, tested in a throwaway virtualenv.
floors:
	bash tools/check_floors.sh

# Mutation gate of the autograders: killed/total per assignment; fails on an unlisted survivor
# (see coursekit/grading/mutants.py and solutions/<assignment>/EQUIVALENT_MUTANTS.md).
.PHONY: mutants
mutants: $(STAMP)
	COURSEKIT_QUICK=1 OPENBLAS_NUM_THREADS=1 $(BIN)/python -m coursekit.grading.mutants $(A)

clean:
	rm -rf build .pytest_cache

# ---------------------------------------------------------------- instructors
# See docs/instructor.md. A = assignment (backprop, optimizers_regularization,
# fashion_mnist_keras); FROM = folder exported by the learning platform.
.PHONY: check-release
A ?=
FROM ?=
WORKERS ?= 2
GRADE := $(BIN)/coursekit-grade

release: $(STAMP)
	$(GRADE) release $(A)

collect: $(STAMP)
	@test -n "$(A)" -a -n "$(FROM)" || { echo "usage: make collect A=<assignment> FROM=<folder>"; exit 2; }
	$(GRADE) collect $(A) $(FROM)

autograde: $(STAMP)
	@test -n "$(A)" || { echo "usage: make autograde A=<assignment> [WORKERS=2] [FORCE=1]"; exit 2; }
	$(GRADE) autograde $(A) --workers $(WORKERS) $(if $(FORCE),--force)

feedback: $(STAMP)
	@test -n "$(A)" || { echo "usage: make feedback A=<assignment>"; exit 2; }
	$(GRADE) feedback $(A)

export: $(STAMP)
	$(GRADE) export $(A)

summary: $(STAMP)
	@test -n "$(A)" || { echo "usage: make summary A=<assignment>"; exit 2; }
	$(GRADE) summary $(A)

check-release: $(STAMP)
	$(GRADE) check-release
