"""The sandbox every piece of student code runs in while autograding.

A grading kernel (and every process of the isolated test runner) is started
through :func:`wrap`, which returns the command line::

    bwrap --unshare-pid --unshare-ipc --unshare-uts --unshare-net --unshare-cgroup-try
          --die-with-parent --new-session --clearenv --proc /proc --dev /dev --tmpfs /tmp
          [--unshare-user --disable-userns: as an ordinary user, bwrap 0.8+]
          --ro-bind <system folders, the Python environment, coursekit, data folders>
          --bind <the submission's scratch folder> /submission --chdir /submission
          --cap-drop ALL [--cap-add setuid/setgid/setpcap: as root, for setpriv only]
      [setpriv --reuid U --regid U --clear-groups --inh-caps=-all --bounding-set=-all --no-new-privs --]
      prlimit --as=MEM --nproc=N --fsize=F -- COMMAND

So the code sees its own processes only (new PID namespace: it cannot signal
other kernels or the grader), has no network (a loopback only), a private
``/tmp``, a read-only Python environment, and a single writable folder, the
scratch copy of its own submission folder. The gradebook, ``solutions/``,
``submitted/`` and every other course file are simply not mounted. When the
grader runs as root, the code runs as an unprivileged uid of its own (one per
submission) with no capabilities and ``no_new_privs``: it cannot unmount or
remount anything, and ``RLIMIT_NPROC`` (which root ignores) limits its
processes. As an ordinary user, bubblewrap puts it in a user namespace without
capabilities, in which (bwrap 0.8+) it cannot create another one.

The kernelspec's command is this file run as a script (standard library only,
so a kernel starts fast): it copies the connection file next to the kernel's
IPC sockets, prepares the scratch folder and replaces itself with ``bwrap``,
whose ``--json-status-fd`` leaves the kernel's exit status in a file the
grader reads when the kernel dies (what was observed, not a guess).

Without namespaces (``isolate=False``, the CLI's ``--no-isolation``) the
command is the ``prlimit`` part alone: limits only, and the reports say so.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

KERNEL_NAME = "coursekit-sandbox"
DEFAULT_MEMORY = 6 * 1024**3  # TensorFlow reserves a lot of address space
DEFAULT_NPROC = 512
DEFAULT_FSIZE = 200 * 1024**2
#: Where the submission's scratch folder appears inside the sandbox.
SANDBOX_WORKDIR = "/submission"
#: First uid handed to sandboxed code when the grader runs as root (one per submission).
UID_BASE = 2_000_000
#: The kernel's variables for the isolated tests (:mod:`coursekit.grading.kernel_export`):
#: the names to write at shutdown, the file (as the kernel sees it), and that file inside the sandbox.
EXPORT_NAMES_ENV = "COURSEKIT_EXPORT_NAMES"
EXPORT_FILE_ENV = "COURSEKIT_EXPORT_FILE"
EXPORT_SANDBOX_FILE = SANDBOX_WORKDIR + "/.coursekit-trained"
ISOLATED = "bwrap"
LIMITS_ONLY = "limits only"
_SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")
#: Environment variables passed into the sandbox (everything else is cleared).
_PASS_ENV = ("LANG", "LC_ALL", "TZ", "PYTHONHASHSEED", "NBGRADER_EXECUTION",
             "PYDEVD_DISABLE_FILE_VALIDATION")
_PASS_PREFIXES = ("COURSEKIT_", "KERAS_")
_NOT_PASSED = ("COURSEKIT_SANDBOX_RUN", "COURSEKIT_SANDBOX_UID", "COURSEKIT_SANDBOX_PARENT")

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

_PROBE: dict[str, str | None] = {}


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or cannot create namespaces here."""


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


def readonly_paths() -> list[str]:
    """Folders the sandbox sees read-only: Python environment, coursekit, data folders."""
    here = Path(__file__).resolve()
    paths = {os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix),
             os.path.realpath(os.path.dirname(sys.executable)), str(here.parents[1])}
    for var in ("COURSEKIT_MNIST_DIR", "COURSEKIT_FASHION_MNIST_DIR", "COURSEKIT_DATA_DIR"):
        if os.environ.get(var) and os.path.isdir(os.environ[var]):
            paths.add(os.path.realpath(os.environ[var]))
    # a folder inside another one is bound with it
    return sorted(p for p in paths if not any(o != p and _under(p, o) for o in paths))


def bwrap_problem() -> str | None:
    """Why the bubblewrap sandbox cannot be used here, or ``None`` when it works (cached)."""
    if "bwrap" not in _PROBE:
        _PROBE["bwrap"] = _probe()
    return _PROBE["bwrap"]


def _probe() -> str | None:
    exe = shutil.which("bwrap")
    if exe is None:
        return ("bubblewrap (bwrap) is not installed: install it (Debian/Ubuntu: "
                "apt-get install bubblewrap; Fedora: dnf install bubblewrap)")
    argv = wrap(["/bin/true"], workdir=None, limits=False)
    try:
        res = subprocess.run(argv, capture_output=True, timeout=30, text=True)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"bwrap could not be started: {exc}"
    if res.returncode != 0:
        why = (res.stderr.strip().splitlines() or [f"exit status {res.returncode}"])[-1]
        return f"bwrap cannot create the sandbox's namespaces here ({why}); {namespace_hint(why)}"
    return None


def namespace_hint(why: str) -> str:
    """What to change, read from bwrap's own error line (its wording is bubblewrap 0.4-0.11's)."""
    text = why.lower()
    if "uid map" in text or "apparmor" in text:
        # Ubuntu 23.10+: AppArmor lets an unprivileged process create the namespace, not map its uid
        return ("AppArmor forbids unprivileged user namespaces here (Ubuntu 23.10 and later): allow "
                "them for bwrap with an AppArmor profile, or set sysctl "
                "kernel.apparmor_restrict_unprivileged_userns=0, or grade as root")
    if "non-privileged user namespaces" in text or "no permissions to creat" in text:
        return ("this Linux kernel does not allow unprivileged user namespaces: enable them "
                "(Debian: sysctl kernel.unprivileged_userns_clone=1), or grade as root")
    if "no space left" in text or "max_user_namespaces" in text:
        return ("no user namespace may be created (sysctl user.max_user_namespaces is 0 or used up): "
                "raise it, e.g. sysctl user.max_user_namespaces=15000, or grade as root")
    return ("in a container, allow user namespaces (e.g. docker --security-opt seccomp=unconfined, or "
            "run the grader on the host)")


def bwrap_version() -> tuple[int, ...]:
    """bubblewrap's version, e.g. ``(0, 8, 0)``; ``()`` when unknown (cached)."""
    if "version" not in _PROBE:
        try:
            out = subprocess.run([shutil.which("bwrap") or "bwrap", "--version"], capture_output=True,
                                 text=True, timeout=10).stdout
            _PROBE["version"] = out.split()[-1] if out.split() else ""
        except (OSError, subprocess.SubprocessError):
            _PROBE["version"] = ""
    parts = []
    for part in (_PROBE["version"] or "").split("."):
        if not part.isdigit():
            break
        parts.append(int(part))
    return tuple(parts)


def namespace_available() -> bool:
    """Whether the bubblewrap sandbox works on this machine."""
    return bwrap_problem() is None


def limit_argv(memory: int | str = DEFAULT_MEMORY, nproc: int = DEFAULT_NPROC,
               fsize: int | str = DEFAULT_FSIZE) -> list[str]:
    """``prlimit`` prefix setting the address-space, process and file-size limits."""
    prlimit = shutil.which("prlimit") or "prlimit"
    return [prlimit, f"--as={parse_size(memory)}", f"--nproc={int(nproc)}",
            f"--fsize={parse_size(fsize)}", "--"]


def sandbox_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The whole environment of sandboxed code (the grader's own is not passed on)."""
    python_bin = os.path.dirname(sys.executable)
    env = {
        "PATH": os.pathsep.join([python_bin, "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": "/tmp",
        "IPYTHONDIR": "/tmp/.ipython",
        "MPLCONFIGDIR": "/tmp/.matplotlib",
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        "COURSEKIT_SANDBOX": ISOLATED,
    }
    for key, value in os.environ.items():
        if (key in _PASS_ENV or key.startswith(_PASS_PREFIXES)) and key not in _NOT_PASSED:
            env[key] = value
    env.update(GRADING_KERNEL_ENV)
    env.update(extra or {})
    return env


def wrap(
    argv: list[str],
    *,
    workdir: str | os.PathLike[str] | None,
    uid: int | None = None,
    binds: list[str] | None = None,
    limits: bool | Mapping[str, Any] = True,
    env: Mapping[str, str] | None = None,
) -> list[str]:
    """The command line that runs ``argv`` inside the sandbox.

    Parameters
    ----------
    argv : list of str
        The command (its programs must be inside the read-only paths).
    workdir : path-like or None
        Host folder mounted writable at ``/submission`` (the command's cwd);
        ``None``: none (cwd ``/tmp``).
    uid : int, optional
        Unprivileged uid to run as (only when the grader runs as root);
        default ``UID_BASE``.
    binds : list of str, optional
        Extra host folders mounted writable at the same path (the kernel's IPC sockets).
    limits : bool or mapping
        ``True``: the default limits; a mapping with ``memory``, ``nproc``, ``fsize``;
        ``False``: none.
    env : mapping, optional
        Extra environment variables.

    Returns
    -------
    list of str
        The full ``bwrap ...`` command.
    """
    if not isinstance(argv, list) or not argv:
        raise ValueError("argv must be a non-empty list of strings, e.g. ['python', '-c', '1']")
    args = [shutil.which("bwrap") or "bwrap", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
            "--unshare-net", "--unshare-cgroup-try", "--hostname", "sandbox",
            "--die-with-parent", "--new-session", "--clearenv"]
    if os.geteuid() != 0 and bwrap_version() >= (0, 8):
        # as a user, the code could make a nested user namespace with every capability in it (its
        # mounts stay locked, but the kernel's attack surface grows): bwrap 0.8+ can forbid that
        args += ["--unshare-user", "--disable-userns"]
    for key, value in sandbox_env(env).items():
        args += ["--setenv", key, value]
    for path in _SYSTEM_DIRS:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    ro = readonly_paths()
    parents = sorted({str(a) for p in ro for a in Path(p).parents if str(a) != "/"
                      and not any(_under(str(a), d) for d in _SYSTEM_DIRS)})
    for path in parents:  # bwrap would copy modes such as /root's 0700
        args += ["--perms", "0755", "--dir", path]
    for path in ro:
        args += ["--ro-bind", path, path]
    args += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/tmp"]
    for path in binds or []:
        for parent in reversed(Path(path).parents):
            if _under(str(parent), "/tmp") and str(parent) != "/tmp":
                args += ["--perms", "0755", "--dir", str(parent)]
        args += ["--bind", path, path]
    if workdir is not None:
        args += ["--bind", os.fspath(workdir), SANDBOX_WORKDIR, "--chdir", SANDBOX_WORKDIR]
    else:
        args += ["--chdir", "/tmp"]
    args += ["--cap-drop", "ALL"]
    inner: list[str] = []
    if os.geteuid() == 0:
        uid = UID_BASE if uid is None else int(uid)
        args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SETPCAP"]
        inner += [shutil.which("setpriv") or "setpriv", f"--reuid={uid}", f"--regid={uid}",
                  "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]
    if limits:
        inner += limit_argv(**(limits if isinstance(limits, Mapping) else {}))
    return args + ["--", *inner, *argv]


def prepare_workdir(path: str | os.PathLike[str], uid: int | None) -> None:
    """Make ``path`` (and what is in it) writable by the sandbox's uid."""
    if uid is None or os.geteuid() != 0:
        return
    for root, dirs, files in os.walk(path):
        for name in [*dirs, *files]:
            os.lchown(os.path.join(root, name), uid, uid)
    os.chown(path, uid, uid)


def install_kernelspec(
    work_dir: str | os.PathLike[str],
    *,
    memory: int | str = DEFAULT_MEMORY,
    nproc: int = DEFAULT_NPROC,
    fsize: int | str = DEFAULT_FSIZE,
    isolate: bool = True,
    hide: list[str] | None = None,
) -> dict[str, Any]:
    """Write the sandbox kernelspec under ``work_dir/jupyter/kernels/``.

    Parameters
    ----------
    work_dir : path-like
        Folder for the kernelspec and its config (put ``work_dir/jupyter`` on ``JUPYTER_PATH``).
    memory, nproc, fsize
        Limits of the kernel: address space (bytes or ``"6G"``), processes, largest file.
    isolate : bool
        Run kernels under bubblewrap (default); ``False``: limits only.
    hide : list of str, optional
        Ignored (the sandbox mounts only what it needs); kept for old callers.

    Returns
    -------
    dict
        ``kernel_name``, ``jupyter_path``, ``isolation`` (``"bwrap"`` or
        ``"limits only"``) and the limits.
    """
    work_dir = Path(work_dir).resolve()
    memory, fsize = parse_size(memory), parse_size(fsize)
    spec_dir = work_dir / "jupyter" / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True, exist_ok=True)
    config = {"isolate": bool(isolate), "memory": memory, "nproc": int(nproc), "fsize": fsize}
    config_path = spec_dir / "sandbox.json"
    config_path.write_text(json.dumps(config, indent=1))
    spec = {
        "argv": [sys.executable, str(Path(__file__).resolve()), str(config_path), "{connection_file}"],
        "display_name": "Python 3 (coursekit grading sandbox)",
        "language": "python",
        # a signal would reach bwrap, not the kernel: interrupt by message
        "interrupt_mode": "message",
        "env": {"PYTHONPATH": str(Path(__file__).resolve().parents[2]), **GRADING_KERNEL_ENV},
        "metadata": {"debugger": False},
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1))
    return {"kernel_name": KERNEL_NAME, "jupyter_path": str(work_dir / "jupyter"),
            "isolation": ISOLATED if isolate else LIMITS_ONLY,
            "memory": memory, "nproc": int(nproc), "fsize": fsize}


def describe_exit(status_file: str | os.PathLike[str]) -> str | None:
    """What happened to a sandboxed kernel, from bwrap's status file (``None``: no record).

    bwrap reports ``128 + N`` for a process killed by signal ``N``.
    """
    try:
        text = Path(status_file).read_text()
    except OSError:
        return None
    code, pos, decoder = None, 0, json.JSONDecoder()
    while pos < len(text):
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            break
        try:
            doc, pos = decoder.raw_decode(text, pos)
        except ValueError:
            break
        if isinstance(doc, dict) and "exit-code" in doc:
            code = int(doc["exit-code"])
    if code is None:
        return None
    if code > 128:
        try:
            name = signal.Signals(code - 128).name
        except ValueError:
            name = f"signal {code - 128}"
        return f"the kernel process was killed by {name} (sandbox exit status {code})"
    return f"the kernel process exited with status {code}"


# ---------------------------------------------------------------------------
# the launcher: the kernelspec's command, run by jupyter_client outside the sandbox


def export_file(run: str | os.PathLike[str], isolated: bool) -> Path:
    """Where the kernel started for the run folder ``run`` writes its variables, seen from the grader."""
    return Path(run) / "work" / Path(EXPORT_SANDBOX_FILE).name if isolated else Path(run) / "trained.frame"


def die_with_parent(parent: int) -> None:
    """Be killed when the grading worker ``parent`` dies; exit now if it already has.

    bwrap's ``--die-with-parent`` starts only once bwrap runs: a worker killed while this
    launcher was still starting (a Dask worker killed mid-task, under load) left its
    kernel running for good, orphaned. ``PR_SET_PDEATHSIG`` survives the exec into bwrap.
    """
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # no prctl (not Linux): there is no bwrap either
        return
    if os.getppid() != parent:
        sys.exit(f"the grading worker (pid {parent}) that started this kernel is gone")


def main(argv: list[str] | None = None) -> None:
    """``sandbox.py CONFIG.json CONNECTION_FILE``: start ipykernel inside the sandbox.

    The worker sets ``COURSEKIT_SANDBOX_RUN`` (a private folder holding ``sock/``,
    ``work/`` and ``status.json``) and ``COURSEKIT_SANDBOX_UID`` before it starts a kernel.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) < 2:
        sys.exit("usage: sandbox.py CONFIG.json CONNECTION_FILE")
    die_with_parent(int(os.environ.get("COURSEKIT_SANDBOX_PARENT") or os.getppid()))
    config = json.loads(Path(argv[0]).read_text())
    conn = Path(argv[1])
    run = Path(os.environ.get("COURSEKIT_SANDBOX_RUN") or conn.parent)
    uid_text = os.environ.get("COURSEKIT_SANDBOX_UID")
    uid = int(uid_text) if uid_text else None
    info = json.loads(conn.read_text())
    limits = {k: config[k] for k in ("memory", "nproc", "fsize")}
    exporting = bool(os.environ.get(EXPORT_NAMES_ENV))
    kernel = [sys.executable, "-m", "coursekit.grading.kernel_export"]  # ipykernel behind the keyring filter
    if not config.get("isolate"):
        os.environ["COURSEKIT_SANDBOX"] = LIMITS_ONLY
        if exporting:
            os.environ[EXPORT_FILE_ENV] = str(export_file(run, isolated=False))
        os.execv(limit_argv(**limits)[0], [*limit_argv(**limits), *kernel, "-f", str(conn)])
    if info.get("transport") != "ipc":
        sys.exit("the sandbox has no network: start the kernel with KernelManager.transport='ipc'")
    sock = os.path.dirname(info["ip"])
    inner_conn = os.path.join(sock, "connection.json")
    Path(inner_conn).write_text(json.dumps(info))
    work = run / "work"
    work.mkdir(exist_ok=True)
    for item in Path.cwd().iterdir():  # the files beside the notebook, never a notebook
        if item.is_file() and item.suffix != ".ipynb" and not (work / item.name).exists():
            shutil.copy2(item, work / item.name)
    if os.geteuid() == 0 and uid is not None:
        prepare_workdir(work, uid)
        prepare_workdir(sock, uid)
        os.chmod(inner_conn, 0o400)
    status = os.open(run / "status.json", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    cmd = wrap([*kernel, "-f", inner_conn], workdir=work, uid=uid, binds=[sock], limits=limits,
               env={EXPORT_FILE_ENV: EXPORT_SANDBOX_FILE} if exporting else None)
    cmd.insert(1, str(status))
    cmd.insert(1, "--json-status-fd")
    os.set_inheritable(status, True)
    os.execv(cmd[0], cmd)


if __name__ == "__main__":
    main()
