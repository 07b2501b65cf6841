"""Tests of coursekit.plot that need a kernel or Keras: LivePlot, its callback, Keras models."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.contour import ContourSet  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from coursekit import plot as ckplot  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "live_plot.ipynb"


def test_import_coursekit_does_not_import_matplotlib_and_plot_does_not_import_tensorflow():
    code = (
        "import sys, coursekit\n"
        "assert 'matplotlib' not in sys.modules, 'import coursekit loaded matplotlib'\n"
        "import coursekit.plot\n"
        "bad = [m for m in ('tensorflow', 'keras') if m in sys.modules]\n"
        "assert not bad, f'import coursekit.plot loaded {bad}'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_headless_liveplot_records_without_drawing_until_finish(monkeypatch):
    monkeypatch.setenv("COURSEKIT_HEADLESS", "1")
    live = ckplot.LivePlot(("loss", "accuracy"), min_interval=0.0)
    assert live.headless
    for step in range(1, 201):
        live.update(step, loss=1 / step, val_loss=1.5 / step, accuracy=step / 200)
    assert live.n_draws == 0 and live.figure is None
    fig = live.finish()
    assert isinstance(fig, Figure) and live.n_draws == 1
    ax_loss, ax_acc = fig.axes
    lines = {ln.get_label(): ln for ln in ax_loss.get_lines()}
    assert set(lines) == {"train", "validation"}
    np.testing.assert_allclose(lines["validation"].get_ydata(), 1.5 / np.arange(1, 201))
    assert ax_acc.get_ylabel() == "accuracy" and ax_loss.get_xlabel() == "epoch"
    assert ax_loss.get_title() == "loss: train 0.005, val 0.0075"


def test_liveplot_without_kernel_is_headless_even_if_env_says_live(monkeypatch):
    monkeypatch.setenv("COURSEKIT_HEADLESS", "0")
    assert ckplot.LivePlot().headless  # no IPython kernel in a pytest process


def test_liveplot_context_manager_finishes_and_adds_panels_for_new_names(monkeypatch):
    monkeypatch.setenv("COURSEKIT_HEADLESS", "1")
    with ckplot.LivePlot(("loss",)) as live:
        live.update(1, loss=0.9, grad_norm=3.0)
        live.update(2, loss=np.float32(0.5), grad_norm=np.array(2.0))
    assert live.figure is not None and len(live.figure.axes) == 2
    assert [ax.get_ylabel() for ax in live.figure.axes] == ["loss", "grad norm"]
    assert live.finish() is live.figure  # finishing twice returns the same figure


def test_liveplot_update_after_finish_raises():
    live = ckplot.LivePlot()
    live.update(1, loss=1.0)
    live.finish()
    with pytest.raises(RuntimeError, match="finished"):
        live.update(2, loss=0.5)


def test_liveplot_update_rejects_arrays_and_empty_calls():
    live = ckplot.LivePlot()
    with pytest.raises(ValueError, match="loss must be a single number"):
        live.update(1, loss=[0.1, 0.2])
    with pytest.raises(ValueError, match="give at least one value"):
        live.update(1)


def test_liveplot_rejects_negative_interval():
    with pytest.raises(ValueError, match="min_interval must be >= 0"):
        ckplot.LivePlot(min_interval=-1)


def run_fixture(env: dict[str, str], monkeypatch) -> tuple[object, dict[str, int]]:
    """Execute the fixture notebook in a python3 kernel; count display messages."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    for key, value in env.items():
        monkeypatch.setenv(key, value)  # the kernel inherits the test's environment
    counts = {"display_data": 0, "update_display_data": 0}

    class CountingClient(nbclient.NotebookClient):
        def process_message(self, msg, cell, cell_index):
            if msg["msg_type"] in counts:
                counts[msg["msg_type"]] += 1
            return super().process_message(msg, cell, cell_index)

    nb = nbformat.read(FIXTURE, as_version=4)
    client = CountingClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(ROOT)}})
    client.execute()
    return nb, counts


def outputs_of(nb):
    return [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]


@pytest.mark.timeout(600)  # a kernel start under load; the test asserts no timing
def test_fixture_notebook_headless_shows_only_the_final_figure(monkeypatch):
    nb, counts = run_fixture(
        {"COURSEKIT_HEADLESS": "1", "LIVE_STEPS": "30", "LIVE_MIN_INTERVAL": "0"}, monkeypatch
    )
    outs = outputs_of(nb)
    images = [o for o in outs if o.output_type == "display_data" and "image/png" in o.data]
    assert len(images) == 1
    assert counts == {"display_data": 1, "update_display_data": 0}
    text = "".join(o.get("text", "") for o in outs if o.output_type == "stream")
    assert "headless=True draws=1 axes=2" in text


# Throttling is checked where its outcome cannot depend on the machine's speed: in the
# kernel at the two extremes (min_interval 0: every update redraws; 1000 s: only the
# first update and the final one), and in between with a fake clock.
@pytest.mark.timeout(600)  # a kernel start under load; the test asserts no timing
@pytest.mark.parametrize(("min_interval", "updates"), [("1000", 0), ("0", 12)])
def test_fixture_notebook_live_updates_in_place(monkeypatch, min_interval, updates):
    steps = 12
    nb, counts = run_fixture(
        {"COURSEKIT_HEADLESS": "0", "LIVE_STEPS": str(steps), "LIVE_PAUSE": "0",
         "LIVE_MIN_INTERVAL": min_interval},
        monkeypatch,
    )
    outs = outputs_of(nb)
    images = [o for o in outs if o.output_type == "display_data" and "image/png" in o.data]
    assert len(images) == 1  # one figure, updated in place
    # first update: display; then `updates` redraws in the loop after the first
    # (every one, or none), and the final one by finish().
    expected_updates = (steps - 1 if updates else 0) + 1
    assert counts == {"display_data": 1, "update_display_data": expected_updates}
    text = "".join(o.get("text", "") for o in outs if o.output_type == "stream")
    assert f"headless=False draws={1 + expected_updates} axes=2" in text


def test_liveplot_redraws_at_most_once_per_min_interval_with_a_fake_clock(monkeypatch):
    from coursekit.plot import live as live_mod

    monkeypatch.setattr(live_mod, "is_headless", lambda: False)
    clock = {"t": 100.0}
    monkeypatch.setattr(live_mod.time, "monotonic", lambda: clock["t"])
    plot = live_mod.LivePlot(("loss",), min_interval=1.0)
    shown = []
    monkeypatch.setattr(plot, "_show", lambda: shown.append(clock["t"]))
    for step in range(1, 41):  # one update every 0.25 s of fake time
        plot.update(step, loss=1.0 / step)
        clock["t"] += 0.25
    assert shown == [100.0 + 0.25 * k for k in range(0, 40, 4)]  # 10 redraws, 1 s apart


@pytest.mark.parametrize("n_epochs", [1, 2, 3, 7])
def test_liveplot_epoch_ticks_are_whole_numbers_even_after_one_epoch(monkeypatch, n_epochs):
    monkeypatch.setenv("COURSEKIT_HEADLESS", "1")
    live = ckplot.LivePlot(("loss",))
    for epoch in range(1, n_epochs + 1):
        live.update(epoch, loss=1.0 / epoch, val_loss=1.1 / epoch)
    ax = live.finish().axes[0]
    ax.figure.canvas.draw()
    lo, hi = ax.get_xlim()
    ticks = [t for t in ax.get_xticks() if lo <= t <= hi]
    assert ticks and all(float(t).is_integer() for t in ticks), ticks
    assert 1 in ticks


def test_liveplot_keeps_fractional_ticks_for_fractional_steps(monkeypatch):
    monkeypatch.setenv("COURSEKIT_HEADLESS", "1")
    live = ckplot.LivePlot(("loss",), xlabel="epoch")
    for step in (0.5, 1.0, 1.5):
        live.update(step, loss=step)
    ax = live.finish().axes[0]
    ax.figure.canvas.draw()
    assert any(not float(t).is_integer() for t in ax.get_xticks())


@pytest.mark.timeout(600)  # TF start-up under load; nothing here is timed
def test_live_keras_callback_plots_loss_and_validation_of_a_tiny_model(monkeypatch):
    monkeypatch.setenv("COURSEKIT_HEADLESS", "1")
    keras = pytest.importorskip("keras")
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(24, 2)).astype("float32")
    y = (x[:, 0] > 0).astype("float32")
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"], run_eagerly=True)
    cb = ckplot.live_keras_callback(title="tiny model")
    assert isinstance(cb, keras.callbacks.Callback)
    history = model.fit(x, y, epochs=2, batch_size=8, validation_split=0.25, verbose=0,
                        callbacks=[cb])
    fig = cb.figure
    assert isinstance(fig, Figure) and cb.live.n_draws == 1
    assert [ax.get_ylabel() for ax in fig.axes] == ["loss", "accuracy"]
    lines = {ln.get_label(): ln for ln in fig.axes[0].get_lines()}
    np.testing.assert_allclose(lines["train"].get_ydata(), history.history["loss"], rtol=1e-6)
    np.testing.assert_allclose(lines["validation"].get_ydata(), history.history["val_loss"],
                               rtol=1e-6)
    np.testing.assert_array_equal(lines["train"].get_xdata(), [1, 2])


@pytest.mark.timeout(600)  # TF start-up under load; nothing here is timed
def test_decision_boundary_of_a_real_keras_model_matches_its_predictions():
    keras = pytest.importorskip("keras")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, activation="sigmoid")])
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    ax = ckplot.plot_decision_boundary(model, X, [0, 1, 1, 0], grid=30, padding=0.5)
    filled = [c for c in ax.collections if isinstance(c, ContourSet) and c.filled]
    assert len(filled) == 1
    # the 0.5 contour lies where the model's probability is 0.5
    line = [c for c in ax.collections if isinstance(c, ContourSet) and not c.filled][0]
    verts = np.concatenate([p.vertices for p in line.get_paths()])
    np.testing.assert_allclose(model.predict(verts, verbose=0)[:, 0], 0.5, atol=0.02)
