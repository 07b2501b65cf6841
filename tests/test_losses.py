"""coursekit.losses: stable cross-entropies equal the textbook forms and Keras, and stay finite."""

import numpy as np
import pytest

from coursekit import losses
from coursekit.activations import sigmoid, softmax
from coursekit.check import numerical_gradient


def test_softmax_cross_entropy_equals_the_textbook_form_on_moderate_logits():
    rng = np.random.default_rng(0)
    z, y = rng.normal(size=(7, 4)), rng.integers(0, 4, size=7)
    naive = -np.mean(np.log(softmax(z)[np.arange(7), y]))
    assert losses.softmax_cross_entropy(z, y) == pytest.approx(naive, rel=1e-12)
    onehot = np.eye(4)[y]
    assert losses.softmax_cross_entropy(z, onehot) == pytest.approx(naive, rel=1e-12)


def test_softmax_cross_entropy_is_finite_where_the_naive_form_is_not():
    z = np.array([[1000.0, 0.0], [0.0, -1000.0]])
    assert losses.softmax_cross_entropy(z, np.array([1, 1])) == pytest.approx(1000.0 / 2 + 1000.0 / 2)


def test_softmax_cross_entropy_grad_matches_numerical_gradient():
    rng = np.random.default_rng(1)
    z, y = rng.normal(size=(5, 3)), rng.integers(0, 3, size=5)
    num = numerical_gradient(lambda a: losses.softmax_cross_entropy(a, y), z.copy())
    np.testing.assert_allclose(losses.softmax_cross_entropy_grad(z, y), num, atol=1e-8)


def test_binary_cross_entropy_with_logits_equals_textbook_form_and_stays_finite():
    z = np.linspace(-5, 5, 11)
    y = (np.arange(11) % 2).astype(float)
    s = sigmoid(z)
    naive = -np.mean(y * np.log(s) + (1 - y) * np.log(1 - s))
    assert losses.binary_cross_entropy_with_logits(z, y) == pytest.approx(naive, rel=1e-12)
    assert losses.binary_cross_entropy_with_logits(np.array([-800.0]), np.array([1.0])) == pytest.approx(800.0)
    assert np.all(np.isfinite(losses.log_sigmoid(np.array([-1e4, 0.0, 1e4]))))


def test_wrong_label_shape_names_the_expected_shape():
    with pytest.raises(ValueError, match=r"expected integer labels of shape \(3,\)"):
        losses.softmax_cross_entropy(np.zeros((3, 2)), np.zeros((3, 1), dtype=int))
    with pytest.raises(ValueError, match="must be equal"):
        losses.binary_cross_entropy_with_logits(np.zeros((3, 1)), np.zeros(3))


def test_matches_keras_from_logits():
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(2)
    z, y = rng.normal(size=(6, 5)).astype("float32"), rng.integers(0, 5, size=6)
    ref = float(keras.losses.SparseCategoricalCrossentropy(from_logits=True)(y, z))
    assert losses.softmax_cross_entropy(z, y) == pytest.approx(ref, rel=1e-5)
    zb, yb = rng.normal(size=(6, 1)).astype("float32"), rng.integers(0, 2, size=(6, 1)).astype("float32")
    ref_b = float(keras.losses.BinaryCrossentropy(from_logits=True)(yb, zb))
    assert losses.binary_cross_entropy_with_logits(zb, yb) == pytest.approx(ref_b, rel=1e-5)
