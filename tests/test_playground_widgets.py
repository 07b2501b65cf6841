"""The playground's controls: built without a browser, each control wired to the state.

Runs against whatever ipywidgets is installed (8 in the dev environment; the
same file passes under 7.7.1, Colab's version).
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

pytest.importorskip("ipywidgets")
pytest.importorskip("matplotlib")

from coursekit.playground import Playground  # noqa: E402


@pytest.fixture
def ui():
    pg = Playground.from_preset("xor", seed=0)
    pg.widget()
    return pg._ui


def _tick(ui, n=1):
    for _ in range(n):
        ui.play.value = ui.play.value + 1
        time.sleep(0.04)  # as far apart as browser ticks (a tick right after another is skipped)


def test_the_box_holds_every_control_and_button(ui):
    import ipywidgets as w

    assert isinstance(ui.box, w.VBox)
    assert set(ui.controls) == {"dataset", "noise", "n_points", "train_fraction", "hidden_layers",
                                "units", "activation", "learning_rate", "batch_size", "l2",
                                "optimizer", "seed"}
    assert isinstance(ui.play, w.Play) and ui.play.max > 10**6
    assert ui.step_button.description == "one step" and ui.reset_button.description == "reset"
    assert ui.image.value[:8] == b"\x89PNG\r\n\x1a\n"
    assert ui.controls["hidden_layers"].max == 4 and ui.controls["units"].max == 8
    assert [o[1] for o in ui.controls["dataset"].options] == ["xor", "circles", "spirals", "blobs"]
    assert list(ui.controls["optimizer"].options) == ["SGD", "momentum", "Adam"]


@pytest.mark.parametrize(("name", "value"), [
    ("dataset", "spirals"), ("noise", 0.5), ("n_points", 300), ("train_fraction", 0.7),
    ("hidden_layers", 3), ("units", 6), ("activation", "relu"), ("learning_rate", 0.1),
    ("batch_size", 25), ("l2", 0.01), ("optimizer", "Adam"), ("seed", 5),
])
def test_each_control_changes_the_playground(ui, name, value):
    ui.pg.run(2)
    draws = ui.n_redraws
    ui.controls[name].value = value
    assert getattr(ui.pg.config, name) == value
    assert ui.n_redraws == draws + 1  # the picture follows the knob at once
    restarts = name not in {"learning_rate", "batch_size", "l2", "optimizer"}
    assert (ui.pg.step_count == 0) == restarts


def test_structure_controls_change_the_network(ui):
    ui.controls["hidden_layers"].value = 3
    ui.controls["units"].value = 2
    assert ui.pg.net.sizes == [2, 2, 2, 2, 1]
    ui.controls["activation"].value = "sigmoid"
    assert ui.pg.net.activation == "sigmoid"
    ui.controls["learning_rate"].value = 0.3
    assert ui.pg.optimizer.learning_rate == 0.3


def test_play_ticks_train_and_the_picture_changes(ui):
    first = ui.image.value
    ui.min_interval = 0.0
    _tick(ui, 3)
    assert ui.pg.step_count >= 3
    assert ui.image.value != first
    # a tick arriving right after the last one (queued while training) is skipped; "right
    # after" is 0.3 intervals: a 60 s interval makes it hold even if the process is
    # descheduled between the two lines below on a loaded machine (0.03 s at the default 100 ms)
    steps = ui.pg.step_count
    ui.play.interval = 60_000
    ui._last_tick_end = time.monotonic()
    ui.play.value += 1
    assert ui.pg.step_count == steps
    # "stop" rewinds the counter: no training
    ui.play.value = 0
    assert ui.pg.step_count == steps


def test_redraws_are_throttled_while_playing(ui):
    ui.min_interval = 60.0
    ui.redraw()
    draws = ui.n_redraws
    _tick(ui, 3)
    assert ui.n_redraws == draws and ui.pg.step_count >= 3


def test_step_reset_and_pause(ui):
    ui.step_button.click()
    ui.step_button.click()
    assert ui.pg.step_count == 2
    ui.reset_button.click()
    assert ui.pg.step_count == 0
    trait = "playing" if ui.play.has_trait("playing") else "_playing"
    setattr(ui.play, trait, True)  # what the browser's play button does
    assert ui.playing
    ui.pause()
    assert not ui.playing and not getattr(ui.play, trait)


def test_divergence_pauses_and_says_so(ui):
    ui.controls["activation"].value = "linear"
    ui.controls["hidden_layers"].value = 2
    ui.controls["batch_size"].value = 1
    ui.controls["learning_rate"].value = 10.0
    trait = "playing" if ui.play.has_trait("playing") else "_playing"
    setattr(ui.play, trait, True)
    for _ in range(40):
        if ui.pg.diverged:
            break
        _tick(ui)
    assert ui.pg.diverged and not ui.playing
    assert "diverged" in ui.status.value


def test_choosing_a_preset_sets_the_controls(ui):
    ui.preset.value = "overfitting"
    c = ui.pg.config
    assert (c.train_fraction, c.hidden_layers, c.activation, c.optimizer) == (0.1, 3, "relu", "Adam")
    assert ui.controls["train_fraction"].value == 0.1
    assert ui.controls["optimizer"].value == "Adam"
    assert ui.controls["units"].value == 8
    assert ui.pg.step_count == 0


def test_an_error_in_a_callback_shows_in_the_status_line(ui, monkeypatch):
    def boom():
        raise RuntimeError("kaputt")

    monkeypatch.setattr(ui.pg, "step", boom)
    ui.step_button.click()
    assert "RuntimeError: kaputt" in ui.status.value


def test_smoke_module_exits_0():
    out = subprocess.run([sys.executable, "-m", "coursekit.playground.smoke"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "12 controls" in out.stdout
