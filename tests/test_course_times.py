"""bench/course_times.py: the full-size stand-in data and the course timing table."""

from __future__ import annotations

import gzip
import importlib.util
import warnings
from pathlib import Path

import numpy as np
import pytest

from coursekit import data
from coursekit.runner import NotebookResult

ROOT = Path(__file__).resolve().parent.parent
SPEC = importlib.util.spec_from_file_location("course_times", ROOT / "bench" / "course_times.py")
ct = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(ct)


def _fake_samples(root: Path) -> Path:
    """A tiny sample folder laid out like ../shared/data/mnist-sample (gzip IDX files)."""
    rng = np.random.default_rng(0)
    folder = root / "mnist-sample"
    folder.mkdir(parents=True)
    for (img, lab), n in zip(ct.IDX_NAMES.values(), (30, 10), strict=True):
        for name, array in ((img, rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)),
                            (lab, (np.arange(n) % 10).astype(np.uint8))):
            ct.write_idx(folder / name, array)
            (folder / f"{name}.gz").write_bytes(gzip.compress((folder / name).read_bytes()))
            (folder / name).unlink()
    return root


def test_jitter_tile_keeps_originals_and_shifts_copies_by_at_most_one_pixel():
    rng = np.random.default_rng(1)
    x = np.zeros((5, 28, 28), dtype=np.uint8)
    x[:, 10:18, 10:18] = rng.integers(1, 256, (5, 8, 8), dtype=np.uint8)
    y = np.arange(5, dtype=np.uint8)
    xt, yt = ct.jitter_tile(x, y, 200, seed=0)
    assert xt.shape == (200, 28, 28) and xt.dtype == np.uint8 and yt.shape == (200,)
    assert np.array_equal(xt[:5], x) and np.array_equal(yt[:5], y)
    for img, label in zip(xt, yt, strict=True):  # every copy is its original moved by <= 1 pixel
        rows, cols = np.nonzero(img)
        assert 9 <= rows.min() and rows.max() <= 18 and 9 <= cols.min() and cols.max() <= 18
        assert img.sum(dtype=np.int64) == x[label].sum(dtype=np.int64)
    assert len({img.tobytes() for img in xt}) > 5  # jittered, not merely repeated
    with pytest.raises(ValueError, match="uint8"):
        ct.jitter_tile(x.astype(float), y, 10)


def test_stand_in_is_full_size_and_never_taken_for_the_official_data(tmp_path):
    samples = _fake_samples(tmp_path / "shared")
    folder = ct.make_stand_in("mnist", tmp_path / "stand-in", sizes=(60_000, 10_000), samples=samples)
    assert (folder / data.STAND_IN_MARKER).is_file()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = data.load_mnist(folder)
    (x, y), (xt, yt) = ds
    assert x.shape == (60_000, 28, 28) and xt.shape == (10_000, 28, 28)  # full size ...
    assert ds.is_sample and ds.source.startswith("stand-in")  # ... but not the real thing
    assert "stand-in" in repr(ds)
    assert any("STAND-IN" in str(w.message) for w in caught)
    mtime = (folder / ct.IDX_NAMES["train"][0]).stat().st_mtime_ns
    assert ct.make_stand_in("mnist", tmp_path / "stand-in", samples=samples) == folder  # reused
    assert (folder / ct.IDX_NAMES["train"][0]).stat().st_mtime_ns == mtime


def test_course_table_reports_ratio_and_slowest_cells():
    full = NotebookResult("12_x", "ok", 100.0, cells=[("fit", 60.0), ("plot", 30.0), ("a", 1.0)],
                          cpu_seconds=180.0)
    quick = NotebookResult("12_x", "ok", 20.0, cells=[("fit", 10.0)], cpu_seconds=30.0)
    table = ct.course_table({"full": {"12_x": full}, "quick": {"12_x": quick}}, ["full", "quick"])
    assert "| 12_x | 100.0 (180 cpu) | 20.0 (30 cpu) | 5.0x | fit 60%, plot 30%, a 1% (full) |" in table
    assert "full mode: 100 s in all" in table
