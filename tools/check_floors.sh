#!/usr/bin/env bash
# The oldest numpy and matplotlib that pyproject.toml allows, tested rather than guessed:
# a throwaway virtualenv with exactly those floors (and no TensorFlow), the library
# installed without dependencies, then the unit tests that need only numpy/matplotlib
# (those that need TensorFlow, Keras or nbclient skip themselves).
#   bash tools/check_floors.sh            # or: make floors
set -euo pipefail
cd "$(dirname "$0")/.."
NUMPY=${NUMPY:-2.0.0}
MATPLOTLIB=${MATPLOTLIB:-3.9.0}
PY=${PY:-python3.11}
VENV=${VENV:-$(mktemp -d /tmp/coursekit-floors.XXXXXX)}
"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q "numpy==$NUMPY" "matplotlib==$MATPLOTLIB" \
    "tqdm>=4.66" "pytest>=8.3" "pytest-timeout>=2.3" "packaging>=23.2"
"$VENV/bin/python" -m pip install -q --no-deps -e .
"$VENV/bin/python" -c "import numpy, matplotlib; print('[floors] numpy', numpy.__version__, 'matplotlib', matplotlib.__version__)"
"$VENV/bin/python" -m pytest -q -o addopts="-p no:cacheprovider -ra" \
    tests/test_activations.py tests/test_losses.py tests/test_optim.py tests/test_check.py \
    tests/test_plot.py tests/test_plot_live.py tests/test_plot_throughput.py \
    tests/test_data.py tests/test_datasets.py tests/test_env.py
