"""MNIST and Fashion-MNIST: a validating IDX reader and Keras-style loaders.

Where the data come from, in this order:

1. the folder passed as ``path=``;
2. the folder named by an environment variable (``COURSEKIT_FASHION_MNIST_DIR``
   or ``COURSEKIT_MNIST_DIR``);
3. the local cache (``COURSEKIT_CACHE_DIR``, default ``~/.cache/coursekit``),
   whose files are trusted only while their official MD5 checksum matches;
4. a download from the official mirrors (several, with timeouts and retries),
   verified against the official MD5 checksums and written atomically.

A folder whose files are not the full official set (the samples in
``../shared/data``, say) is announced once, with its counts, so that nobody
mistakes sample accuracies for real ones.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
MNIST_CLASSES = tuple(str(d) for d in range(10))

# The four files of each data set: role -> official file name.
FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}

DATASETS: dict[str, dict[str, Any]] = {
    "fashion-mnist": {
        "title": "Fashion-MNIST",
        "env": "COURSEKIT_FASHION_MNIST_DIR",
        "classes": FASHION_MNIST_CLASSES,
        "mirrors": (
            "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        ),
        "md5": {
            "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
        },
    },
    "mnist": {
        "title": "MNIST",
        "env": "COURSEKIT_MNIST_DIR",
        "classes": MNIST_CLASSES,
        "mirrors": (
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
        ),
        "md5": {
            "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
            "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
            "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
        },
    },
}
FULL_COUNTS = (60_000, 10_000)
CACHE_ENV = "COURSEKIT_CACHE_DIR"
# A folder holding this file is a full-size *stand-in* (e.g. a sample tiled and jittered
# by bench/course_times.py for timing): loaded with is_sample=True, never as the real data.
STAND_IN_MARKER = "STAND-IN"

_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_announced: set[tuple[str, str]] = set()
#: checked folders read in this process (:func:`_read_folder`): their files' identity -> arrays
_read_cache: dict[tuple, dict[str, np.ndarray]] = {}


class IDXError(ValueError):
    """An IDX file is malformed; the message names the file and what is wrong."""


class DataNotFoundError(FileNotFoundError):
    """No source for a data set could be used; the message says what to set."""


class ChecksumError(IOError):
    """A downloaded or cached file does not have its official checksum."""


class SampleDataWarning(UserWarning):
    """The data loaded are a sample, not the full official data set."""


# ---------------------------------------------------------------- IDX reading
def _read_bytes(path: Path) -> bytes:
    with open(path, "rb") as fh:
        head = fh.read(2)
    if head == b"\x1f\x8b":
        try:
            with gzip.open(path, "rb") as fh:
                return fh.read()
        except EOFError as exc:
            raise IDXError(f"{path}: the gzip stream ends early: the file is truncated") from exc
        except (OSError, gzip.BadGzipFile) as exc:
            raise IDXError(f"{path}: not a valid gzip file ({exc})") from exc
    return path.read_bytes()


def parse_idx(raw: bytes, name: str = "<bytes>") -> np.ndarray:
    """Parse the bytes of an (uncompressed) IDX file into an array, validating everything."""
    if len(raw) < 4:
        raise IDXError(f"{name}: only {len(raw)} bytes: too short to be an IDX file (truncated?)")
    if raw[0] != 0 or raw[1] != 0:
        raise IDXError(
            f"{name}: wrong magic number 0x{raw[:4].hex()}: an IDX file starts with two zero "
            f"bytes, a type code and the number of dimensions (e.g. 0x00000803 for images)"
        )
    code, ndim = raw[2], raw[3]
    if code not in _IDX_DTYPES:
        raise IDXError(f"{name}: unknown data type code 0x{code:02x} in the magic number")
    if ndim == 0:
        raise IDXError(f"{name}: the magic number declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise IDXError(f"{name}: truncated inside the header ({len(raw)} of {header} bytes)")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = _IDX_DTYPES[code]
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    payload = len(raw) - header
    if payload < expected:
        raise IDXError(
            f"{name}: truncated: the header declares shape {dims} ({expected} bytes of data) "
            f"but only {payload} bytes follow"
        )
    if payload > expected:
        raise IDXError(
            f"{name}: {payload - expected} unexpected bytes after the data of shape {dims}"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)
    return data.astype(dtype.newbyteorder("="), copy=True)


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (gzip-compressed or raw) into a numpy array.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    IDXError
        The file is truncated, has a wrong magic number, an unknown type code,
        or trailing bytes. The message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"IDX file not found: {path}")
    return parse_idx(_read_bytes(path), str(path))


# ------------------------------------------------------------------- results
class LoadedData(tuple):
    """``((x_train, y_train), (x_test, y_test))``, as Keras returns, plus attributes.

    Attributes: ``class_names``, ``source`` (a description of where the files
    came from), ``is_sample`` (True unless the full official set was loaded),
    ``name`` (the data set's title).
    """

    class_names: tuple[str, ...]
    source: str
    is_sample: bool
    name: str

    def __new__(cls, train, test, *, class_names, source, is_sample, name):  # noqa: D102
        obj = super().__new__(cls, (train, test))
        obj.class_names = tuple(class_names)
        obj.source = source
        obj.is_sample = bool(is_sample)
        obj.name = name
        return obj

    def __repr__(self) -> str:
        (xtr, _), (xte, _) = self
        kind = ("stand-in" if self.source.startswith("stand-in") else "sample") if self.is_sample else "full"
        return f"<{self.name} ({kind}): {len(xtr)} train / {len(xte)} test images from {self.source}>"


# ------------------------------------------------------------ folder sources
def _find_file(folder: Path, gz_name: str) -> Path | None:
    for candidate in (folder / gz_name, folder / gz_name.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    return None


def _verify_sha256sums(folder: Path) -> None:
    sums = folder / "SHA256SUMS"
    if not sums.is_file():
        return
    for line in sums.read_text().splitlines():
        parts = line.split()
        if len(parts) != 2:
            continue
        digest, fname = parts[0], parts[1].lstrip("*")
        target = folder / fname
        if target.is_file() and _file_digest(target, "sha256") != digest:
            raise ChecksumError(
                f"{target}: SHA-256 checksum differs from the one in {sums}: the file is "
                f"corrupt or was changed; restore it from its source"
            )


def _folder_key(folder: Path) -> tuple:
    """What identifies the folder's files: path, size, modification time and inode of each."""
    key: list[Any] = [str(folder.resolve())]
    for name in (*FILES.values(), "SHA256SUMS", STAND_IN_MARKER):
        path = _find_file(folder, name) if name in FILES.values() else folder / name
        try:
            st = path.stat() if path is not None else None
        except OSError:
            st = None
        key.append(None if st is None else (str(path), st.st_size, st.st_mtime_ns, st.st_ino))
    return tuple(key)


def _read_folder(folder: Path) -> dict[str, np.ndarray]:
    """The four arrays of a checked folder; a folder read before, whose files have not changed
    since (same sizes, times and inodes), is not read and checked again: its arrays are copied."""
    key = _folder_key(folder)
    if key not in _read_cache:
        _verify_sha256sums(folder)
        arrays = {role: read_idx(_find_file(folder, n)) for role, n in FILES.items()}
        for arr in arrays.values():
            arr.setflags(write=False)
        while len(_read_cache) >= 4:
            _read_cache.pop(next(iter(_read_cache)))
        _read_cache[key] = arrays
    return {role: arr.copy() for role, arr in _read_cache[key].items()}


def _load_folder(folder: Path, spec: dict[str, Any], origin: str) -> LoadedData:
    missing = [n for n in FILES.values() if _find_file(folder, n) is None]
    if missing:
        raise DataNotFoundError(
            f"{spec['title']}: {origin}{folder} lacks {', '.join(missing)} "
            f"(expected the four official IDX files, gzip or raw)"
        )
    arrays = _read_folder(folder)
    train = _pair(arrays, "train", folder)
    test = _pair(arrays, "test", folder)
    counts = (len(train[0]), len(test[0]))
    stand_in = (folder / STAND_IN_MARKER).is_file()
    is_sample = counts != FULL_COUNTS or stand_in
    if is_sample:
        _announce_sample(spec["title"], folder, counts, stand_in=stand_in)
    source = f"{origin}{folder}"
    return LoadedData(
        train, test, class_names=spec["classes"],
        source=f"stand-in (not the official data): {source}" if stand_in else source,
        is_sample=is_sample, name=spec["title"],
    )


def _pair(arrays: dict[str, np.ndarray], split: str, folder: Path) -> tuple[np.ndarray, np.ndarray]:
    images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
    img_name = folder / FILES[f"{split}_images"]
    lab_name = folder / FILES[f"{split}_labels"]
    if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
        raise IDXError(
            f"{img_name}: expected uint8 images of shape (n, 28, 28), got {images.dtype} {images.shape}"
        )
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise IDXError(f"{lab_name}: expected a 1-D uint8 label vector, got {labels.dtype} {labels.shape}")
    if len(labels) != len(images):
        raise IDXError(
            f"label count differs from image count: {img_name.name} has {len(images)} images "
            f"but {lab_name.name} has {len(labels)} labels (in {folder})"
        )
    if labels.size and labels.max() > 9:
        raise IDXError(f"{lab_name}: labels must lie in 0..9, found {int(labels.max())}")
    return images, labels


def _announce_sample(title: str, folder: Path, counts: tuple[int, int], *, stand_in: bool = False) -> None:
    key = (title, str(folder.resolve()))
    if key in _announced:
        return
    _announced.add(key)
    if stand_in:
        warnings.warn(
            f"{title}: using a STAND-IN from {folder}: {counts[0]:,} train / {counts[1]:,} test "
            f"images made by tiling and jittering a small sample ({STAND_IN_MARKER} file). It has "
            f"the full size, for timing only: accuracies measured on it mean nothing.",
            SampleDataWarning,
            stacklevel=5,
        )
        return
    warnings.warn(
        f"{title}: using a SAMPLE from {folder}: {counts[0]:,} train / {counts[1]:,} test "
        f"images (the full set has {FULL_COUNTS[0]:,} / {FULL_COUNTS[1]:,}). Accuracies "
        f"measured on it are not comparable with published figures.",
        SampleDataWarning,
        stacklevel=5,  # point at the caller of load_mnist / load_fashion_mnist
    )


# --------------------------------------------------------- cache + download
def default_cache_dir() -> Path:
    """The download cache: ``$COURSEKIT_CACHE_DIR`` or ``~/.cache/coursekit``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "coursekit"


def _file_digest(path: Path, algorithm: str = "md5") -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _cached_ok(folder: Path, spec: dict[str, Any]) -> bool:
    """True when all four files are cached with their official MD5; drops bad ones."""
    ok = True
    for fname, md5 in spec["md5"].items():
        target = folder / fname
        if not target.is_file():
            ok = False
        elif _file_digest(target) != md5:
            target.unlink()  # corrupt or foreign file: never trusted, fetched again
            ok = False
    return ok


def _progress(total: int | None, desc: str):
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is a core dependency
        return None
    return tqdm(total=total, unit="B", unit_scale=True, desc=desc, leave=False)


def download_file(
    url: str,
    dest: Path,
    md5: str,
    *,
    timeout: float = 30.0,
    opener: Callable[..., Any] | None = None,
    progress: bool = True,
) -> None:
    """Download ``url`` to ``dest`` atomically, verifying its MD5 checksum.

    The data go to a temporary file beside ``dest`` that is renamed only after
    the checksum matched; on any failure the temporary file is removed and
    ``dest`` is untouched, so an interrupted or corrupt download is never used.
    """
    if opener is None:
        import urllib.request  # here, not at import: it pulls in http, ssl and email (about 25 ms)

        opener = urllib.request.urlopen
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        h = hashlib.md5()
        with os.fdopen(fd, "wb") as out, opener(url, timeout=timeout) as response:
            length = response.headers.get("Content-Length") if hasattr(response, "headers") else None
            bar = _progress(int(length) if length else None, dest.name) if progress else None
            try:
                for chunk in iter(lambda: response.read(1 << 16), b""):
                    out.write(chunk)
                    h.update(chunk)
                    if bar is not None:
                        bar.update(len(chunk))
            finally:
                if bar is not None:
                    bar.close()
        if h.hexdigest() != md5:
            raise ChecksumError(
                f"{url}: MD5 {h.hexdigest()} differs from the official {md5}; "
                f"the download is corrupt and was discarded"
            )
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            tmp.unlink()


def _download_all(
    folder: Path,
    spec: dict[str, Any],
    mirrors: Sequence[str],
    *,
    retries: int,
    timeout: float,
    opener: Callable[..., Any] | None,
) -> list[str]:
    """Fetch every missing file; return the list of failures (empty on success)."""
    import urllib.error

    failures: list[str] = []
    for fname, md5 in spec["md5"].items():
        if (folder / fname).is_file():
            continue
        errors = []
        for base in mirrors:
            url = base + fname
            for attempt in range(retries + 1):
                try:
                    download_file(url, folder / fname, md5, timeout=timeout, opener=opener)
                    break
                except ChecksumError as exc:
                    errors.append(str(exc))
                    break  # the mirror serves a different file; next mirror
                except urllib.error.HTTPError as exc:
                    errors.append(f"{url}: HTTP {exc.code}")
                    if exc.code < 500:
                        break
                except (OSError, ValueError) as exc:  # URLError, timeouts, resets, truncation
                    errors.append(f"{url}: {exc}")
                if attempt < retries:
                    time.sleep(min(0.5 * 2**attempt, 4.0))
            if (folder / fname).is_file():
                break
        else:
            failures.append(f"{fname}: " + "; ".join(errors[-len(mirrors) * (retries + 1):]))
            break  # no point trying the other files
    return failures


# -------------------------------------------------------------------- loaders
def _load(
    key: str,
    path: str | os.PathLike[str] | None,
    *,
    cache_dir: str | os.PathLike[str] | None,
    download: bool,
    mirrors: Sequence[str] | None,
    retries: int,
    timeout: float,
    opener: Callable[..., Any] | None,
) -> LoadedData:
    spec = DATASETS[key]
    if path is not None:
        return _load_folder(Path(path).expanduser(), spec, "folder ")
    env_value = os.environ.get(spec["env"])
    if env_value:
        folder = Path(env_value).expanduser()
        if not folder.is_dir():
            raise DataNotFoundError(
                f"{spec['title']}: {spec['env']}={env_value!r} is not a folder; point it at a "
                f"folder with the four IDX files or unset it to use the cache/download"
            )
        return _load_folder(folder, spec, f"{spec['env']}=")
    cache = (Path(cache_dir).expanduser() if cache_dir else default_cache_dir()) / key
    if not _cached_ok(cache, spec):
        failures = ["downloading is switched off (download=False)"]
        if download:
            failures = _download_all(
                cache, spec, mirrors or spec["mirrors"], retries=retries, timeout=timeout,
                opener=opener,
            )
        if failures or not _cached_ok(cache, spec):
            raise DataNotFoundError(
                f"{spec['title']} is not available: no folder was passed, {spec['env']} is not "
                f"set, the cache {cache} is incomplete, and it could not be downloaded "
                f"({'; '.join(failures)}).\nFix: set the environment variable {spec['env']} "
                f"to a folder holding {', '.join(FILES.values())} (for example "
                f"../shared/data/{key}-sample), or pass path=..., or connect to the internet."
            )
    return _load_folder(cache, spec, "cache ")


def load_fashion_mnist(
    path: str | os.PathLike[str] | None = None,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
    mirrors: Sequence[str] | None = None,
    retries: int = 2,
    timeout: float = 30.0,
    opener: Callable[..., Any] | None = None,
) -> LoadedData:
    """Load Fashion-MNIST as ``(x_train, y_train), (x_test, y_test)`` uint8 arrays.

    Images have shape ``(n, 28, 28)``, labels ``(n,)`` in 0..9; class names are
    in ``.class_names`` (and :data:`FASHION_MNIST_CLASSES`). See the module
    docstring for where the files are looked for.

    Parameters
    ----------
    path: folder with the four IDX files; overrides everything else.
    cache_dir: cache root (default ``$COURSEKIT_CACHE_DIR`` or ``~/.cache/coursekit``).
    download: allow downloading into the cache when it is incomplete.
    mirrors: base URLs to try instead of the official mirrors.
    retries: extra attempts per mirror after a network error.
    timeout: seconds before a stalled connection is given up.
    opener: replaces ``urllib.request.urlopen`` (tests, proxies).
    """
    return _load(
        "fashion-mnist", path, cache_dir=cache_dir, download=download, mirrors=mirrors,
        retries=retries, timeout=timeout, opener=opener,
    )


def load_mnist(
    path: str | os.PathLike[str] | None = None,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
    mirrors: Sequence[str] | None = None,
    retries: int = 2,
    timeout: float = 30.0,
    opener: Callable[..., Any] | None = None,
) -> LoadedData:
    """Load MNIST digits as ``(x_train, y_train), (x_test, y_test)`` uint8 arrays.

    Same sources and parameters as :func:`load_fashion_mnist`; the folder
    variable is ``COURSEKIT_MNIST_DIR``.
    """
    return _load(
        "mnist", path, cache_dir=cache_dir, download=download, mirrors=mirrors,
        retries=retries, timeout=timeout, opener=opener,
    )
