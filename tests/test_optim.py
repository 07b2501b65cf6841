"""Tests of coursekit.optim: the numpy optimizers follow Keras step for step."""

from __future__ import annotations

import numpy as np
import pytest

from coursekit import optim

KERAS_CASES = {
    "SGD": dict(learning_rate=0.1),
    "SGD-momentum": dict(learning_rate=0.1, momentum=0.9),
    "SGD-nesterov": dict(learning_rate=0.1, momentum=0.9, nesterov=True),
    "Adagrad": dict(learning_rate=0.1, initial_accumulator_value=0.1, epsilon=1e-7),
    "Adadelta": dict(learning_rate=1.0, rho=0.95, epsilon=1e-7),
    "RMSprop": dict(learning_rate=0.01, rho=0.9, epsilon=1e-7),
    "Adam": dict(learning_rate=0.01, beta_1=0.9, beta_2=0.999, epsilon=1e-7),
}


def _random_run(seed: int = 0, steps: int = 20):
    rng = np.random.default_rng(seed)
    w0 = rng.normal(size=(3, 2)).astype(np.float32)
    grads = [rng.normal(size=(3, 2)).astype(np.float32) for _ in range(steps)]
    return w0, grads


@pytest.mark.parametrize("case", sorted(KERAS_CASES))
def test_optimizer_matches_keras_over_20_steps(case):
    keras = pytest.importorskip("keras")
    kwargs = KERAS_CASES[case]
    name = case.split("-")[0]
    w0, grads = _random_run()
    var = keras.Variable(w0.copy())
    keras_opt = getattr(keras.optimizers, name)(**kwargs)
    w = w0.astype(np.float64)
    ours = getattr(optim, name)(**kwargs)
    for step, g in enumerate(grads):
        keras_opt.apply_gradients([(keras.ops.convert_to_tensor(g), var)])
        ours.step([w], [g.astype(np.float64)])
        np.testing.assert_allclose(
            w, np.asarray(var), rtol=1e-5, atol=1e-6, err_msg=f"{case} step {step}"
        )
    assert ours.iterations == len(grads)


def test_learning_rate_schedule_gets_the_step_count_like_keras():
    keras = pytest.importorskip("keras")
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=5, decay_rate=0.5)
    w0, grads = _random_run(seed=1)
    var = keras.Variable(w0.copy())
    keras_opt = keras.optimizers.SGD(schedule)
    w = w0.astype(np.float64)
    ours = optim.SGD(schedule)
    seen = []
    for g in grads:
        seen.append(ours.current_learning_rate())
        keras_opt.apply_gradients([(keras.ops.convert_to_tensor(g), var)])
        ours.step([w], [g.astype(np.float64)])
    np.testing.assert_allclose(w, np.asarray(var), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(seen, [0.1 * 0.5 ** (k / 5) for k in range(len(grads))], rtol=1e-6)


def test_plain_sgd_step_is_minus_learning_rate_times_gradient():
    w = np.array([1.0, -2.0])
    optim.SGD(learning_rate=0.5).step([w], [np.array([2.0, 4.0])])
    np.testing.assert_allclose(w, [0.0, -4.0])


def test_momentum_accumulates_a_constant_gradient_geometrically():
    w = np.zeros(1)
    opt = optim.SGD(learning_rate=1.0, momentum=0.5)
    for _ in range(3):
        opt.step([w], [np.ones(1)])
    # steps of 1, 1.5, 1.75 downhill
    np.testing.assert_allclose(w, [-(1 + 1.5 + 1.75)])


def test_adam_first_step_has_size_learning_rate_for_any_gradient_scale():
    w = np.zeros(3)
    optim.Adam(learning_rate=0.01).step([w], [np.array([0.1, 1.0, -1e3])])
    np.testing.assert_allclose(w, [-0.01, -0.01, 0.01], rtol=1e-3)


def test_adagrad_first_step_uses_the_initial_accumulator():
    w = np.zeros(1)
    optim.Adagrad(learning_rate=1.0, initial_accumulator_value=0.1, epsilon=0.0).step(
        [w], [np.array([1.0])]
    )
    np.testing.assert_allclose(w, [-1.0 / np.sqrt(1.1)])


def test_state_is_kept_separately_per_parameter():
    a, b = np.zeros(2), np.zeros((2, 2))
    opt = optim.RMSprop(learning_rate=0.1)
    opt.step([a, b], [np.ones(2), 10 * np.ones((2, 2))])
    # RMSprop's first step is lr / sqrt(1 - rho) whatever the gradient's size
    np.testing.assert_allclose(a, -0.1 / np.sqrt(0.1), rtol=1e-5)
    np.testing.assert_allclose(b, -0.1 / np.sqrt(0.1), rtol=1e-5)


def test_step_names_the_mismatched_gradient_shape():
    with pytest.raises(
        ValueError, match=r"grads\[0\] has shape \(3,\) but params\[0\] has shape \(2,\)"
    ):
        optim.Adam().step([np.zeros(2)], [np.zeros(3)])


def test_step_rejects_a_bare_array():
    with pytest.raises(TypeError, match="lists of arrays"):
        optim.SGD().step(np.zeros(2), np.zeros(2))


def test_step_rejects_a_different_number_of_parameters_later():
    opt = optim.SGD()
    opt.step([np.zeros(2)], [np.zeros(2)])
    with pytest.raises(ValueError, match="one optimizer per model"):
        opt.step([np.zeros(2), np.zeros(2)], [np.zeros(2), np.zeros(2)])


def test_negative_learning_rate_is_rejected():
    with pytest.raises(ValueError, match="learning_rate must be a positive number"):
        optim.Adam(learning_rate=-0.1)


def test_run_path_reaches_the_minimum_of_the_ravine():
    path = optim.run_path(
        optim.SGD(learning_rate=0.04, momentum=0.9), optim.ravine_grad, [-4.0, 1.5], steps=300
    )
    assert path.shape == (301, 2)
    np.testing.assert_allclose(path[0], [-4.0, 1.5])
    np.testing.assert_allclose(path[-1], [0.0, 0.0], atol=1e-4)


def test_run_path_stops_when_the_optimizer_diverges():
    path = optim.run_path(optim.SGD(learning_rate=0.2), optim.ravine_grad, [1.0, 1.0], steps=5000)
    assert len(path) < 5001
    assert np.all(np.isfinite(path))


@pytest.mark.parametrize(
    "f, grad, point",
    [
        (optim.ravine, optim.ravine_grad, (0.7, -0.3)),
        (optim.rosenbrock, optim.rosenbrock_grad, (-1.2, 1.0)),
        (optim.saddle, optim.saddle_grad, (0.4, 0.6)),
    ],
)
def test_surface_gradient_matches_central_differences(f, grad, point):
    x, y = point
    eps = 1e-6
    numeric = (
        (f(x + eps, y) - f(x - eps, y)) / (2 * eps),
        (f(x, y + eps) - f(x, y - eps)) / (2 * eps),
    )
    np.testing.assert_allclose(grad(x, y), numeric, rtol=1e-6)


def test_saddle_is_flat_at_the_origin_with_minima_at_plus_minus_one():
    np.testing.assert_allclose(optim.saddle_grad(0.0, 0.0), (0.0, 0.0))
    assert optim.saddle(0.0, 1.0) == optim.saddle(0.0, -1.0) == -0.25
    assert optim.saddle(0.0, 0.0) > optim.saddle(0.0, 1.0)
