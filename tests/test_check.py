"""Tests of coursekit.check: numerical gradients, diagnosis of planted mistakes, assertions."""

from __future__ import annotations

import numpy as np
import pytest

from coursekit import check
from coursekit.check import (
    assert_close,
    assert_dtype,
    assert_finite,
    assert_gradient_close,
    assert_shape,
    diagnose_gradient,
    gradient_check,
    numerical_gradient,
    rel_error,
)

# ---------------------------------------------------------------------------
# A small 2-layer MLP: ReLU hidden layer, softmax cross-entropy averaged over the batch
# ---------------------------------------------------------------------------

B, D, H, K = 8, 5, 4, 3


def make_mlp(seed: int = 0):
    rng = np.random.default_rng(seed)
    params = {
        "W1": rng.normal(size=(D, H)),
        "b1": rng.normal(size=H) * 0.1,
        "W2": rng.normal(size=(H, K)),
        "b2": rng.normal(size=K) * 0.1,
    }
    X = rng.normal(size=(B, D))
    y = rng.integers(0, K, size=B)
    return params, X, y


def mlp_loss(params, X, y):
    Z1 = X @ params["W1"] + params["b1"]
    A1 = np.maximum(Z1, 0.0)
    S = A1 @ params["W2"] + params["b2"]
    S = S - S.max(axis=1, keepdims=True)
    log_p = S - np.log(np.exp(S).sum(axis=1, keepdims=True))
    return -log_p[np.arange(len(y)), y].mean()


def mlp_backward(params, X, y, *, mean=True, relu_grad=True):
    """Correct gradients, plus the intermediates the mistake tests need."""
    Z1 = X @ params["W1"] + params["b1"]
    A1 = np.maximum(Z1, 0.0)
    S = A1 @ params["W2"] + params["b2"]
    P = np.exp(S - S.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    dS = P.copy()
    dS[np.arange(len(y)), y] -= 1.0
    if mean:
        dS /= len(y)
    dA1 = dS @ params["W2"].T
    dZ1 = dA1 * (Z1 > 0) if relu_grad else dA1
    grads = {"W1": X.T @ dZ1, "b1": dZ1.sum(axis=0), "W2": A1.T @ dS, "b2": dS.sum(axis=0)}
    return grads, {"A1": A1, "dS": dS, "dA1": dA1, "dZ1": dZ1}


def run_check(grads, **kwargs):
    params, X, y = make_mlp()
    return gradient_check(lambda: mlp_loss(params, X, y), params, grads, batch_size=B, **kwargs)


def correct_grads():
    params, X, y = make_mlp()
    return mlp_backward(params, X, y)


# ---------------------------------------------------------------------------
# numerical_gradient
# ---------------------------------------------------------------------------


def test_numerical_gradient_of_quadratic_form_matches_analytic():
    rng = np.random.default_rng(1)
    A = rng.normal(size=(4, 4))
    x = rng.normal(size=4)
    grad = numerical_gradient(lambda v: v @ A @ v, x)
    np.testing.assert_allclose(grad, (A + A.T) @ x, rtol=1e-8)


def test_numerical_gradient_of_several_inputs_returns_one_gradient_each():
    rng = np.random.default_rng(2)
    A = rng.normal(size=(3, 2))
    x, y = rng.normal(size=3), rng.normal(size=2)
    gx, gy = numerical_gradient(lambda u, v: u @ A @ v, x, y)
    np.testing.assert_allclose(gx, A @ y, rtol=1e-8)
    np.testing.assert_allclose(gy, A.T @ x, rtol=1e-8)


def test_numerical_gradient_of_matrix_input_has_its_shape():
    W = np.arange(6, dtype=np.float64).reshape(2, 3) / 7
    grad = numerical_gradient(lambda M: (M**2).sum() / 2, W)
    assert grad.shape == (2, 3)
    np.testing.assert_allclose(grad, W, rtol=1e-8, atol=1e-10)


def test_numerical_gradient_restores_inputs_bit_for_bit():
    x = np.array([0.1, -0.0, 1e-300, 3.3333333333333335, -7.1e12])
    y = np.array([[0.7, 1 / 3]])
    before = (x.tobytes(), y.tobytes())
    numerical_gradient(lambda u, v: (u**2).sum() * v.sum(), x, y)
    assert (x.tobytes(), y.tobytes()) == before


def test_numerical_gradient_restores_inputs_when_f_raises():
    x = np.array([0.1, 0.2, 0.3])
    before = x.tobytes()
    calls = []

    def f(v):
        calls.append(1)
        if len(calls) == 4:  # fails in the middle of the second entry
            raise RuntimeError("boom")
        return v.sum()

    with pytest.raises(RuntimeError, match="boom"):
        numerical_gradient(f, x)
    assert x.tobytes() == before


def test_numerical_gradient_rejects_float32_with_astype_hint():
    with pytest.raises(TypeError, match=r"float32.*astype\(np\.float64\)"):
        numerical_gradient(lambda v: v.sum(), np.ones(3, dtype=np.float32))


def test_numerical_gradient_rejects_lists():
    with pytest.raises(TypeError, match="not a numpy array"):
        numerical_gradient(lambda v: sum(v), [1.0, 2.0])


def test_numerical_gradient_requires_a_scalar_loss():
    with pytest.raises(ValueError, match=r"one number.*shape \(3,\)"):
        numerical_gradient(lambda v: v * 2, np.ones(3))


# ---------------------------------------------------------------------------
# rel_error
# ---------------------------------------------------------------------------


def test_rel_error_is_zero_for_equal_and_about_one_for_opposite():
    a = np.array([1.0, -2.0, 0.0])
    assert rel_error(a, a.copy()) == 0.0
    assert rel_error(a, -a) == pytest.approx(1.0)


def test_rel_error_is_max_elementwise_relative_difference():
    assert rel_error([1.0, 100.0], [1.0, 101.0]) == pytest.approx(1 / 201)


def test_rel_error_accepts_scalars():
    assert rel_error(1.0, 1.1) == pytest.approx(0.1 / 2.1)
    assert rel_error(np.float64(0.0), 0.0) == 0.0


def test_rel_error_of_nan_is_infinite():
    assert rel_error([np.nan, 1.0], [1.0, 1.0]) == np.inf


def test_rel_error_rejects_different_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3\) vs \(3, 2\)"):
        rel_error(np.zeros((2, 3)), np.zeros((3, 2)))


# ---------------------------------------------------------------------------
# gradient_check on the MLP: correct gradients pass, each planted mistake fails
# ---------------------------------------------------------------------------


def test_gradient_check_passes_correct_mlp_gradients():
    grads, _ = correct_grads()
    result = run_check(grads)
    assert result.passed, str(result)
    assert max(result.errors.values()) < check.GREAT_THRESHOLD
    assert result.messages == {}
    assert "PASSED" in str(result)


def test_gradient_check_diagnoses_wrong_sign():
    grads, _ = correct_grads()
    grads["W2"] = -grads["W2"]
    result = run_check(grads)
    assert not result.passed and result.failed == ["W2"]
    assert "wrong sign" in result.messages["W2"]
    assert "dW2" in str(result) and "FAILED" in str(result)


def test_gradient_check_diagnoses_missing_division_by_batch_size():
    params, X, y = make_mlp()
    grads, _ = mlp_backward(params, X, y, mean=False)
    result = run_check(grads)
    assert result.failed == ["W1", "b1", "W2", "b2"]
    msg = result.messages["W2"]
    assert "factor of 8 = batch size" in msg and "average" in msg and "too large" in msg


def test_gradient_check_diagnoses_transposed_weight_gradient():
    grads, inter = correct_grads()
    grads["W2"] = inter["dS"].T @ inter["A1"]  # (K, H) instead of (H, K)
    result = run_check(grads)
    msg = result.messages["W2"]
    assert "transposed" in msg and "(3, 4)" in msg and "(4, 3)" in msg
    assert "dW2.T has the right values" in msg


def test_gradient_check_names_missing_relu_derivative_from_known_mistakes():
    params, X, y = make_mlp()
    wrong, _ = mlp_backward(params, X, y, relu_grad=False)
    known = {"W1": {"you forgot to multiply by the ReLU derivative 1[z1 > 0]": wrong["W1"]}}
    result = run_check(wrong, known_mistakes=known)
    assert "W1" in result.failed
    assert "ReLU derivative" in result.messages["W1"]


def test_gradient_check_diagnoses_bias_not_summed_over_batch():
    grads, inter = correct_grads()
    grads["b2"] = inter["dS"]  # shape (B, K)
    result = run_check(grads)
    msg = result.messages["b2"]
    assert "(8, 3)" in msg and "the shape of b2, (3,)" in msg and "sum over the batch" in msg
    assert "Summing your rows" in msg


def test_gradient_check_diagnoses_gradient_of_wrong_variable():
    grads, inter = correct_grads()
    grads["W1"] = inter["dZ1"]  # gradient w.r.t. the pre-activations, (B, H)
    result = run_check(grads)
    msg = result.messages["W1"]
    assert "(8, 4)" in msg and "(5, 4)" in msg and "shape of W1" in msg
    assert "one row per example" in msg


def test_gradient_check_diagnoses_nan():
    grads, _ = correct_grads()
    grads["W2"][1, 2] = np.nan
    result = run_check(grads)
    assert result.errors["W2"] == np.inf
    assert "NaN" in result.messages["W2"]


def test_gradient_check_reports_missing_gradient_key():
    grads, _ = correct_grads()
    del grads["b1"]
    result = run_check(grads)
    assert result.failed == ["b1"] and "no gradient given for b1" in result.messages["b1"]


# ---------------------------------------------------------------------------
# diagnose_gradient on its own
# ---------------------------------------------------------------------------

E = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]])


def test_diagnose_returns_none_for_correct_gradient():
    assert diagnose_gradient("dW", E + 1e-12, E) is None


def test_diagnose_factor_two_mentions_squared_loss():
    msg = diagnose_gradient("dW", 2 * E, E)
    assert "2 times" in msg and "squared loss" in msg


def test_diagnose_too_small_by_batch_size_for_bias_suggests_sum_not_mean():
    e = np.array([0.4, -0.8, 1.2])
    msg = diagnose_gradient("db", e / 16, e, batch_size=16)
    assert "factor of 16 = batch size" in msg and "too small" in msg and "not the mean" in msg


def test_diagnose_square_transposed_gradient():
    e = np.array([[1.0, 2.0], [3.0, 4.0]])
    assert "transposed" in diagnose_gradient("dW", e.T, e)


def test_diagnose_all_zeros():
    assert "all zeros" in diagnose_gradient("dW", np.zeros_like(E), E)


def test_diagnose_partial_match_counts_entries_and_names_the_row():
    wrong = E.copy()
    wrong[1] += 1.0
    msg = diagnose_gradient("dW", wrong, E)
    assert "right in 3 of 6 entries" in msg and "row(s) [1]" in msg


def test_diagnose_none_gradient():
    assert "None" in diagnose_gradient("dW", None, E)


def test_known_mistake_wins_over_generic_sign_explanation():
    msg = diagnose_gradient("dW", -E, E, known_mistakes={"you used y - y_hat": -E})
    assert msg == "dW: you used y - y_hat"


def test_relu_derivative_on_output_is_recognised_for_sigmoid_layer():
    # sigmoid'(z) computed as a * (1 - a) with a = sigmoid(z) is right; sigmoid'(a) is not.
    rng = np.random.default_rng(3)
    z, upstream = rng.normal(size=(6, 2)), rng.normal(size=(6, 2))
    a = 1 / (1 + np.exp(-z))
    right = upstream * a * (1 - a)
    on_output = upstream * (1 / (1 + np.exp(-a))) * (1 - 1 / (1 + np.exp(-a)))
    msg = diagnose_gradient("dZ", on_output, right, known_mistakes={
        "sigmoid' was evaluated at the output a instead of at z": on_output})
    assert "instead of at z" in msg


# ---------------------------------------------------------------------------
# Assertion helpers: messages
# ---------------------------------------------------------------------------


def test_assert_shape_message_names_function_variable_and_both_shapes():
    with pytest.raises(AssertionError) as info:
        assert_shape(np.zeros((10, 32)), (32, 10), "logits", func="dense_forward")
    msg = str(info.value)
    assert msg.startswith("dense_forward: logits")
    assert "expected (32, 10), got (10, 32)" in msg and "transposed" in msg


def test_assert_shape_accepts_none_as_wildcard_and_flags_extra_axis():
    assert_shape(np.zeros((7, 3)), (None, 3), "x")
    with pytest.raises(AssertionError, match="axis of size 1"):
        assert_shape(np.zeros((3, 1)), (3,), "b")


def test_assert_shape_of_none_asks_whether_it_was_returned():
    with pytest.raises(AssertionError, match="is None.*return"):
        assert_shape(None, (2,), "out", func="f")


def test_assert_dtype_message_gives_expected_actual_and_fix():
    with pytest.raises(AssertionError) as info:
        assert_dtype(np.zeros(2, np.float32), np.float64, "W", func="init")
    msg = str(info.value)
    assert msg.startswith("init: W") and "expected float64, got float32" in msg
    assert ".astype(np.float64)" in msg
    assert_dtype(np.zeros(2, np.float32), np.floating, "W")


def test_assert_finite_counts_nan_and_gives_first_index():
    x = np.ones((2, 3))
    x[1, 2] = np.nan
    x[0, 1] = np.inf
    with pytest.raises(AssertionError) as info:
        assert_finite(x, "loss", func="cross_entropy")
    msg = str(info.value)
    assert msg.startswith("cross_entropy: loss contains 1 NaN and 1 infinite")
    assert "(0, 1)" in msg


def test_assert_close_reports_count_worst_index_values_and_tolerance():
    expected = np.array([[1.0, 2.0], [3.0, 4.0]])
    actual = expected.copy()
    actual[1, 0] = 3.5
    actual[0, 1] = 2.01
    with pytest.raises(AssertionError) as info:
        assert_close(actual, expected, "y", func="forward")
    msg = str(info.value)
    assert msg.startswith("forward: y")
    assert "2 of 4 entries differ" in msg and "index (1, 0)" in msg
    assert "got 3.5, expected 3" in msg and "1e-08 + 1e-05 * |expected|" in msg


def test_assert_close_notices_wrong_sign_and_checks_shape_first():
    e = np.array([1.0, -2.0])
    with pytest.raises(AssertionError, match="wrong sign"):
        assert_close(-e, e, "v")
    with pytest.raises(AssertionError, match=r"expected \(2,\), got \(1, 2\)"):
        assert_close(e[None], e, "v")


def test_assert_close_names_a_known_mistake_for_a_scalar():
    known = {"the 1/2 in (lambda/2) ||W||^2 is missing": 2.0}
    with pytest.raises(AssertionError) as info:
        assert_close(2.0, 1.0, "penalty", func="l2_penalty", known_mistakes=known)
    msg = str(info.value)
    assert msg.startswith("l2_penalty: penalty is not close") and "1/2" in msg
    assert "Got 2, expected 1" in msg


def test_assert_close_passes_within_tolerance():
    assert_close(np.array([1.0 + 1e-9]), np.array([1.0]), "v")
    assert_close(0.30000000000000004, 0.3, "sum")


def test_assert_gradient_close_message_has_diagnosis_and_worst_entry():
    with pytest.raises(AssertionError) as info:
        assert_gradient_close("dW2", E * 32, E, func="backward", batch_size=32)
    msg = str(info.value)
    assert msg.startswith("backward: dW2 is off by a factor of 32")
    assert "factor of 32 = batch size" in msg and "Worst at index" in msg


def test_assert_gradient_close_without_diagnosis_reports_worst_entry():
    wrong = E.copy()
    wrong += np.arange(6).reshape(2, 3)  # no recognisable pattern
    with pytest.raises(AssertionError) as info:
        assert_gradient_close("dW", wrong, E, func="backward")
    msg = str(info.value)
    assert msg.startswith("backward: dW is")
    assert "Worst at index (1, 2)" in msg


def test_assert_gradient_close_shape_message_has_no_value_report():
    with pytest.raises(AssertionError) as info:
        assert_gradient_close("db", np.ones((4, 3)), np.ones(3) * 4, func="backward")
    msg = str(info.value)
    assert msg.startswith("backward: db has shape (4, 3)") and "sum over the batch" in msg


# ---------------------------------------------------------------------------
# Robustness against a student patching numpy after import
# ---------------------------------------------------------------------------


def test_verdicts_survive_monkeypatched_numpy(monkeypatch):
    always = lambda *a, **k: True  # noqa: E731
    monkeypatch.setattr(np, "allclose", always)
    monkeypatch.setattr(np, "isclose", lambda a, b, *r, **k: np.ones(np.shape(a), bool))
    monkeypatch.setattr(np, "array_equal", always)
    monkeypatch.setattr(np, "abs", lambda x: 0 * x)
    monkeypatch.setattr(np, "absolute", lambda x: 0 * x)
    monkeypatch.setattr(np, "isfinite", lambda x: np.ones(np.shape(x), bool))
    monkeypatch.setattr(np.testing, "assert_allclose", lambda *a, **k: None)
    e = np.array([1.0, 2.0, 3.0])
    with pytest.raises(AssertionError):
        assert_close(e + 1, e, "y")
    with pytest.raises(AssertionError):
        assert_gradient_close("dW", -e, e)
    with pytest.raises(AssertionError):
        assert_finite(np.array([np.nan]), "loss")
    assert rel_error(e, -e) == pytest.approx(1.0)
    grads, _ = correct_grads()
    grads["W2"] = grads["W2"] * 3
    assert not run_check(grads).passed


def test_ndarray_subclass_with_rigged_operators_does_not_pass():
    class Liar(np.ndarray):
        def __sub__(self, other):
            return np.zeros(self.shape)

        def __le__(self, other):
            return np.ones(self.shape, bool)

        def __eq__(self, other):
            return np.ones(self.shape, bool)

    e = np.array([1.0, 2.0])
    with pytest.raises(AssertionError):
        assert_close(np.array([5.0, 6.0]).view(Liar), e, "y")


def test_rel_error_and_gradient_check_accept_scalar_parameters():
    """0-d arrays (a scalar output bias, say) are valid parameters."""
    from coursekit.check import gradient_check, rel_error

    assert rel_error(np.array(1.0), np.array(1.0)) == 0.0
    assert abs(rel_error(np.array(1.0), np.array(2.0)) - 1 / 3) < 1e-12
    c = np.array(0.1)
    result = gradient_check(lambda: float(3 * c**2), {"c": c}, {"c": np.array(0.6)})
    assert result.passed
