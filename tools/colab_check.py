"""A Colab replica: the notebooks' own Colab setup, then every notebook, on Colab's pins.

1. A Python 3.13 virtualenv (pyenv's 3.13.0) with exactly the pins of
   ``../shared/colab/constraints.txt`` (``tensorflow-cpu==2.20.0`` stands in for
   Colab's ``tensorflow``), kept in ``build/colab/venv`` and reused while the pins match.
2. A stand-in ``google.colab`` module, imported when the kernel starts (as on Colab).
3. The notebooks' setup cell, run as it is, with only the git URL swapped for this
   checkout; ``pip freeze`` before and after must agree on every preinstalled package.
4. Every lecture notebook and every assignment's reference solution executed in quick
   mode by that kernel (the setup cell installs from a wheel of this checkout).
5. ``python -m coursekit.playground.smoke`` there, when the module exists.

    .venv/bin/python tools/colab_check.py            # or: make colab-check
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONSTRAINTS = ROOT.parent / "shared" / "colab" / "constraints.txt"
BUILD = ROOT / "build" / "colab"
GIT_URL = re.compile(r"git\+https://github\.com/[^\"'\s]+?\.git@[^\"'\s]+")
STANDIN = '''"""Stand-in for Colab's google.colab (tools/colab_check.py): enough to be detected."""
__version__ = "0.0.0-replica"
'''


def log(msg: str) -> None:
    print(f"[colab-check] {msg}", flush=True)


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, text=True, **kw)


def make_venv(python313: list[str]) -> Path:
    """Create (or reuse) the replica virtualenv; return its python."""
    digest = hashlib.sha256(CONSTRAINTS.read_bytes()).hexdigest()[:12]
    venv = BUILD / "venv"
    stamp = venv / ".constraints-sha"
    py = venv / "bin" / "python"
    if py.exists() and stamp.exists() and stamp.read_text() == digest:
        log(f"reusing {venv} (pins unchanged)")
        subprocess.run([str(py), "-m", "pip", "uninstall", "-q", "-y", "coursekit"],
                       capture_output=True)
        return py
    shutil.rmtree(venv, ignore_errors=True)
    run(python313 + ["-m", "venv", str(venv)])
    version = run([str(py), "-c", "import sys; print(sys.version.split()[0])"],
                  capture_output=True).stdout.strip()
    if not version.startswith("3.13"):
        raise SystemExit(f"the replica needs Python 3.13, got {version}")
    log(f"installing Colab's pins into Python {version} (first run: a few minutes)")
    run([str(py), "-m", "pip", "install", "-q", "-r", str(CONSTRAINTS)])
    site = Path(run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                    capture_output=True).stdout.strip())
    (site / "google" / "colab").mkdir(parents=True, exist_ok=True)
    (site / "google" / "colab" / "__init__.py").write_text(STANDIN)
    stamp.write_text(digest)
    return py


def freeze(py: Path) -> dict[str, str]:
    out = run([str(py), "-m", "pip", "freeze", "--all"], capture_output=True).stdout
    pins = {}
    for line in out.splitlines():
        name = re.split(r"[=@ ]", line, maxsplit=1)[0].lower().replace("_", "-")
        pins[name] = line.strip()
    return pins


def check_pins(py: Path) -> None:
    have = freeze(py)
    for line in CONSTRAINTS.read_text().splitlines():
        line = line.split("#")[0].strip()
        if not line:
            continue
        name = line.split("==")[0].lower().replace("_", "-")
        if have.get(name, "").lower().replace("_", "-") != line.lower().replace("_", "-"):
            raise SystemExit(f"replica pin broken: want {line}, have {have.get(name)}")


def setup_cell(nb_path: Path) -> str:
    nb = json.loads(nb_path.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        src = "".join(cell["source"])
        if cell["cell_type"] == "code" and "google.colab" in src:
            return src
    raise SystemExit(f"{nb_path}: no Colab setup cell")


def kernel_dir(py: Path) -> Path:
    """A kernelspec that starts the replica's ipykernel with google.colab imported."""
    d = BUILD / "kernels" / "colab-replica"
    d.mkdir(parents=True, exist_ok=True)
    boot = ("import google.colab, sys; from ipykernel import kernelapp; "
            "kernelapp.launch_new_instance()")
    (d / "kernel.json").write_text(json.dumps({
        "argv": [str(py), "-c", boot, "-f", "{connection_file}"],
        "display_name": "Colab replica (Python 3.13)", "language": "python"}))
    return d.parent.parent


def kernel_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(COURSEKIT_QUICK="1", TF_ENABLE_ONEDNN_OPTS="0", PYTHONHASHSEED="0")
    for var, folder in (("COURSEKIT_FASHION_MNIST_DIR", "fashion-mnist-sample"),
                        ("COURSEKIT_MNIST_DIR", "mnist-sample")):
        sample = ROOT.parent / "shared" / "data" / folder
        if sample.is_dir():
            env.setdefault(var, str(sample))
    env.pop("MPLBACKEND", None)  # Colab's inline backend
    env.pop("COURSEKIT_HEADLESS", None)
    return env


def execute(nb_path: Path, source_swap: str, jupyter_path: Path, timeout: int) -> float:
    """Run a notebook in the replica kernel; its setup cell installs ``source_swap``."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(nb_path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code" and "google.colab" in cell.source:
            cell.source = GIT_URL.sub(source_swap, cell.source)
    os.environ["JUPYTER_PATH"] = str(jupyter_path)
    start = time.perf_counter()
    client = NotebookClient(nb, kernel_name="colab-replica", timeout=timeout,
                            resources={"metadata": {"path": str(nb_path.parent)}})
    client.execute(env=kernel_env())
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("notebooks", nargs="*", help="default: notebooks/*.ipynb solutions/*/*.ipynb")
    ap.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    ap.add_argument("--python", default=None, help="a Python 3.13 (default: pyenv's 3.13.0)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    py313 = [args.python] if args.python else ["env", "PYENV_VERSION=3.13.0", "pyenv", "exec",
                                                 "python"]
    py = make_venv(py313)
    check_pins(py)
    log(f"replica ready ({time.perf_counter() - t0:.0f} s)")

    # 3. The setup cell as the notebooks have it, the git URL swapped for this checkout.
    before = freeze(py)
    cell = GIT_URL.sub(f"file://{ROOT}", setup_cell(ROOT / "notebooks" / "01_why_deep_learning.ipynb"))
    cell = cell.split("\nimport numpy")[0]  # the install part only; the rest runs below
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "setup_cell.ipy"
        script.write_text("import google.colab\n" + cell + "\nimport coursekit\n"
                          "print('coursekit', coursekit.__version__, coursekit.__file__)\n")
        proc = subprocess.run([str(py), "-m", "IPython", "--no-banner", str(script)], cwd=tmp,
                              env=kernel_env(), text=True, capture_output=True)
        print(proc.stdout[-2000:], proc.stderr[-2000:], sep="", flush=True)
        if proc.returncode or "\ncoursekit " not in "\n" + proc.stdout:
            raise SystemExit("the setup cell did not make coursekit importable")
    after = freeze(py)
    changed = {k: (before[k], after.get(k)) for k in before if after.get(k) != before[k]}
    added = sorted(set(after) - set(before) - {"coursekit"})
    if changed or added:
        raise SystemExit(f"the setup cell changed preinstalled packages: {changed}, added {added}")
    log(f"setup cell: coursekit installed, {len(before)} preinstalled packages unchanged")

    # 4. Every notebook in that kernel; the setup cell installs a wheel of this checkout.
    wheel_dir = BUILD / "wheel"
    shutil.rmtree(wheel_dir, ignore_errors=True)
    run([str(py), "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheel_dir), str(ROOT)])
    wheel = next(wheel_dir.glob("coursekit-*.whl"))
    jupyter_path = kernel_dir(py)
    paths = [Path(p) for p in args.notebooks] or (
        sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted((ROOT / "solutions").glob("*/*.ipynb")))
    failures, rows = [], []
    for nb_path in paths:
        try:
            secs = execute(nb_path.resolve(), f"file://{wheel}", jupyter_path, args.timeout)
            rows.append((nb_path, "ok", secs))
        except Exception as exc:  # report every notebook, then fail
            rows.append((nb_path, "FAILED", float("nan")))
            failures.append(f"{nb_path}: {type(exc).__name__}: {str(exc)[-1500:]}")
        log(f"{rows[-1][1]:6s} {rows[-1][2]:7.1f} s  {nb_path.relative_to(ROOT) if nb_path.is_absolute() else nb_path}")
    if freeze(py).keys() - before.keys() - {"coursekit"}:
        failures.append("running the notebooks installed packages into the replica")

    # 5. The playground's widgets against ipywidgets 7.7.1.
    if (ROOT / "coursekit" / "playground" / "smoke.py").exists():
        s = time.perf_counter()
        proc = subprocess.run([str(py), "-m", "coursekit.playground.smoke"], text=True,
                              capture_output=True, env={**kernel_env(), "MPLBACKEND": "Agg"},
                              cwd=BUILD)
        print(proc.stdout[-3000:], proc.stderr[-3000:], sep="\n", flush=True)
        status = "ok" if proc.returncode == 0 else "FAILED"
        if proc.returncode:
            failures.append(f"coursekit.playground.smoke exited {proc.returncode}")
        log(f"{status:6s} {time.perf_counter() - s:7.1f} s  python -m coursekit.playground.smoke")

    total = time.perf_counter() - t0
    for f in failures:
        print(f"[colab-check] FAILED {f}", file=sys.stderr)
    log(f"{len(rows) - sum(r[1] != 'ok' for r in rows)}/{len(rows)} notebooks ok, "
        f"{len(failures)} failures, {total:.0f} s in all")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
