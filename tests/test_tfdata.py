"""Tests of coursekit.tfdata: the image input pipeline and the stratified split."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from coursekit.tfdata import image_dataset, train_val_split  # noqa: E402


def _indexed(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Image i is filled with the value i, its label is i: pairs can be checked after shuffling."""
    x = np.repeat(np.arange(n, dtype=np.uint8), 4).reshape(n, 2, 2)
    return x, np.arange(n)


def test_uint8_pixels_become_float32_in_unit_interval():
    x = np.array([[[0, 255]], [[51, 102]]], dtype=np.uint8)
    images, labels = next(iter(image_dataset(x, np.array([3, 4]), batch_size=2)))
    assert images.dtype == tf.float32 and labels.dtype == tf.int32
    np.testing.assert_allclose(images.numpy(), [[[0.0, 1.0]], [[0.2, 0.4]]], rtol=1e-6)


def test_float_input_is_not_rescaled():
    x = np.full((2, 3), 0.5, dtype=np.float32)
    images = next(iter(image_dataset(x, batch_size=2)))
    np.testing.assert_allclose(images.numpy(), 0.5)


def test_last_batch_is_partial_unless_dropped():
    x, y = _indexed(10)
    assert [len(b) for b, _ in image_dataset(x, y, batch_size=4)] == [4, 4, 2]
    assert [len(b) for b, _ in image_dataset(x, y, batch_size=4, drop_remainder=True)] == [4, 4]


def test_shuffle_keeps_image_label_pairs_and_changes_order_each_epoch():
    x, y = _indexed(50)
    ds = image_dataset(x, y, batch_size=50, shuffle=True, seed=1, scale=1.0)
    orders = []
    for _epoch in range(2):
        for images, labels in ds:
            np.testing.assert_array_equal(images.numpy()[:, 0, 0], labels.numpy())
            orders.append(labels.numpy())
    assert sorted(orders[0]) == list(range(50))
    assert not np.array_equal(orders[0], np.arange(50))
    assert not np.array_equal(orders[0], orders[1])


def test_unshuffled_pipeline_keeps_the_order():
    x, y = _indexed(7)
    labels = np.concatenate([lab.numpy() for _, lab in image_dataset(x, y, batch_size=3)])
    np.testing.assert_array_equal(labels, np.arange(7))


def test_mismatched_lengths_are_named():
    with pytest.raises(ValueError, match="x has 5 .* y has 4"):
        image_dataset(np.zeros((5, 28, 28), np.uint8), np.zeros(4, int))


def test_float_labels_are_rejected():
    with pytest.raises(TypeError, match="integer class indices"):
        image_dataset(np.zeros((2, 3), np.uint8), np.array([0.0, 1.0]))


def test_split_is_stratified_disjoint_and_complete():
    x, y = _indexed(100)
    labels = np.arange(100) % 4
    (xt, yt), (xv, yv) = train_val_split(x, labels, val_fraction=0.2, seed=0)
    assert len(yv) == 20 and len(yt) == 80
    np.testing.assert_array_equal(np.bincount(yv, minlength=4), [5, 5, 5, 5])
    ids = np.concatenate([xt[:, 0, 0], xv[:, 0, 0]])
    np.testing.assert_array_equal(np.sort(ids), y)


def test_split_rejects_fraction_outside_open_interval():
    with pytest.raises(ValueError, match=r"val_fraction must be in \(0, 1\)"):
        train_val_split(np.zeros((4, 2)), np.array([0, 1, 0, 1]), val_fraction=1.0)
