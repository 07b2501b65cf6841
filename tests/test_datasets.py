"""coursekit.datasets: seeded, well-formed toy data."""

from __future__ import annotations

import numpy as np
import pytest

from coursekit import datasets

SETS = [datasets.xor_cloud, datasets.pass_fail_students, datasets.two_moons, datasets.circles,
        datasets.spirals]


def test_xor_is_the_truth_table():
    X, y = datasets.xor()
    assert X.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]
    assert y.tolist() == [0, 1, 1, 0]
    assert np.array_equal(y, np.logical_xor(X[:, 0], X[:, 1]).astype(int))


@pytest.mark.parametrize("make", SETS)
def test_same_seed_same_data_other_seed_other_data(make):
    X1, y1 = make(seed=3)
    X2, y2 = make(seed=3)
    X3, _ = make(seed=4)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(X1, X3)


@pytest.mark.parametrize("make", SETS)
def test_shapes_dtypes_and_both_classes(make):
    X, y = make(n=101)
    assert X.shape == (101, 2) and X.dtype == np.float64
    assert y.shape == (101,) and y.dtype == np.int64
    assert set(np.unique(y)) == {0, 1}
    assert np.isfinite(X).all()


def test_xor_cloud_is_separated_by_the_product_feature():
    X, y = datasets.xor_cloud(n=400, noise=0.3)
    accuracy = np.mean((X[:, 0] * X[:, 1] < 0).astype(int) == y)
    assert accuracy > 0.95


def test_students_who_work_more_pass_more():
    X, y = datasets.pass_fail_students(n=2000)
    assert X[:, 0].min() >= 0 and X[:, 0].max() <= 24 and np.all(X[:, 0] == np.round(X[:, 0]))
    assert X[:, 1].min() >= 0 and X[:, 1].max() <= 20
    effort = 0.35 * X[:, 0] + 0.45 * X[:, 1]
    assert y[effort > 12].mean() > 0.9 and y[effort < 6].mean() < 0.1


def test_circles_radii_follow_factor():
    X, y = datasets.circles(n=400, noise=0.0, factor=0.3)
    r = np.hypot(X[:, 0], X[:, 1])
    np.testing.assert_allclose(r[y == 0], 1.0)
    np.testing.assert_allclose(r[y == 1], 0.3)


def test_spirals_support_more_classes():
    X, y = datasets.spirals(n=300, n_classes=3)
    assert np.bincount(y).tolist() == [100, 100, 100]


@pytest.mark.parametrize("call,match", [
    (lambda: datasets.two_moons(n=0), "n must be an integer >= 2"),
    (lambda: datasets.circles(factor=1.5), "factor must lie strictly between 0 and 1"),
    (lambda: datasets.xor_cloud(noise=-1), "noise must be a finite number >= 0"),
    (lambda: datasets.spirals(turns=0), "turns must be > 0"),
])
def test_bad_arguments_are_explained(call, match):
    with pytest.raises(ValueError, match=match):
        call()
