"""Do the project's requirements resolve to real wheels on the platforms students use?

A light resolver that reads the package index's file lists (PEP 691 JSON or PEP 503
HTML simple pages) instead of downloading wheels. For every target (platform x
Python version) it evaluates each requirement's environment markers, picks the newest
version that has a wheel for that target's tags and ``Requires-Python``, and follows
that version's own requirements (from the index's PEP 658 metadata or, on PyPI, the
JSON API) so that a dependency without a wheel is found too: by default two levels
(the project's requirements and theirs), ``COURSEKIT_WHEELS_DEPTH=0`` for all (slow:
about 320 index requests). It does not backtrack:
all specifiers seen for a name are combined and the newest version satisfying them is
taken, which is what pip ends up with for these requirement sets.

Used by tests/test_platform_wheels.py; ``python tests/platform_wheels.py`` prints
the table for every target.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from html.parser import HTMLParser

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.tags import Tag, compatible_tags, cpython_tags, mac_platforms
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

PYPI_SIMPLE = "https://pypi.org/simple/"
PYTHONS = ("3.11", "3.12", "3.13")
# Assumed OS releases: macOS 14 on Apple silicon, glibc 2.35 (Ubuntu 22.04, Colab's) on Linux.
_GLIBC = (2, 35)


@dataclass(frozen=True)
class Target:
    """One platform a student installs on."""

    name: str
    sys_platform: str
    platform_system: str
    platform_machine: str
    os_name: str
    platforms: tuple[str, ...]

    def environment(self, python: str) -> dict[str, str]:
        """Return the PEP 508 marker environment of this platform with CPython ``python``."""
        full = f"{python}.0"
        return {
            "implementation_name": "cpython",
            "implementation_version": full,
            "os_name": self.os_name,
            "platform_machine": self.platform_machine,
            "platform_python_implementation": "CPython",
            "platform_release": "",
            "platform_system": self.platform_system,
            "platform_version": "",
            "python_full_version": full,
            "python_version": python,
            "sys_platform": self.sys_platform,
            "extra": "",
        }

    def tags(self, python: str) -> frozenset[Tag]:
        """Return every wheel tag this platform's CPython ``python`` accepts."""
        version = tuple(int(p) for p in python.split("."))
        abi = f"cp{version[0]}{version[1]}"
        plats = list(self.platforms)
        return frozenset(
            list(cpython_tags(version, abis=[abi], platforms=plats))
            + list(compatible_tags(version, interpreter=abi, platforms=plats))
        )


def _manylinux(arch: str) -> tuple[str, ...]:
    plats = [f"manylinux_{_GLIBC[0]}_{minor}_{arch}" for minor in range(_GLIBC[1], 16, -1)]
    plats += [f"manylinux2014_{arch}"]
    if arch == "x86_64":
        plats += [f"manylinux_2_12_{arch}", f"manylinux2010_{arch}",
                  f"manylinux_2_5_{arch}", f"manylinux1_{arch}"]
    return tuple(plats)


TARGETS = (
    Target("macOS arm64", "darwin", "Darwin", "arm64", "posix",
           tuple(mac_platforms((14, 0), "arm64"))),
    Target("Linux x86_64", "linux", "Linux", "x86_64", "posix", _manylinux("x86_64")),
    Target("Linux aarch64", "linux", "Linux", "aarch64", "posix", _manylinux("aarch64")),
    Target("Windows x86_64", "win32", "Windows", "AMD64", "nt", ("win_amd64",)),
)


def configured_index_url() -> str:
    """Return pip's configured index URL (``PIP_INDEX_URL``, ``pip config``), else PyPI's."""
    url = os.environ.get("PIP_INDEX_URL", "").strip()
    if not url:
        try:
            out = subprocess.run(
                [sys.executable, "-m", "pip", "config", "list"],
                capture_output=True, text=True, timeout=60,
            ).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        for line in out.splitlines():
            key, _, value = line.partition("=")
            if key.strip().endswith(".index-url"):
                url = value.strip().strip("'\"")
    return (url or PYPI_SIMPLE).rstrip("/") + "/"


@dataclass
class IndexFile:
    """A distribution file listed on a simple-index project page."""

    filename: str
    url: str
    requires_python: str | None
    yanked: bool
    has_metadata: bool


class _LinkParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.links.append(dict(attrs))


class IndexClient:
    """Read project pages and metadata from a simple index, with a cache per run."""

    def __init__(self, index_url: str | None = None, timeout: float = 30.0) -> None:
        self.index_url = index_url or configured_index_url()
        self.timeout = timeout
        self._pages: dict[str, list[IndexFile]] = {}
        self._meta: dict[tuple[str, str], list[str] | None] = {}
        self._lock = threading.Lock()
        self.bytes_read = 0

    def _get(self, url: str, accept: str | None = None) -> tuple[bytes, str]:
        req = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
        for attempt in range(4):  # a reset connection is retried, a 404 is not
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    body = resp.read()
                    with self._lock:
                        self.bytes_read += len(body)
                    return body, resp.headers.get("Content-Type", "")
            except urllib.error.HTTPError as exc:
                if exc.code < 500 or attempt == 3:
                    raise
            except (OSError, urllib.error.URLError):
                if attempt == 3:
                    raise
            time.sleep(1.0 + 2 * attempt)
        raise AssertionError("unreachable")

    def reachable(self) -> str | None:
        """Return None when the index answers, else the reason it does not."""
        try:
            self.files("pip")
        except (OSError, urllib.error.URLError, ValueError) as exc:
            return f"{self.index_url} unreachable: {exc}"
        return None

    def files(self, name: str) -> list[IndexFile]:
        """Return the files the index lists for project ``name``."""
        key = canonicalize_name(name)
        if key in self._pages:
            return self._pages[key]
        url = urllib.parse.urljoin(self.index_url, key + "/")
        try:
            body, ctype = self._get(
                url, "application/vnd.pypi.simple.v1+json, text/html;q=0.1")
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                self._pages[key] = []
                return []
            raise
        if "json" in ctype:
            data = json.loads(body)
            files = [
                IndexFile(
                    f["filename"], urllib.parse.urljoin(url, f["url"]),
                    f.get("requires-python"), bool(f.get("yanked")),
                    bool(f.get("core-metadata") or f.get("data-dist-info-metadata")),
                )
                for f in data["files"]
            ]
        else:
            parser = _LinkParser()
            parser.feed(body.decode("utf-8", "replace"))
            files = []
            for a in parser.links:
                href = a.get("href") or ""
                fname = urllib.parse.unquote(href.split("#")[0].rsplit("/", 1)[-1])
                files.append(IndexFile(
                    fname, urllib.parse.urljoin(url, href), a.get("data-requires-python"),
                    "data-yanked" in a,
                    bool(a.get("data-core-metadata") or a.get("data-dist-info-metadata")),
                ))
        self._pages[key] = files
        return files

    def requires_dist(self, name: str, version: str, wheel: IndexFile) -> list[str] | None:
        """Return the ``Requires-Dist`` lines of ``name==version``, or None if not obtainable."""
        key = (canonicalize_name(name), version)
        if key in self._meta:
            return self._meta[key]
        result: list[str] | None = None
        if wheel.has_metadata:
            try:
                body, _ = self._get(wheel.url.split("#")[0] + ".metadata")
                text = body.decode("utf-8", "replace")
                result = [line.split(":", 1)[1].strip() for line in text.splitlines()
                          if line.startswith("Requires-Dist:")]
            except (OSError, urllib.error.URLError):
                result = None
        if result is None:
            result = self._warehouse_requires(key[0], version)
        self._meta[key] = result
        return result

    def _warehouse_requires(self, name: str, version: str) -> list[str] | None:
        # PyPI (Warehouse) serves /pypi/<name>[/<version>]/json beside /simple/.
        base = self.index_url
        if not base.rstrip("/").endswith("/simple"):
            return None
        root = base.rstrip("/")[: -len("/simple")]
        for url in (f"{root}/pypi/{name}/{version}/json", f"{root}/pypi/{name}/json"):
            try:
                body, _ = self._get(url)
            except (OSError, urllib.error.URLError):
                continue
            info = json.loads(body).get("info", {})
            if info.get("version") == version:
                return list(info.get("requires_dist") or [])
        return None


@dataclass
class Resolution:
    """What one target resolved to."""

    target: str
    python: str
    chosen: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (version, wheel)
    missing: dict[str, str] = field(default_factory=dict)  # name -> why no wheel
    unknown_deps: list[str] = field(default_factory=list)  # name==version without metadata
    parents: dict[str, str] = field(default_factory=dict)  # name -> who asked for it first

    @property
    def ok(self) -> bool:
        return not self.missing


def _allows_prereleases(spec: SpecifierSet) -> bool:
    # pip's rule: pre-releases only where a specifier names one.
    for s in spec:
        try:
            if Version(s.version.rstrip(".*")).is_prerelease:
                return True
        except InvalidVersion:
            continue
    return False


class _Wheels:
    """Parsed wheel files of one project, cached across targets."""

    def __init__(self, files: list[IndexFile]) -> None:
        self.items: list[tuple[Version, frozenset[Tag], SpecifierSet | None, IndexFile]] = []
        for f in files:
            if not f.filename.endswith(".whl") or f.yanked:
                continue
            try:
                _, version, _, ftags = parse_wheel_filename(f.filename)
                rp = SpecifierSet(f.requires_python) if f.requires_python else None
            except (ValueError, InvalidVersion):
                continue
            self.items.append((version, frozenset(ftags), rp, f))
        self.items.sort(key=lambda item: item[0], reverse=True)

    def candidates(self, spec: SpecifierSet, tags: frozenset[Tag],
                   python_full: str) -> list[tuple[Version, IndexFile]]:
        pre = _allows_prereleases(spec)
        out: dict[Version, IndexFile] = {}
        for version, ftags, rp, f in self.items:
            if version in out or tags.isdisjoint(ftags):
                continue
            if rp is not None and not rp.contains(python_full, prereleases=True):
                continue
            if spec.contains(version, prereleases=pre):
                out[version] = f
        return list(out.items())


class Resolver:
    """Resolve requirement sets against an index, for many targets, sharing one cache."""

    def __init__(self, client: IndexClient, workers: int = 4, depth: int = 2) -> None:
        self.client = client
        self.depth = depth  # levels of requirements checked; 1 = direct only, 0 = all
        self.pool = ThreadPoolExecutor(workers)
        self._wheels: dict[str, _Wheels] = {}
        self._has: dict[tuple[str, str, int, str], bool] = {}
        self._tags: dict[tuple[str, str], frozenset[Tag]] = {}

    def close(self) -> None:
        self.pool.shutdown()

    def _prefetch(self, names: set[str]) -> None:
        todo = [n for n in names if n not in self._wheels]
        for name, files in zip(todo, self.pool.map(self.client.files, todo), strict=True):
            self._wheels[name] = _Wheels(files)

    def _has_wheel(self, req: Requirement, tags: frozenset[Tag], full: str) -> bool:
        key = (canonicalize_name(req.name), str(req.specifier), id(tags), full)
        if key not in self._has:
            self._prefetch({key[0]})
            self._has[key] = bool(self._wheels[key[0]].candidates(req.specifier, tags, full))
        return self._has[key]

    def _deps(self, picks: dict[str, tuple[Version, IndexFile]]) -> dict[str, list[str] | None]:
        names = list(picks)
        metas = self.pool.map(
            lambda n: self.client.requires_dist(n, str(picks[n][0]), picks[n][1]), names)
        return dict(zip(names, metas, strict=True))

    def resolve(self, requirements: list[str], target: Target, python: str) -> Resolution:
        """Resolve ``requirements`` for ``target`` with CPython ``python`` (wheels only)."""
        env = target.environment(python)
        tags = self._tags.setdefault((target.name, python), target.tags(python))
        full = env["python_full_version"]
        res = Resolution(target.name, python)
        specs: dict[str, SpecifierSet] = {}
        extras: dict[str, set[str]] = {}
        done: dict[str, tuple[str, frozenset[str]]] = {}
        level: dict[str, int] = {}

        queue = [(Requirement(r), "pyproject.toml") for r in requirements]
        level["pyproject.toml"] = 0
        for _ in range(100):
            dirty: set[str] = set()
            for req, parent in queue:
                if not applies_extra(req, env, extras.get(parent, set())):
                    continue
                name = canonicalize_name(req.name)
                old = (str(specs.get(name)), frozenset(extras.get(name, set())))
                specs[name] = specs.get(name, SpecifierSet()) & req.specifier
                extras.setdefault(name, set()).update(req.extras)
                res.parents.setdefault(name, parent)
                level[name] = min(level.get(name, 99), level[parent] + 1)
                if name not in done or old != (str(specs[name]), frozenset(extras[name])):
                    dirty.add(name)
            if not dirty:
                break
            self._prefetch(dirty)
            cands = {n: self._wheels[n].candidates(specs[n], tags, full) for n in dirty}
            for name in sorted(dirty):
                done[name] = ("", frozenset())
                if not cands[name]:
                    newest = [str(v) for v, *_ in self._wheels[name].items[:1]]
                    res.missing[name] = (
                        f"no wheel of {name}{specs[name] or ''} for {target.name}, "
                        f"Python {python} (asked for by {res.parents.get(name)}; newest "
                        f"wheel for any platform: {', '.join(newest) or 'none'})")
                    res.chosen.pop(name, None)
                else:
                    res.missing.pop(name, None)
            live = {n: c for n, c in cands.items() if c}
            queue = []
            for name in [n for n in live if self.depth and level[n] >= self.depth]:
                res.chosen[name] = (str(live[name][0][0]), live[name][0][1].filename)
                done[name] = (res.chosen[name][0], frozenset(extras.get(name, set())))
                del live[name]
            if not live:
                continue
            # Pick the newest version whose own requirements all have a wheel here
            # (one level of backtracking: what pip does for, e.g., a package that
            # requires a release of its dependency that has no wheel yet).
            picks = {n: c[0] for n, c in live.items()}
            metas = self._deps(picks)
            self._prefetch({
                canonicalize_name(r.name)
                for n, deps in metas.items() for r in map(Requirement, deps or [])
                if applies_extra(r, env, extras.get(n, set()))})
            for name, c in live.items():
                for i, (version, wheel) in enumerate(c[:6]):
                    deps = metas[name] if i == 0 else self.client.requires_dist(
                        name, str(version), wheel)
                    reqs = [Requirement(d) for d in deps or []]
                    reqs = [r for r in reqs if applies_extra(r, env, extras.get(name, set()))]
                    self._prefetch({canonicalize_name(r.name) for r in reqs})
                    if all(self._has_wheel(r, tags, full) for r in reqs):
                        break
                else:  # none better: keep the newest, its missing dependency is reported
                    version, wheel = c[0]
                    deps = metas[name]
                    reqs = [Requirement(d) for d in deps or []]
                    reqs = [r for r in reqs if applies_extra(r, env, extras.get(name, set()))]
                res.chosen[name] = (str(version), wheel.filename)
                done[name] = (str(version), frozenset(extras.get(name, set())))
                if deps is None:
                    res.unknown_deps.append(f"{name}=={version}")
                queue += [(r, name) for r in reqs]
        return res


def applies_extra(req: Requirement, env: dict[str, str], extras: set[str]) -> bool:
    """Return whether ``req`` applies in ``env`` when its parent was asked for ``extras``."""
    if req.marker is None:
        return True
    return any(req.marker.evaluate({**env, "extra": e}) for e in extras | {""})


def project_requirements(extras: tuple[str, ...]) -> list[str]:
    """Return the core dependencies plus those of ``extras`` from pyproject.toml."""
    import tomllib
    from pathlib import Path

    data = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())
    reqs = list(data["project"]["dependencies"])
    for extra in extras:
        for r in data["project"]["optional-dependencies"][extra]:
            if not re.match(r"coursekit\b", r):
                reqs.append(r)
    return reqs


def resolve_all(extras: tuple[str, ...], client: IndexClient, depth: int = 2) -> list[Resolution]:
    """Resolve the project's ``extras`` for every target and Python version."""
    reqs = project_requirements(extras)
    resolver = Resolver(client, depth=depth)
    try:
        return [resolver.resolve(reqs, t, py) for t in TARGETS for py in PYTHONS]
    finally:
        resolver.close()


def main() -> int:
    """Print, per target, how many packages resolved and what is missing."""
    client = IndexClient()
    print(f"index: {client.index_url}")
    status = 0
    depth = int(os.environ.get("COURSEKIT_WHEELS_DEPTH", "2"))
    for extra in ("course", "dev"):
        for r in resolve_all((extra,), client, depth):
            tf = next((f"{n} {v[0]}" for n, v in r.chosen.items()
                       if n in ("tensorflow", "tensorflow-cpu")), "-")
            print(f"[{extra}] {r.target:15s} py{r.python}: {len(r.chosen):3d} wheels, "
                  f"{tf}, missing {len(r.missing)}, deps unknown {len(r.unknown_deps)}")
            for why in r.missing.values():
                print("    MISSING", why)
                status = 1
    print(f"read {client.bytes_read / 1e6:.1f} MB from the index")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
