#!/usr/bin/env bash
# The GPU path, checked in one go: notebooks 13 and 14 in full mode, then bench/fashion_mnist.py
# on every device TensorFlow sees (with XLA + mixed precision too when there is a GPU), and one
# table: source, device, model, batch, images/s, seconds per epoch, test accuracy.
#
#   bash bench/gpu_check.sh            # from the repository root, after `make setup`
#   OUT=build/gpu_check EPOCHS=3 bash bench/gpu_check.sh
#   BENCH_ARGS="--synthetic-size 8192 1000" bash bench/gpu_check.sh   # extra bench/fashion_mnist.py options
#   NOTEBOOKS_FROM=build/course bash bench/gpu_check.sh   # tabulate notebooks already run in full mode
#
# Without a GPU it runs the same on the CPU (notebooks 13 and 14 then pick their CPU-sized
# settings) and says that the GPU run is still to be done. Exit status 1 if a step failed.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=${OUT:-build/gpu_check}
EPOCHS=${EPOCHS:-3}
read -r -a EXTRA <<< "${BENCH_ARGS:-}"
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-3} PYTHONUNBUFFERED=1
mkdir -p "$OUT"
start=$(date +%s)
status=0

gpus=$("$PY" -c "import tensorflow as tf; print(len(tf.config.list_physical_devices('GPU')))" 2>/dev/null || echo 0)
echo "[gpu_check] GPUs seen by TensorFlow: $gpus"

if [ -n "${NOTEBOOKS_FROM:-}" ]; then  # re-tabulate notebooks already executed in full mode there
  echo "[gpu_check] notebooks 13 and 14: reusing the executed copies in $NOTEBOOKS_FROM (not run again)"
  mkdir -p "$OUT/notebooks"
  cp "$NOTEBOOKS_FROM"/13_*.ipynb "$NOTEBOOKS_FROM"/14_*.ipynb "$OUT/notebooks/" || status=1
else
  echo "[gpu_check] notebooks 13 and 14, full mode"
  "$PY" -m coursekit.runner notebooks --full --only 13_ 14_ --out "$OUT/notebooks" || status=1
fi

echo "[gpu_check] bench/fashion_mnist.py on every device"
# Fashion-MNIST from COURSEKIT_FASHION_MNIST_DIR / the cache / a download; full-size random images otherwise.
data=auto
"$PY" -c "import coursekit.data as d; d.load_fashion_mnist(download=False)" >/dev/null 2>&1 || data=synthetic
"$PY" bench/fashion_mnist.py --data "$data" --device all --epochs "$EPOCHS" --batch-sizes 128 1024 \
    --steps-per-execution 8 --json "$OUT/bench.json" "${EXTRA[@]}" || status=1
if [ "$gpus" -gt 0 ]; then
  "$PY" bench/fashion_mnist.py --data "$data" --device gpu --epochs "$EPOCHS" --batch-sizes 128 1024 \
      --steps-per-execution 8 --jit --mixed-precision --json "$OUT/bench_xla_mixed.json" "${EXTRA[@]}" || status=1
fi

"$PY" - "$OUT" "$data" "$gpus" <<'EOF'
import json, re, sys
from pathlib import Path

import nbformat

out, data, gpus = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
ROW = re.compile(r"^(cpu|gpu)\s+(.+?)\s+(\d+)\s+([\d,]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)$")


def stdout(nb, cell_id):
    cell = next((c for c in nb.cells if c.get("id") == cell_id), None)
    return "".join(o.get("text", "") for o in (cell or {}).get("outputs", []) if o.get("name") == "stdout")


rows = []  # source, device, model, batch, images/s, s/epoch, test accuracy
for name in ("13_fashion_mnist_keras_gpu", "14_gpu_vs_cpu"):
    path = out / "notebooks" / f"{name}.ipynb"
    if not path.is_file():
        rows.append((name, "-", "notebook did not run", "-", "-", "-", "-"))
        continue
    nb = nbformat.read(path, as_version=4)
    for cell_id in ("gpu", "run"):  # benchmark_fit tables: 13's XLA/mixed-precision runs, 14's sweep
        for line in stdout(nb, cell_id).splitlines():
            m = ROW.match(line.strip())
            if m:
                acc = "chance (random images)" if name.startswith("14") else m[7]
                rows.append((f"notebook {name[:2]}", m[1], m[2], m[3], m[4], m[5], acc))
    if name.startswith("13"):  # the epoch timers of the three models, and their final test accuracies
        text, metric = stdout(nb, "speed"), stdout(nb, "metric")
        batch = re.search(r"batch size (\d+)", text)
        device = "gpu" if "GPU:" in text.splitlines()[0] else "cpu" if text else "-"
        accs = dict(re.findall(r"^\s+(baseline MLP|improved MLP|small CNN)\S*(?: [\d-]+)?\s+([\d.]+)%", metric, re.M))
        for model in ("baseline MLP", "improved MLP", "small CNN"):
            m = re.search(rf"^{model}\s+[\d,]+\s+([\d,]+)\s+([\d,]+)\s+([\d.]+)", text, re.M)
            if m:
                acc = f"{float(accs[model]) / 100:.4f}" if model in accs else "-"
                rows.append(("notebook 13", device, f"{model} ({m[1]} img/epoch)", batch[1] if batch else "-",
                             m[2], m[3], acc))
    if not any(r[0] == f"notebook {name[:2]}" for r in rows):
        rows.append((f"notebook {name[:2]}", "-", "no timing rows found (did it fail?)", "-", "-", "-", "-"))
for fname in ("bench.json", "bench_xla_mixed.json"):
    path = out / fname
    if path.is_file():
        for r in json.loads(path.read_text()):
            opts = "+XLA+mixed16" if r["options"].get("mixed_precision") else ""
            acc = f"{r['test_accuracy']:.4f}" + (" (random images)" if data == "synthetic" else "")
            rows.append((f"bench ({data})", r["device"], r["model"] + opts, str(r["batch_size"]),
                         f"{r['images_per_second']:,.0f}", f"{r['seconds_per_epoch']:.3f}", acc))
head = ("source", "device", "model", "batch", "images/s", "s/epoch", "test acc")
widths = [max(len(str(x[i])) for x in (head, *rows)) for i in range(len(head))]
for i, r in enumerate((head, *rows)):
    print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())
    if i == 0:
        print("  ".join("-" * w for w in widths))
if gpus == 0:
    print("\nNo GPU on this machine: CPU rows only. The GPU run of this script is still to be done.")
EOF
[ $? -eq 0 ] || status=1
echo "[gpu_check] done in $(( $(date +%s) - start )) s, status $status"
exit $status
