"""Tests of coursekit.plot: every figure renders under Agg and draws what it should."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import PathCollection  # noqa: E402
from matplotlib.contour import ContourSet  # noqa: E402
from matplotlib.quiver import Quiver  # noqa: E402

from coursekit import (
    activations as act,  # noqa: E402
    plot as ckplot,  # noqa: E402
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def save_png(fig, tmp_path, name="fig.png"):
    path = tmp_path / name
    fig.savefig(path, dpi=50)
    assert path.read_bytes()[:8] == PNG_MAGIC
    return path


def legend_texts(ax):
    legend = ax.get_legend()
    assert legend is not None, "expected a legend"
    return [t.get_text() for t in legend.get_texts()]


def xor_data():
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    return X, np.array([0, 1, 1, 0])


def sigmoid_xor_hidden(X):
    return act.sigmoid(X @ np.array([[20.0, -20.0], [20.0, -20.0]]) + np.array([-10.0, 30.0]))


XOR_READOUT = (np.array([20.0, 20.0]), -30.0)


# --- style ------------------------------------------------------------------------


def test_okabe_ito_palette_has_the_eight_published_colours():
    expected = {"#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7",
                "#000000"}
    assert set(ckplot.OKABE_ITO) == expected and len(ckplot.OKABE_ITO) == 8


def test_class_style_gives_each_of_ten_classes_a_distinct_colour_marker_pair():
    pairs = {(ckplot.class_style(k)["color"], ckplot.class_style(k)["marker"]) for k in range(10)}
    assert len(pairs) == 10
    assert len({ckplot.class_style(k)["marker"] for k in range(10)}) == 10


def test_class_style_rejects_negative_class():
    with pytest.raises(ValueError, match="k must be a class index"):
        ckplot.class_style(-1)


# --- activations --------------------------------------------------------------------


def test_plot_activations_draws_sigmoid_and_its_derivative_from_the_formula(tmp_path):
    z = np.linspace(-4, 4, 81)
    fig = ckplot.plot_activations(["sigmoid", "relu"], z=z)
    save_png(fig, tmp_path)
    ax_g, ax_d = fig.axes
    lines = {line.get_label(): line for line in ax_g.get_lines()}
    dlines = {line.get_label(): line for line in ax_d.get_lines()}
    np.testing.assert_allclose(lines["sigmoid"].get_ydata(), 1 / (1 + np.exp(-z)), rtol=1e-12)
    s = 1 / (1 + np.exp(-z))
    np.testing.assert_allclose(dlines["sigmoid"].get_ydata(), s * (1 - s), rtol=1e-12)
    np.testing.assert_allclose(lines["relu"].get_ydata(), np.maximum(z, 0))
    assert ax_g.get_xlabel() == "$z$" and ax_g.get_ylabel() == "$g(z)$"
    assert ax_d.get_ylabel() == "$g'(z)$"
    assert legend_texts(ax_d) == ["sigmoid", "relu"]


def test_plot_activations_defaults_to_all_eight_functions():
    fig = ckplot.plot_activations()
    labels = [ln.get_label() for ln in fig.axes[0].get_lines() if not ln.get_label().startswith("_")]
    assert labels == ["sigmoid", "tanh", "relu", "leaky_relu", "softplus", "gelu", "silu", "step"]
    markers = {ln.get_marker() for ln in fig.axes[0].get_lines() if ln.get_label() in labels}
    assert len(markers) == 8


def test_plot_activations_unknown_name_lists_the_choices():
    with pytest.raises(ValueError, match="unknown activation 'swish'.*sigmoid, tanh"):
        ckplot.plot_activations(["swish"])


# --- 2-D data and decision boundaries ----------------------------------------------------


def test_plot_data_2d_draws_one_scatter_per_class_with_names(tmp_path):
    X, y = xor_data()
    ax = ckplot.plot_data_2d(X, y, class_names=["off", "on"], title="XOR")
    save_png(ax.figure, tmp_path)
    scatters = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert len(scatters) == 2
    np.testing.assert_array_equal(scatters[1].get_offsets(), X[y == 1])
    assert legend_texts(ax) == ["off", "on"]
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("$x_1$", "$x_2$", "XOR")


def test_plot_data_2d_rejects_three_columns_naming_the_shape():
    with pytest.raises(ValueError, match=r"X must have shape \(n, 2\).*got shape \(5, 3\)"):
        ckplot.plot_data_2d(np.zeros((5, 3)), np.zeros(5))


def test_plot_data_2d_rejects_label_count_mismatch():
    with pytest.raises(ValueError, match="X has 4 rows but y has 3 labels"):
        ckplot.plot_data_2d(np.zeros((4, 2)), np.zeros(3))


def test_decision_boundary_binary_draws_shading_half_contour_and_colorbar(tmp_path):
    X, y = xor_data()
    ax = ckplot.plot_decision_boundary(lambda x: act.sigmoid(x[:, 0] - x[:, 1]), X, y, grid=50)
    save_png(ax.figure, tmp_path)
    contours = [c for c in ax.collections if isinstance(c, ContourSet)]
    assert len(contours) == 2  # filled probability shading + the 0.5 line
    filled = [c for c in contours if c.filled][0]
    line = [c for c in contours if not c.filled][0]
    assert list(line.levels) == [0.5]
    assert filled.levels[0] == 0.0 and filled.levels[-1] == 1.0
    assert len(ax.figure.axes) == 2  # the axes and the colourbar
    assert ax.figure.axes[1].get_ylabel() == "P(class 1)"
    # the 0.5 line of sigmoid(x1 - x2) is the diagonal x1 = x2
    verts = np.concatenate([p.vertices for p in line.get_paths()])
    np.testing.assert_allclose(verts[:, 0], verts[:, 1], atol=0.05)
    assert legend_texts(ax) == ["0", "1", "decision boundary (p = 0.5)"]


def test_decision_boundary_multiclass_shows_class_regions():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2))
    y = np.argmax(np.column_stack([X[:, 0], X[:, 1], -X[:, 0] - X[:, 1]]), axis=1)

    def predict(x):
        return act.softmax(np.column_stack([x[:, 0], x[:, 1], -x[:, 0] - x[:, 1]]))

    ax = ckplot.plot_decision_boundary(predict, X, y, class_names=["a", "b", "c"], grid=60)
    filled = [c for c in ax.collections if isinstance(c, ContourSet) and c.filled][0]
    np.testing.assert_allclose(filled.levels, [-0.5, 0.5, 1.5, 2.5])
    assert legend_texts(ax) == ["a", "b", "c", "class boundaries"]
    assert len(ax.figure.axes) == 1  # class regions need no colourbar


def test_decision_boundary_accepts_a_model_with_predict_and_passes_verbose_0():
    calls = []

    class FakeKerasModel:
        def predict(self, x, verbose=1, batch_size=32):
            calls.append(verbose)
            return act.sigmoid(x[:, :1] + x[:, 1:])  # shape (n, 1), like Keras

    X, y = xor_data()
    ax = ckplot.plot_decision_boundary(FakeKerasModel(), X, y, grid=20)
    assert calls == [0]
    assert any(isinstance(c, ContourSet) and list(c.levels) == [0.5] for c in ax.collections)


def test_decision_boundary_rejects_logits_with_a_hint():
    X, y = xor_data()
    with pytest.raises(ValueError, match="probabilities in \\[0, 1\\].*sigmoid"):
        ckplot.plot_decision_boundary(lambda x: 5 * x[:, 0] - 10, X, y, grid=10)


def test_decision_boundary_rejects_wrong_output_length():
    X, y = xor_data()
    with pytest.raises(ValueError, match=r"predict returned shape \(3,\) for 100 points"):
        ckplot.plot_decision_boundary(lambda x: np.full(3, 0.5), X, y, grid=10)


def test_decision_boundary_rejects_x_with_wrong_shape():
    with pytest.raises(ValueError, match=r"X must have shape \(n, 2\)"):
        ckplot.plot_decision_boundary(lambda x: x[:, 0], np.zeros((4, 2, 1)), None)


def test_hidden_layer_panels_draw_three_views_of_xor(tmp_path):
    X, y = xor_data()
    fig = ckplot.plot_hidden_layer_panels(sigmoid_xor_hidden, X, y, readout=XOR_READOUT)
    save_png(fig, tmp_path)
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert len(panels) == 3
    ax_in, ax_h, ax_out = panels
    # panel 2 plots the hidden activations as coordinates
    H = sigmoid_xor_hidden(X)
    scat = [c for c in ax_h.collections if isinstance(c, PathCollection)]
    np.testing.assert_allclose(np.concatenate([s.get_offsets() for s in scat]),
                               np.concatenate([H[y == 0], H[y == 1]]))
    assert ax_h.get_xlabel() == "hidden unit 1, $h_1$"
    assert "readout line $w^T h + b = 0$" in legend_texts(ax_h)
    # the readout line 20 h1 + 20 h2 - 30 = 0 is h1 + h2 = 1.5
    line = [c for c in ax_h.collections if isinstance(c, ContourSet) and not c.filled][0]
    verts = np.concatenate([p.vertices for p in line.get_paths()])
    np.testing.assert_allclose(verts.sum(axis=1), 1.5, atol=0.02)
    assert any(isinstance(c, ContourSet) and list(c.levels) == [0.5] for c in ax_out.collections)
    assert ax_in.get_title().startswith("1.") and ax_out.get_title().startswith("3.")


def test_hidden_layer_panels_with_more_units_say_which_are_shown():
    X, y = xor_data()

    def hidden(x):
        return np.column_stack([sigmoid_xor_hidden(x), np.tanh(x)])

    fig = ckplot.plot_hidden_layer_panels(
        hidden, X, y, readout=(np.array([20.0, 20.0, 0.0, 0.0]), -30.0)
    )
    assert fig.axes[1].get_title() == "2. hidden space (units 1-2 of 4; others at their mean)"


def test_hidden_layer_panels_accept_a_callable_readout():
    X, y = xor_data()
    fig = ckplot.plot_hidden_layer_panels(
        sigmoid_xor_hidden, X, y, readout=lambda H: act.sigmoid(H @ XOR_READOUT[0] + XOR_READOUT[1])
    )
    ax_h = [ax for ax in fig.axes if ax.get_xlabel() == "hidden unit 1, $h_1$"][0]
    assert "readout p = 0.5" in legend_texts(ax_h)


def test_hidden_layer_panels_reject_readout_of_wrong_size():
    X, y = xor_data()
    with pytest.raises(ValueError, match=r"w of shape \(2,\).*got w with 3 entries"):
        ckplot.plot_hidden_layer_panels(
            sigmoid_xor_hidden, X, y, readout=(np.ones(3), 0.0)
        )


# --- loss landscapes ---------------------------------------------------------------


def bowl(w1, w2):
    return (w1 - 1) ** 2 + 4 * (w2 + 0.5) ** 2 + 0.1


def bowl_grad(w1, w2):
    return 2 * (w1 - 1), 8 * (w2 + 0.5)


def test_loss_surface_draws_3d_surface_with_labels(tmp_path):
    ax = ckplot.plot_loss_surface(bowl, (-2, 2), (-2, 2), grid=20, zlabel="MSE")
    save_png(ax.figure, tmp_path)
    assert ax.name == "3d"
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_zlabel()) == ("$w_1$", "$w_2$", "MSE")
    assert ax.get_title() == "MSE surface"
    assert len(ax.figure.axes) == 2  # surface + colourbar


def test_loss_surface_requires_3d_axes():
    _, ax = plt.subplots()
    with pytest.raises(ValueError, match="projection='3d'"):
        ckplot.plot_loss_surface(bowl, (-1, 1), (-1, 1), ax=ax)


def test_loss_surface_requires_a_vectorised_function():
    with pytest.raises(ValueError, match="must be vectorised"):
        ckplot.plot_loss_surface(lambda a, b: 1.0, (-1, 1), (-1, 1), grid=5)


def gd_path(start, lr, steps):
    w = np.array(start, dtype=float)
    out = [w.copy()]
    for _ in range(steps):
        w = w - lr * np.array(bowl_grad(*w))
        out.append(w.copy())
    return np.array(out)


def test_loss_contours_draw_negative_gradient_and_paths_with_legend(tmp_path):
    paths = {"GD lr=0.05": gd_path([-2, 1.5], 0.05, 30), "GD lr=0.2": gd_path([2, -2], 0.2, 10)}
    ax = ckplot.plot_loss_contours(bowl, (-3, 3), (-3, 3), grad=bowl_grad, paths=paths, grid=60)
    save_png(ax.figure, tmp_path)
    quivers = [c for c in ax.collections if isinstance(c, Quiver)]
    assert len(quivers) == 1
    q = quivers[0]
    # arrows point along -grad: at (w1, w2) = (-3, -3) the descent direction is (+, +)
    first = np.argmin(q.X + q.Y)
    assert q.U[first] > 0 and q.V[first] > 0
    np.testing.assert_allclose(np.hypot(q.U, q.V), 1.0)
    assert legend_texts(ax) == [
        r"$-\nabla J$ (direction)", "GD lr=0.05 (30 steps)", "GD lr=0.2 (10 steps)", "start", "end"
    ]
    path_line = [ln for ln in ax.get_lines() if ln.get_label() == "GD lr=0.05 (30 steps)"][0]
    np.testing.assert_allclose(path_line.get_xydata(), paths["GD lr=0.05"])
    assert ax.get_xlabel() == "$w_1$" and ax.figure.axes[1].get_ylabel() == "loss"


def test_loss_contours_log_levels_are_geometric():
    ax = ckplot.plot_loss_contours(bowl, (-3, 3), (-3, 3), levels=10, grid=40, log_levels=True)
    filled = [c for c in ax.collections if isinstance(c, ContourSet) and c.filled][0]
    ratios = filled.levels[1:] / filled.levels[:-1]
    np.testing.assert_allclose(ratios, ratios[0])


def test_loss_contours_log_levels_reject_negative_loss():
    with pytest.raises(ValueError, match="log_levels=True needs a positive loss"):
        ckplot.plot_loss_contours(lambda a, b: a + b, (-1, 1), (-1, 1), log_levels=True, grid=5)


def test_plot_paths_marks_start_and_end_of_each_path():
    _, ax = plt.subplots()
    path = gd_path([-2, 1], 0.1, 5)
    ckplot.plot_paths({"GD": path}, ax=ax)
    starts = [ln for ln in ax.get_lines() if ln.get_marker() == "o" and len(ln.get_xdata()) == 1]
    ends = [ln for ln in ax.get_lines() if ln.get_marker() == "*" and len(ln.get_xdata()) == 1]
    np.testing.assert_allclose(starts[0].get_xydata()[0], path[0])
    np.testing.assert_allclose(ends[0].get_xydata()[0], path[-1])


def test_plot_paths_rejects_wrong_path_shape():
    _, ax = plt.subplots()
    with pytest.raises(ValueError, match=r"path 'GD' must have shape \(steps, 2\).*\(5, 3\)"):
        ckplot.plot_paths({"GD": np.zeros((5, 3))}, ax=ax)


# --- training curves ---------------------------------------------------------------


HISTORY = {
    "loss": [1.0, 0.6, 0.4, 0.3, 0.25, 0.2],
    "accuracy": [0.5, 0.7, 0.8, 0.85, 0.88, 0.9],
    "val_loss": [1.1, 0.7, 0.5, 0.45, 0.5, 0.6],
    "val_accuracy": [0.45, 0.65, 0.75, 0.8, 0.79, 0.78],
}


def test_plot_history_one_panel_per_metric_with_train_and_validation(tmp_path):
    fig = ckplot.plot_history(HISTORY)
    save_png(fig, tmp_path)
    assert len(fig.axes) == 2
    ax_loss, ax_acc = fig.axes
    assert ax_loss.get_ylabel() == "loss" and ax_acc.get_ylabel() == "accuracy"
    assert ax_loss.get_xlabel() == "epoch"
    assert legend_texts(ax_loss)[:2] == ["train", "validation"]
    train = [ln for ln in ax_loss.get_lines() if ln.get_label() == "train"][0]
    np.testing.assert_array_equal(train.get_xdata(), np.arange(1, 7))
    np.testing.assert_array_equal(train.get_ydata(), HISTORY["loss"])


def test_plot_history_marks_best_validation_epoch_in_every_panel():
    fig = ckplot.plot_history(HISTORY)
    assert fig.best_epoch == 4  # val_loss is smallest (0.45) at epoch 4
    for ax in fig.axes:
        vlines = [ln for ln in ax.get_lines() if ln.get_label().startswith("best epoch")]
        assert len(vlines) == 1 and list(vlines[0].get_xdata()) == [4, 4]
    notes = [t.get_text() for t in fig.axes[0].texts]
    assert notes == ["best: epoch 4\nval loss = 0.45"]


def test_plot_history_best_max_mode_uses_the_maximum():
    fig = ckplot.plot_history(HISTORY, best="val_accuracy", mode="max")
    assert fig.best_epoch == 4
    assert "val accuracy = 0.8" in fig.axes[1].texts[0].get_text()


def test_plot_history_reads_a_keras_history_object():
    class History:
        history = {"loss": [0.9, 0.5, 0.7]}

    fig = ckplot.plot_history(History())
    assert len(fig.axes) == 1 and fig.best_epoch == 2  # falls back to the training loss


def test_plot_history_best_none_marks_nothing():
    fig = ckplot.plot_history(HISTORY, best=None)
    assert fig.best_epoch is None
    assert not any(ln.get_label().startswith("best") for ax in fig.axes for ln in ax.get_lines())


def test_plot_history_unknown_best_series_raises():
    with pytest.raises(ValueError, match="best='val_auc' is not in the history"):
        ckplot.plot_history(HISTORY, best="val_auc")


def test_plot_history_unknown_metric_lists_available_keys():
    with pytest.raises(ValueError, match="metric 'auc' is not in the history; it has loss"):
        ckplot.plot_history(HISTORY, metrics=["auc"])


def test_plot_history_rejects_non_history():
    with pytest.raises(ValueError, match="Keras History"):
        ckplot.plot_history([0.1, 0.2])


# --- images and evaluation -----------------------------------------------------------


def digit_images(n=12, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)


def test_image_grid_marks_wrong_predictions(tmp_path):
    images = digit_images(12)
    labels = np.arange(12) % 3
    preds = labels.copy()
    preds[[1, 5, 7]] = (preds[[1, 5, 7]] + 1) % 3
    names = ["cat", "dog", "bird"]
    fig = ckplot.plot_image_grid(images, labels, class_names=names, predictions=preds, n=10, ncols=5)
    save_png(fig, tmp_path)
    assert fig.n_wrong == 3
    assert len(fig.axes) == 10
    wrong = [ax for ax in fig.axes if ax.spines["left"].get_visible()]
    assert [ax.get_title() for ax in wrong] == ["bird (dog)", "cat (bird)", "bird (dog)"]
    assert all(ax.spines["top"].get_edgecolor()[:3] == matplotlib.colors.to_rgb("#D55E00")
               for ax in wrong)
    assert "3 of 10 wrong" in fig._suptitle.get_text()
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array(), images[0])


def test_image_grid_accepts_flat_rows_and_probabilities():
    images = digit_images(6).reshape(6, 784)
    labels = np.array([0, 1, 2, 0, 1, 2])
    probs = np.eye(3)[[0, 1, 2, 0, 1, 1]]
    fig = ckplot.plot_image_grid(images, labels, predictions=probs, ncols=3)
    assert fig.n_wrong == 1 and len(fig.axes) == 6
    assert fig.axes[0].images[0].get_array().shape == (28, 28)


def test_image_grid_rejects_label_count_mismatch():
    with pytest.raises(ValueError, match="there are 4 images but 3 labels"):
        ckplot.plot_image_grid(digit_images(4), np.zeros(3))


def test_image_grid_rejects_non_square_flat_rows():
    with pytest.raises(ValueError, match="not a square number"):
        ckplot.plot_image_grid(np.zeros((2, 10)))


Y_TRUE = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2, 1])
Y_PRED = np.array([0, 1, 1, 1, 1, 2, 0, 2, 1, 0])


def test_confusion_matrix_counts_true_rows_predicted_columns():
    cm = ckplot.confusion_matrix(Y_TRUE, Y_PRED)
    np.testing.assert_array_equal(cm, [[1, 2, 0], [1, 2, 0], [1, 1, 2]])
    assert cm.sum() == len(Y_TRUE)


def test_confusion_matrix_argmaxes_probabilities_and_pads_classes():
    cm = ckplot.confusion_matrix([0, 1], np.array([[0.9, 0.1], [0.2, 0.8]]), n_classes=4)
    np.testing.assert_array_equal(cm, np.diag([1, 1, 0, 0]))


def test_confusion_matrix_rejects_label_beyond_n_classes():
    with pytest.raises(ValueError, match="contain class 2 but n_classes=2"):
        ckplot.confusion_matrix([0, 2], [0, 1], n_classes=2)


def test_confusion_matrix_rejects_length_mismatch():
    with pytest.raises(ValueError, match="y_true has 2 labels but y_pred has 3"):
        ckplot.confusion_matrix([0, 1], [0, 1, 1])


def test_most_confused_pairs_orders_by_count_then_class():
    cm = np.array([[50, 3, 9], [7, 40, 0], [3, 1, 30]])
    pairs = ckplot.most_confused_pairs(cm, ["a", "b", "c"], k=4)
    assert pairs == [("a", "c", 9), ("b", "a", 7), ("a", "b", 3), ("c", "a", 3)]


def test_most_confused_pairs_leaves_out_zero_counts():
    assert ckplot.most_confused_pairs(np.diag([5, 5]), k=5) == []


def test_plot_confusion_matrix_annotates_counts(tmp_path):
    ax = ckplot.plot_confusion_matrix(Y_TRUE, Y_PRED, class_names=["a", "b", "c"])
    save_png(ax.figure, tmp_path)
    np.testing.assert_array_equal(ax.images[0].get_array(), [[1, 2, 0], [1, 2, 0], [1, 1, 2]])
    texts = [t.get_text() for t in ax.texts]
    assert texts == ["1", "2", "0", "1", "2", "0", "1", "1", "2"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("predicted class", "true class")
    assert "accuracy 0.500" in ax.get_title()


def test_plot_confusion_matrix_normalised_rows_sum_to_one():
    ax = ckplot.plot_confusion_matrix(Y_TRUE, Y_PRED, normalize=True)
    values = np.asarray(ax.images[0].get_array())
    np.testing.assert_allclose(values.sum(axis=1), 1.0)
    assert ax.texts[1].get_text() == "0.67"


def test_plot_class_balance_bars_equal_counts(tmp_path):
    y = np.array([0, 0, 1, 2, 2, 2])
    ax = ckplot.plot_class_balance(y, class_names=["x", "y", "z", "w"])
    save_png(ax.figure, tmp_path)
    heights = [p.get_height() for p in ax.patches]
    assert heights == [2, 1, 3, 0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["x", "y", "z", "w"]
    assert ax.get_ylabel() == "number of examples"
    assert legend_texts(ax) == ["mean (1.5 per class)", "examples"]


def test_plot_class_balance_rejects_too_few_names():
    with pytest.raises(ValueError, match="contains class 2 but class_names has only 2 names"):
        ckplot.plot_class_balance([0, 1, 2], class_names=["a", "b"])


# --- per-layer views ------------------------------------------------------------------


def relu_net_activations(n_layers, scale, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(200, 50))
    acts = []
    for _ in range(n_layers):
        x = np.maximum(0, x @ (rng.normal(size=(50, 50)) * scale))
        acts.append(x)
    return acts


def test_layer_histograms_one_panel_per_layer_with_std(tmp_path):
    acts = relu_net_activations(4, np.sqrt(2 / 50))
    fig = ckplot.plot_layer_histograms(acts)
    save_png(fig, tmp_path)
    assert len(fig.axes) == 4
    assert [ax.get_title() for ax in fig.axes] == ["layer 1", "layer 2", "layer 3", "layer 4"]
    assert f"std {np.std(acts[2]):.2g}" in fig.axes[2].texts[0].get_text()
    assert fig.axes[-1].get_xlabel() == "activation value"


def test_layer_histograms_thin_out_deep_nets_keeping_first_and_last():
    acts = {f"dense_{i}": a for i, a in enumerate(relu_net_activations(25, np.sqrt(1 / 50)))}
    fig = ckplot.plot_layer_histograms(acts, kind="gradients", max_layers=6)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert len(titles) == 6 and titles[0] == "dense_0" and titles[-1] == "dense_24"
    assert "(6 of 25 layers shown)" in fig._suptitle.get_text()


def test_layer_histograms_reject_unknown_kind():
    with pytest.raises(ValueError, match="kind must be 'activations' or 'gradients'"):
        ckplot.plot_layer_histograms([np.ones(3)], kind="weights")


def test_layer_stats_draws_one_line_per_setting_on_log_axis(tmp_path):
    stats = {"N(0, 1/n)": [0.5, 0.1, 0.02], "He": [1.0, 0.98, 1.02]}
    ax = ckplot.plot_layer_stats(stats)
    save_png(ax.figure, tmp_path)
    assert ax.get_yscale() == "log"
    assert legend_texts(ax) == ["N(0, 1/n)", "He"]
    he = [ln for ln in ax.get_lines() if ln.get_label() == "He"][0]
    np.testing.assert_array_equal(he.get_xdata(), [1, 2, 3])
    np.testing.assert_array_equal(he.get_ydata(), [1.0, 0.98, 1.02])
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("layer", "standard deviation")


def test_layer_stats_rejects_empty_dict():
    with pytest.raises(ValueError, match="non-empty dict"):
        ckplot.plot_layer_stats({})


def test_no_plot_function_calls_show(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("plt.show() must not be called")

    monkeypatch.setattr(plt, "show", fail)
    X, y = xor_data()
    ckplot.plot_activations(["tanh"])
    ckplot.plot_decision_boundary(lambda x: act.sigmoid(x[:, 0]), X, y, grid=10)
    ckplot.plot_history(HISTORY)
    ckplot.plot_confusion_matrix(Y_TRUE, Y_PRED)


def test_axes_passed_in_are_the_axes_returned():
    fig, axes = plt.subplots(1, 3)
    X, y = xor_data()
    assert ckplot.plot_data_2d(X, y, ax=axes[0]) is axes[0]
    assert ckplot.plot_confusion_matrix(Y_TRUE, Y_PRED, ax=axes[1]) is axes[1]
    assert ckplot.plot_class_balance(Y_TRUE, ax=axes[2]) is axes[2]


@pytest.mark.parametrize("n_epochs", [1, 2, 40])
def test_metric_panel_has_whole_epoch_ticks_even_after_one_epoch(n_epochs):
    """The static curves share the live plot's tick rule: no "epoch 0.96" for one epoch."""
    from coursekit.plot.curves import draw_metric_panel

    fig, ax = plt.subplots()
    epochs = list(range(1, n_epochs + 1))
    draw_metric_panel(ax, "loss", {"loss": [1.0 / e for e in epochs]}, {"loss": epochs}, "epoch")
    fig.canvas.draw()
    lo, hi = ax.get_xlim()
    ticks = [t for t in ax.get_xticks() if lo <= t <= hi]
    assert ticks and all(float(t).is_integer() for t in ticks), ticks
    plt.close(fig)
