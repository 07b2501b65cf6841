"""Tests of coursekit.activations: closed forms, stability, derivatives, TF agreement."""

from __future__ import annotations

import math

import numpy as np
import pytest

from coursekit import activations as act
from coursekit.check import numerical_gradient

Z = np.linspace(-6.0, 6.0, 49) + 0.013  # avoids the kinks at exactly 0


def test_sigmoid_matches_closed_form_and_lecture_example():
    np.testing.assert_allclose(act.sigmoid(Z), 1.0 / (1.0 + np.exp(-Z)), rtol=1e-14)
    assert abs(act.sigmoid(-6.0) - 0.00247) < 5e-6


def test_sigmoid_does_not_overflow_for_large_inputs():
    z = np.array([-1000.0, -50.0, 50.0, 1000.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        s = act.sigmoid(z)
    np.testing.assert_allclose(s, [0.0, math.exp(-50.0), 1.0, 1.0], rtol=1e-12, atol=0)


def test_tanh_matches_closed_form():
    closed = (np.exp(Z) - np.exp(-Z)) / (np.exp(Z) + np.exp(-Z))
    np.testing.assert_allclose(act.tanh(Z), closed, rtol=1e-12)


def test_relu_and_leaky_relu_match_closed_forms():
    np.testing.assert_array_equal(act.relu(Z), np.where(Z > 0, Z, 0.0))
    np.testing.assert_allclose(act.leaky_relu(Z, alpha=0.1), np.where(Z > 0, Z, 0.1 * Z))
    assert act.leaky_relu(-2.0) == pytest.approx(-0.02)


def test_softplus_matches_closed_form_and_does_not_overflow():
    np.testing.assert_allclose(act.softplus(Z), np.log1p(np.exp(Z)), rtol=1e-13)
    with np.errstate(over="raise"):
        big = act.softplus(np.array([1000.0, -1000.0]))
    np.testing.assert_allclose(big, [1000.0, 0.0], atol=1e-300)


def test_gelu_matches_exact_erf_form():
    exact = np.array([z * 0.5 * (1.0 + math.erf(z / math.sqrt(2.0))) for z in Z])
    np.testing.assert_allclose(act.gelu(Z), exact, rtol=1e-14)


def test_silu_is_z_times_sigmoid():
    np.testing.assert_allclose(act.silu(Z), Z / (1.0 + np.exp(-Z)), rtol=1e-13)


def test_step_is_one_for_positive_and_zero_at_and_below_zero():
    np.testing.assert_array_equal(act.step([-1.0, 0.0, 1e-9, 3.0]), [0.0, 0.0, 1.0, 1.0])
    np.testing.assert_array_equal(act.d_step(Z), np.zeros_like(Z))


def test_relu_derivative_at_zero_is_zero_and_equals_step():
    assert act.d_relu(0.0) == 0.0
    assert act.d_leaky_relu(0.0, alpha=0.2) == pytest.approx(0.2)
    np.testing.assert_array_equal(act.d_relu(Z), act.step(Z))


def test_softmax_rows_sum_to_one_and_survive_huge_logits():
    logits = np.array([[1000.0, 1000.0, -1000.0], [1.0, 2.0, 3.0]])
    with np.errstate(over="raise", invalid="raise"):
        p = act.softmax(logits)
    np.testing.assert_allclose(p.sum(axis=1), [1.0, 1.0])
    np.testing.assert_allclose(p[0], [0.5, 0.5, 0.0])
    e = np.exp([1.0, 2.0, 3.0])
    np.testing.assert_allclose(p[1], e / e.sum())


def test_softmax_axis_zero_normalises_columns():
    p = act.softmax(np.array([[0.0, 1.0], [0.0, 3.0]]), axis=0)
    np.testing.assert_allclose(p.sum(axis=0), [1.0, 1.0])
    np.testing.assert_allclose(p[:, 0], [0.5, 0.5])


def test_float32_inputs_stay_float32_and_integers_become_float64():
    z32 = Z.astype(np.float32)
    for name, (g, dg) in act.ACTIVATIONS.items():
        assert g(z32).dtype == np.float32, name
        assert dg(z32).dtype == np.float32, name
    assert act.relu(np.array([1, -2])).dtype == np.float64


@pytest.mark.parametrize("name", sorted(act.ACTIVATIONS))
def test_derivative_matches_numerical_gradient(name):
    g, dg = act.ACTIVATIONS[name]
    z = Z.copy()
    numeric = numerical_gradient(lambda x: g(x).sum(), z)
    np.testing.assert_allclose(dg(Z), numeric, rtol=1e-6, atol=1e-8)


def test_activations_dict_lists_the_eight_lecture_activations_in_order():
    assert list(act.ACTIVATIONS) == [
        "sigmoid", "tanh", "relu", "leaky_relu", "softplus", "gelu", "silu", "step"]


def test_activations_match_tensorflow():
    tf = pytest.importorskip("tensorflow")
    z = np.linspace(-8.0, 8.0, 101)
    pairs = {
        "sigmoid": tf.nn.sigmoid,
        "tanh": tf.math.tanh,
        "relu": tf.nn.relu,
        "leaky_relu": lambda x: tf.nn.leaky_relu(x, alpha=0.01),
        "softplus": tf.nn.softplus,
        "gelu": tf.nn.gelu,
        "silu": tf.nn.silu,
    }
    for name, tf_fn in pairs.items():
        ours = act.ACTIVATIONS[name][0](z)
        np.testing.assert_allclose(ours, tf_fn(tf.constant(z)).numpy(), rtol=1e-6, atol=1e-6,
                                   err_msg=name)
        x = tf.constant(z)
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf_fn(x)
        np.testing.assert_allclose(act.ACTIVATIONS[name][1](z), tape.gradient(y, x).numpy(),
                                   rtol=1e-6, atol=1e-6, err_msg=f"d_{name}")
    logits = np.random.default_rng(0).normal(size=(4, 5)) * 10
    np.testing.assert_allclose(act.softmax(logits), tf.nn.softmax(logits).numpy(), rtol=1e-6)
