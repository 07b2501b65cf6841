"""coursekit.playground without widgets: the net's math, the knobs, the training loop, the figure."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pytest

from coursekit.activations import ACTIVATIONS
from coursekit.check import gradient_check
from coursekit.losses import binary_cross_entropy_with_logits
from coursekit.playground import DATASETS, Config, Playground
from coursekit.playground.net import MLP


def _reference_logits(X, Ws, bs, activation):
    """The course's forward pass written out: z = a W + b, a = g(z), linear output."""
    g = (lambda z: z) if activation == "linear" else ACTIVATIONS[activation][0]
    a = X
    for k, (W, b) in enumerate(zip(Ws, bs, strict=True)):
        z = a @ W + b
        a = z if k == len(Ws) - 1 else g(z)
    return a[:, 0]


@pytest.mark.parametrize("activation", ["linear", "sigmoid", "tanh", "relu"])
@pytest.mark.parametrize("hidden", [(), (3,), (4, 2), (2, 3, 2, 2)])
def test_forward_and_backward_equal_the_numpy_reference(activation, hidden):
    rng = np.random.default_rng(7)
    net = MLP(hidden, activation, rng)
    for b in net.params[1::2]:
        b[...] = rng.normal(scale=0.3, size=b.shape)  # non-zero biases exercise db
    X = rng.normal(size=(13, 2))
    y = (rng.uniform(size=13) > 0.5).astype(np.int64)
    logits = net.forward(X)[0]
    ref = _reference_logits(X, net.params[0::2], net.params[1::2], activation)
    np.testing.assert_allclose(logits, ref, rtol=1e-12, atol=1e-12)
    assert net.data_loss(X, y) == pytest.approx(binary_cross_entropy_with_logits(ref, y.astype(float)))

    lam = 0.05
    loss, grads = net.gradients(X, y, lam)
    params = {f"p{i}": p for i, p in enumerate(net.params)}
    result = gradient_check(lambda: net.loss(X, y, lam), params,
                            {f"p{i}": g for i, g in enumerate(grads)})
    assert result.passed, str(result)
    assert loss == pytest.approx(net.data_loss(X, y))


def test_l2_follows_the_course_convention_weights_only():
    net = MLP((3,), "tanh", np.random.default_rng(0))
    X, y = np.zeros((4, 2)), np.array([0, 1, 0, 1])
    _, g0 = net.gradients(X, y, 0.0)
    _, g1 = net.gradients(X, y, 0.1)
    for k, (a, b) in enumerate(zip(g0, g1, strict=True)):
        expected = b - a
        if k % 2 == 0:  # weights: + lam * W
            np.testing.assert_allclose(expected, 0.1 * net.params[k])
        else:  # biases are not decayed
            np.testing.assert_array_equal(expected, 0.0)
    W = net.params[0::2]
    assert net.l2_penalty(0.1) == pytest.approx(0.05 * sum(float(np.sum(w * w)) for w in W))


def test_a_full_batch_sgd_step_is_one_gradient_descent_update():
    pg = Playground(dataset="circles", hidden_layers=2, units=3, batch_size=1000,
                    learning_rate=0.5, optimizer="SGD")
    before = [p.copy() for p in pg.net.params]
    _, grads = pg.net.gradients(pg.X_train, pg.y_train, 0.0)
    pg.step()
    for b, g, after in zip(before, grads, pg.net.params, strict=True):
        np.testing.assert_allclose(after, b - 0.5 * g, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("dataset", list(DATASETS))
def test_every_data_set_trains_and_the_loss_falls(dataset):
    pg = Playground(dataset=dataset, hidden_layers=2, units=6, activation="relu",
                    optimizer="Adam", learning_rate=0.03, seed=1)
    state = pg.run(30)
    assert state.step == 30 and len(state.history["train_loss"]) == 31
    assert state.train_loss < state.history["train_loss"][0]
    assert len(pg.y_train) + len(pg.y_test) == 200
    assert len(state.grad_rms) == 3 and all(g >= 0 for g in state.grad_rms)


def test_same_seed_same_run_different_seed_different_run():
    a = Playground(seed=3).run(5)
    b = Playground(seed=3).run(5)
    c = Playground(seed=4).run(5)
    assert a.history == b.history
    assert a.history != c.history


def test_set_resets_on_structure_and_keeps_weights_on_learning_rate():
    pg = Playground(hidden_layers=1, units=4)
    pg.run(3)
    weights = pg.state.weights
    pg.set(learning_rate=0.1, batch_size=5, l2=0.01)
    assert pg.step_count == 3 and pg.optimizer.learning_rate == 0.1
    np.testing.assert_array_equal(pg.state.weights[0], weights[0])
    pg.set(optimizer="Adam")
    assert pg.step_count == 3 and type(pg.optimizer).__name__ == "Adam"
    pg.set(units=6)
    assert pg.step_count == 0 and pg.net.sizes == [2, 6, 1]
    X_before = pg.X
    pg.set(activation="relu")
    assert pg.X is X_before  # a new network, the same data
    pg.set(noise=0.6)
    assert pg.X is not X_before and pg.step_count == 0


def test_bad_knobs_are_refused_with_a_clear_message_and_nothing_changes():
    pg = Playground()
    before = dataclasses.replace(pg.config)
    with pytest.raises(ValueError, match="hidden_layers must be an integer from 0 to 4"):
        pg.set(hidden_layers=5)
    with pytest.raises(ValueError, match="units must be between 1 and 8"):
        pg.set(units=9)
    with pytest.raises(ValueError, match="activation must be one of"):
        pg.set(activation="softmax")
    with pytest.raises(TypeError, match="unknown setting"):
        pg.set(epochs=3)
    assert pg.config == before
    with pytest.raises(ValueError, match="steps must be an integer"):
        pg.run(-1)


def test_per_layer_units_and_state_is_a_copy():
    pg = Playground(hidden_layers=2, units=(3, 5))
    assert pg.net.sizes == [2, 3, 5, 1]
    state = pg.state
    state.weights[0][...] = 0
    assert np.any(pg.net.params[0] != 0)
    assert isinstance(state.config, Config) and state.config is not pg.config


def test_a_huge_learning_rate_in_a_linear_net_is_flagged_as_diverged_and_stops():
    pg = Playground(dataset="xor", hidden_layers=2, units=4, activation="linear",
                    learning_rate=10.0, batch_size=1)
    state = pg.run(50)
    assert state.diverged and state.step < 50
    assert pg.step().step == state.step  # no training once diverged
    assert "diverged" in str(state)


def test_figure_has_the_four_views_and_changes_when_training():
    pytest.importorskip("matplotlib")
    pg = Playground.from_preset("xor", seed=0)
    fig = pg.figure()
    assert len(fig.axes) == 4
    net_ax, boundary_ax, loss_ax, grad_ax = fig.axes
    view = pg._view
    assert len(view.slots) == sum(pg.net.sizes)  # one small picture per unit (inputs, output too)
    assert len(net_ax.images) == 1  # ... all in one composite image
    tiles_before = view.canvas_rgba.copy()
    assert boundary_ax.get_xlabel() == "$x_1$" and loss_ax.get_ylabel().startswith("loss")
    assert len(grad_ax.patches) == pg.net.n_layers
    before = boundary_ax.images[0].get_array().copy()
    pg.run(20)
    fig2 = pg.figure()
    assert fig2 is fig
    assert not np.allclose(boundary_ax.images[0].get_array(), before)
    assert not np.allclose(view.canvas_rgba, tiles_before)
    assert len(view.lines.get_linewidths()) == 2 * 4 + 4 * 1
    assert len(loss_ax.lines[0].get_xdata()) == 21
    pg.set(hidden_layers=3)
    pg.figure()
    assert len(view.slots) == sum(pg.net.sizes) == 2 + 3 * 4 + 1
    png = view.png()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_headless_show_displays_the_figure_not_widgets(monkeypatch):
    pytest.importorskip("matplotlib")
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj, **kw: shown.append(obj))
    monkeypatch.setenv("COURSEKIT_HEADLESS", "1")
    pg = Playground()
    pg.show()
    from matplotlib.figure import Figure

    assert len(shown) == 1 and isinstance(shown[0], Figure)


def test_importing_the_playground_loads_neither_matplotlib_nor_ipywidgets():
    code = ("import sys, coursekit; from coursekit.playground import Playground; "
            "Playground(hidden_layers=1).run(2); "
            "print([m for m in ('matplotlib', 'ipywidgets') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_fast_redraw_shows_what_a_full_render_shows():
    pytest.importorskip("matplotlib")
    import io

    from PIL import Image

    from coursekit.playground.view import PlaygroundView

    pg = Playground.from_preset("vanishing_gradients", seed=1)
    view = PlaygroundView(pg)
    view.png()
    pg.run(5)
    fast = np.asarray(Image.open(io.BytesIO(view.png())).convert("RGB"), dtype=float)
    view.canvas.draw()  # a full render of the same state
    full = np.asarray(view.canvas.buffer_rgba())[..., :3].astype(float)
    assert fast.shape == full.shape
    differ = np.mean(np.abs(fast - full).max(axis=-1) > 40)
    # a missing title or curve would be ~0.3 % of the pixels
    assert differ < 0.0005, f"{differ:.2%} of the pixels differ between redraw and full render"
