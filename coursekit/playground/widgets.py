"""The playground's controls, in ipywidgets 7.7 (Colab) and 8 (JupyterLab 4).

How Play works without blocking the kernel: an ``ipywidgets.Play`` widget
counts up in the browser every ``interval`` ms; each tick reaches the kernel as
an ordinary widget message, and its handler trains for a short time budget
and redraws at most every ``min_interval`` seconds (like ``LivePlot``). Between
ticks the kernel is idle, so slider changes, other cells and the pause button
are handled at once. No thread and no asyncio task is involved: background
threads cannot update widgets in Colab (googlecolab/colabtools#3373), and
ipykernel 7 does not run asyncio tasks after a cell finishes
(ipython/ipykernel#1510).

Version differences handled here: the Play widget's "is playing" trait is
``playing`` in ipywidgets 8 and ``_playing`` in 7.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from coursekit.playground.core import OPTIMIZER_NAMES
from coursekit.playground.data import DATASETS
from coursekit.playground.net import ACTIVATION_NAMES
from coursekit.playground.presets import PRESETS

if TYPE_CHECKING:  # pragma: no cover
    from coursekit.playground.core import Playground

__all__ = ["PlaygroundUI", "widgets_available"]

LEARNING_RATES = (0.0001, 0.001, 0.003, 0.01, 0.03, 0.05, 0.1, 0.3, 1.0, 3.0, 10.0)
L2_RATES = (0.0, 0.0001, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)


def widgets_available() -> bool:
    """True when ipywidgets can be imported."""
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


def _playing_trait(play: Any) -> str:
    """'playing' (ipywidgets 8) or '_playing' (ipywidgets 7)."""
    return "playing" if play.has_trait("playing") else "_playing"


def _with(options: tuple[float, ...], value: float) -> list[float]:
    """The menu ``options`` plus ``value`` (a preset may use one that is not listed)."""
    return sorted({*options, float(value)})


class PlaygroundUI:
    """The widget box of a :class:`Playground`: controls, buttons, status line and figure.

    Parameters
    ----------
    pg : Playground
        The playground the controls change.
    interval : int
        Milliseconds between two ticks of the Play timer.
    min_interval : float
        Minimum seconds between two redraws while playing.
    """

    def __init__(self, pg: Playground, interval: int = 100, min_interval: float = 0.25) -> None:
        import ipywidgets as w

        from coursekit.playground.view import PlaygroundView

        self.pg = pg
        self.view = PlaygroundView(pg)
        self.min_interval = float(min_interval)
        self.n_redraws = 0
        self._last_draw = -float("inf")
        self._last_tick_end = -float("inf")
        self._syncing = False
        c = pg.config
        wide = {"description_width": "110px"}
        lay = w.Layout(width="290px")

        def dd(desc: str, options: Any, value: Any) -> Any:
            return w.Dropdown(description=desc, options=options, value=value, style=wide, layout=lay)

        def islider(desc: str, lo: int, hi: int, value: int, step: int = 1) -> Any:
            return w.IntSlider(description=desc, min=lo, max=hi, step=step, value=value,
                               style=wide, layout=lay, continuous_update=False)

        def fslider(desc: str, lo: float, hi: float, value: float, step: float) -> Any:
            return w.FloatSlider(description=desc, min=lo, max=hi, step=step, value=value,
                                 style=wide, layout=lay, continuous_update=False)

        units = max(c.layer_sizes(), default=int(c.units) if isinstance(c.units, int) else 4)
        self.controls: dict[str, Any] = {
            "dataset": dd("data set", [(v, k) for k, v in DATASETS.items()], c.dataset),
            "noise": fslider("noise", 0.0, 1.0, float(c.noise), 0.05),
            "n_points": islider("points", 20, 1000, int(c.n_points), 10),
            "train_fraction": fslider("train share", 0.1, 0.9, float(c.train_fraction), 0.05),
            "hidden_layers": islider("hidden layers", 0, 4, int(c.hidden_layers)),
            "units": islider("units per layer", 1, 8, int(units)),
            "activation": dd("activation", list(ACTIVATION_NAMES), c.activation),
            "learning_rate": dd("learning rate", _with(LEARNING_RATES, c.learning_rate),
                                float(c.learning_rate)),
            "batch_size": islider("batch size", 1, 100, int(c.batch_size)),
            "l2": dd("L2 (weight decay)", _with(L2_RATES, c.l2), float(c.l2)),
            "optimizer": dd("optimizer", list(OPTIMIZER_NAMES), c.optimizer),
            "seed": w.BoundedIntText(description="seed", min=0, max=10**6, value=int(c.seed),
                                     style=wide, layout=lay),
        }
        self.preset = dd("preset", [("(none)", "")] + [(p.title, k) for k, p in PRESETS.items()], "")
        for name, ctl in self.controls.items():
            ctl.observe(self._on_control(name), names="value")
        self.preset.observe(self._on_preset, names="value")

        self.play = w.Play(value=0, min=0, max=10**9, step=1, interval=int(interval),
                           show_repeat=False, description="play")
        self.play.observe(self._on_tick, names="value")
        self.play.observe(self._on_playing, names=_playing_trait(self.play))
        self.step_button = w.Button(description="one step", tooltip="train one step (epoch)")
        self.reset_button = w.Button(description="reset", tooltip="new initial weights, step 0")
        self.step_button.on_click(self._on_step)
        self.reset_button.on_click(self._on_reset)
        self.status = w.HTML(value="")
        self.image = w.Image(format="png", value=self.view.png(),
                             layout=w.Layout(width="100%", max_width="1000px"))
        self.n_redraws += 1
        self._update_status()
        ctl = list(self.controls.values())
        column = w.Layout(margin="0 12px 0 0")
        self.box = w.VBox([
            w.HBox([self.play, self.step_button, self.reset_button, self.preset]),
            w.HBox([w.VBox(ctl[:4], layout=column), w.VBox(ctl[4:8], layout=column),
                    w.VBox(ctl[8:], layout=column)]),
            self.status,
            self.image,
        ])

    # -- helpers ---------------------------------------------------------------------
    @property
    def playing(self) -> bool:
        """Whether the Play timer runs."""
        return bool(getattr(self.play, _playing_trait(self.play)))

    def pause(self) -> None:
        """Stop the Play timer (the browser stops ticking; both ipywidgets 7 and 8)."""
        setattr(self.play, _playing_trait(self.play), False)

    def redraw(self, force: bool = True) -> bool:
        """Redraw the figure now (``force``) or if ``min_interval`` has passed; True if drawn."""
        now = time.monotonic()
        if not force and now - self._last_draw < self.min_interval:
            return False
        self.image.value = self.view.png()
        self.n_redraws += 1
        self._last_draw = time.monotonic()
        self._update_status()
        return True

    def _update_status(self, error: str | None = None) -> None:
        s = self.pg.history
        text = (f"step {self.pg.step_count} &nbsp; train loss {s['train_loss'][-1]:.4f} &nbsp; "
                f"test loss {s['test_loss'][-1]:.4f} &nbsp; test accuracy {s['test_accuracy'][-1]:.1%}")
        if self.pg.diverged:
            text += " &nbsp; <b>diverged: the loss or a weight is no longer finite; press reset</b>"
        if error:
            text += f" &nbsp; <b>error: {error}</b>"
        self.status.value = text

    def _sync_controls(self) -> None:
        """Show the playground's configuration in the controls (after a preset)."""
        c = self.pg.config
        self._syncing = True
        try:
            for name, ctl in self.controls.items():
                value = getattr(c, name)
                if name == "units":
                    value = max(c.layer_sizes(), default=ctl.value)
                if name in ("learning_rate", "l2"):
                    base = LEARNING_RATES if name == "learning_rate" else L2_RATES
                    ctl.options = _with(base, value)
                    value = float(value)
                ctl.value = value
        finally:
            self._syncing = False

    # -- handlers --------------------------------------------------------------------
    def _guard(self, fn: Any) -> None:
        try:
            fn()
        except Exception as exc:  # shown in the status line: a widget callback has no traceback
            self.pause()
            self._update_status(error=f"{type(exc).__name__}: {exc}")

    def _on_control(self, name: str) -> Any:
        def handler(change: dict[str, Any]) -> None:
            if self._syncing:
                return
            self._guard(lambda: (self.pg.set(**{name: change["new"]}), self.redraw()))

        return handler

    def _on_preset(self, change: dict[str, Any]) -> None:
        if not change["new"]:
            return

        def apply() -> None:
            import dataclasses

            cfg = dataclasses.asdict(PRESETS[change["new"]].config)
            cfg["seed"] = self.pg.config.seed
            self.pg.set(**cfg)
            self.pg.reset()
            self._sync_controls()
            self.redraw()

        self._guard(apply)

    def _on_step(self, _button: Any = None) -> None:
        self._guard(lambda: (self.pg.step(), self.redraw()))

    def _on_reset(self, _button: Any = None) -> None:
        self._guard(lambda: (self.pg.reset(new_data=False), self.redraw()))

    def _on_playing(self, change: dict[str, Any]) -> None:
        if not change["new"]:
            self._guard(self.redraw)  # paused: show the final state

    def _on_tick(self, change: dict[str, Any]) -> None:
        """One Play tick: train for up to ~60% of the tick interval, then maybe redraw."""
        if change["new"] <= change["old"]:  # "stop" rewinds the counter: nothing to train
            return
        start = time.monotonic()
        if start - self._last_tick_end < 0.3 * self.play.interval / 1000:
            return  # a tick that queued up while the last one ran: skip it, stay responsive

        def work() -> None:
            budget = 0.6 * self.play.interval / 1000
            while True:
                self.pg.step()
                if self.pg.diverged or time.monotonic() - start >= budget:
                    break
            if self.pg.diverged:
                self.pause()
                self.redraw()
            else:
                self.redraw(force=False)

        self._guard(work)
        self._last_tick_end = time.monotonic()
