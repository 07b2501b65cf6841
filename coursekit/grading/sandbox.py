"""The restricted kernel that runs student code during autograding.

:func:`install_kernelspec` writes a Jupyter kernelspec whose ``argv`` is::

    prlimit --as=MEM --nproc=N --fsize=F \\
        [unshare --user --map-root-user --mount --] \\
        PYTHON .../coursekit/grading/sandbox.py CONFIG.json {connection_file}

so every kernel gets an address-space (memory) limit, a process limit and a
file-size limit and, where unprivileged user namespaces work, its own mount
namespace. In there, this file (run as a script; it imports only the standard
library so the kernel starts fast) hides the course folder, the gradebook and
the solutions behind empty tmpfs mounts, bind-mounts back read-only only the
Python environment and the ``coursekit`` package, bind-mounts the submission's
own folder at a fresh path (``<course>/submission``, so ``..`` leads nowhere),
blanks the notebook files in it (the sanitised notebook holds the hidden
tests), and then replaces itself with ``python -m ipykernel_launcher``.

When ``unshare`` does not work, the kernel runs with the limits only; the
grading report and ``coursekit-grade summary`` say so.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

KERNEL_NAME = "coursekit-sandbox"
DEFAULT_MEMORY = 6 * 1024**3  # TensorFlow reserves a lot of address space
DEFAULT_NPROC = 512
DEFAULT_FSIZE = 200 * 1024**2

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18

_NAMESPACE_OK: bool | None = None


#: Set in every grading kernel. One BLAS thread per kernel: with two workers on
#: two cores, multi-threaded OpenBLAS oversubscribes the CPU (a 5 s training cell
#: took 60 s). TensorFlow's C++ log lines would land on stderr, which nbgrader
#: counts as a failed test cell.
GRADING_KERNEL_ENV = {
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "TF_ENABLE_ONEDNN_OPTS": "0",
}


def namespace_available() -> bool:
    """Whether ``unshare --user --map-root-user --mount`` and mounting work here (cached)."""
    global _NAMESPACE_OK
    if _NAMESPACE_OK is None:
        unshare = shutil.which("unshare")
        if unshare is None:
            _NAMESPACE_OK = False
        else:
            probe = "mount -t tmpfs none /mnt 2>/dev/null || mount -t tmpfs none /tmp"
            try:
                res = subprocess.run(
                    [unshare, "--user", "--map-root-user", "--mount", "sh", "-c", probe],
                    capture_output=True,
                    timeout=20,
                )
                _NAMESPACE_OK = res.returncode == 0
            except (OSError, subprocess.SubprocessError):
                _NAMESPACE_OK = False
    return _NAMESPACE_OK


def _parse_size(value: int | str) -> int:
    if isinstance(value, int):
        return value
    text = str(value).strip().upper().removesuffix("B").removesuffix("I")
    factors = {"K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
    if text and text[-1] in factors:
        return int(float(text[:-1]) * factors[text[-1]])
    return int(text)


def parse_size(value: int | str) -> int:
    """Bytes from ``6G``, ``512M``, ``6GiB`` or a plain integer.

    Raises
    ------
    ValueError
        For anything else.
    """
    try:
        size = _parse_size(value)
    except ValueError:
        raise ValueError(f"cannot read a size from {value!r}: use e.g. 6G, 512M or bytes") from None
    if size <= 0:
        raise ValueError(f"a size must be positive, got {value!r}")
    return size


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def install_kernelspec(
    work_dir: str | os.PathLike[str],
    *,
    hide: list[str],
    memory: int | str = DEFAULT_MEMORY,
    nproc: int = DEFAULT_NPROC,
    fsize: int | str = DEFAULT_FSIZE,
    isolate: bool | None = None,
) -> dict[str, Any]:
    """Write the sandbox kernelspec under ``work_dir/jupyter/kernels/``.

    Parameters
    ----------
    work_dir : path-like
        Folder for the kernelspec and its config (put ``work_dir/jupyter`` on ``JUPYTER_PATH``).
    hide : list of str
        Files and folders student code must not see (course root, gradebook, solutions).
    memory, nproc, fsize
        Limits of the kernel process: address space (bytes or ``"6G"``), processes,
        largest file written.
    isolate : bool, optional
        Use a mount namespace; default: when :func:`namespace_available`.

    Returns
    -------
    dict
        ``kernel_name``, ``jupyter_path``, ``isolation`` (``"namespace+limits"`` or
        ``"limits only"``) and the limits.
    """
    work_dir = Path(work_dir).resolve()
    if isolate is None:
        isolate = namespace_available()
    memory, fsize = parse_size(memory), parse_size(fsize)
    spec_dir = work_dir / "jupyter" / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True, exist_ok=True)
    hide_real = sorted({os.path.realpath(p) for p in hide if p})
    keep = {os.path.realpath(sys.prefix), str(Path(__file__).resolve().parents[1])}
    for var in ("COURSEKIT_MNIST_DIR", "COURSEKIT_FASHION_MNIST_DIR"):
        if os.environ.get(var):
            keep.add(os.path.realpath(os.environ[var]))
    config = {"namespace": bool(isolate), "hide": hide_real, "keep": sorted(keep)}
    config_path = spec_dir / "sandbox.json"
    config_path.write_text(json.dumps(config, indent=1))

    argv: list[str] = []
    prlimit = shutil.which("prlimit")
    if prlimit:
        argv += [prlimit, f"--as={memory}", f"--nproc={nproc}", f"--fsize={fsize}"]
    else:  # the launcher sets the same limits with setrlimit
        config.update(memory=memory, nproc=nproc, fsize=fsize)
        config_path.write_text(json.dumps(config, indent=1))
    if isolate:
        argv += [shutil.which("unshare") or "unshare", "--user", "--map-root-user", "--mount", "--"]
    argv += [sys.executable, str(Path(__file__).resolve()), str(config_path), "{connection_file}"]
    package_parent = str(Path(__file__).resolve().parents[2])
    pythonpath = os.pathsep.join(
        p for p in (package_parent, os.environ.get("PYTHONPATH", "")) if p
    )
    spec = {
        "argv": argv,
        "display_name": "Python 3 (coursekit grading sandbox)",
        "language": "python",
        "env": {"PYTHONPATH": pythonpath, **GRADING_KERNEL_ENV},
        "metadata": {"debugger": False},
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1))
    return {
        "kernel_name": KERNEL_NAME,
        "jupyter_path": str(work_dir / "jupyter"),
        "isolation": "namespace+limits" if isolate else "limits only",
        "memory": memory,
        "nproc": nproc,
        "fsize": fsize,
    }


# ---------------------------------------------------------------------------
# the launcher (runs inside the new namespace, before the kernel)


def _libc() -> Any:
    return ctypes.CDLL(None, use_errno=True)


def _mount(libc: Any, source: str | None, target: str, fstype: str | None, flags: int,
           data: str | None = None) -> None:
    def enc(s: str | None) -> bytes | None:
        return s.encode() if s is not None else None

    if libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {source} -> {target}: {os.strerror(err)}")


def _readonly_bind(libc: Any, fd_path: str, target: str) -> None:
    _mount(libc, fd_path, target, None, MS_BIND | MS_REC)
    st = os.statvfs(target)
    locked = st.f_flag & (MS_NOSUID | MS_NODEV | MS_NOEXEC)
    try:
        _mount(libc, None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | locked)
    except OSError:
        pass  # stays writable; the limits still apply


def _enter_sandbox(config: dict[str, Any], conn: str) -> str:
    """Set up the mounts; return the folder the kernel should start in."""
    libc = _libc()
    cwd = os.path.realpath(os.getcwd())
    hide = [h for h in config["hide"] if os.path.exists(h)]
    # a hidden path inside another hidden folder is already covered
    tops = [h for h in hide if not any(o != h and _under(h, o) and os.path.isdir(o) for o in hide)]
    keep = [k for k in config["keep"] if os.path.exists(k) and any(_under(k, t) for t in tops)]
    conn_real = os.path.realpath(conn)
    conn_data = Path(conn_real).read_bytes() if os.path.exists(conn_real) else None

    _mount(libc, "none", "/", None, MS_REC | MS_PRIVATE)
    keep_fds = {k: os.open(k, os.O_PATH) for k in keep}
    cwd_fd = os.open(cwd, os.O_PATH)
    for h in tops:
        if os.path.isdir(h):
            _mount(libc, "tmpfs", h, "tmpfs", MS_NOSUID | MS_NODEV, "mode=755,size=256m")
        else:
            _mount(libc, "/dev/null", h, None, MS_BIND)
    for k, fd in keep_fds.items():
        os.makedirs(k, exist_ok=True)
        _readonly_bind(libc, f"/proc/self/fd/{fd}", k)
    home = next((t for t in tops if os.path.isdir(t) and _under(cwd, t)), None)
    if home is not None:
        workdir = os.path.join(home, "submission")
        os.makedirs(workdir, exist_ok=True)
        _mount(libc, f"/proc/self/fd/{cwd_fd}", workdir, None, MS_BIND | MS_REC)
        os.environ["IPYTHONDIR"] = os.path.join(home, ".ipython")
    else:
        workdir = cwd
    # the sanitised notebook in the submission folder holds the hidden tests
    for name in os.listdir(workdir):
        if name.endswith(".ipynb"):
            _mount(libc, "/dev/null", os.path.join(workdir, name), None, MS_BIND)
    if conn_data is not None and not os.path.exists(conn_real):
        os.makedirs(os.path.dirname(conn_real), exist_ok=True)
        Path(conn_real).write_bytes(conn_data)
    for fd in (*keep_fds.values(), cwd_fd):
        os.close(fd)
    return workdir


def _set_limits(config: dict[str, Any]) -> None:
    import resource

    for key, res in (("memory", resource.RLIMIT_AS), ("nproc", resource.RLIMIT_NPROC),
                     ("fsize", resource.RLIMIT_FSIZE)):
        if config.get(key):
            resource.setrlimit(res, (int(config[key]), int(config[key])))


def main(argv: list[str] | None = None) -> None:
    """Launcher entry point: ``sandbox.py CONFIG.json CONNECTION_FILE [kernel args...]``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) < 2:
        sys.exit("usage: sandbox.py CONFIG.json CONNECTION_FILE [kernel arguments...]")
    config = json.loads(Path(argv[0]).read_text())
    conn, extra = argv[1], argv[2:]
    _set_limits(config)
    if config.get("namespace"):
        workdir = _enter_sandbox(config, conn)
        os.chdir(workdir)
    os.environ["COURSEKIT_SANDBOX"] = "namespace+limits" if config.get("namespace") else "limits only"
    os.execv(sys.executable, [sys.executable, "-m", "ipykernel_launcher", "-f", conn, *extra])


if __name__ == "__main__":
    main()
