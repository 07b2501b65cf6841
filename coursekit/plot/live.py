"""Live training curves in JupyterLab and Colab; the final figure when headless."""

from __future__ import annotations

import io
import os
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from coursekit.plot.curves import draw_metric_panel, metric_groups


def _in_kernel() -> bool:
    """True when running inside a Jupyter kernel (JupyterLab, Colab, nbclient)."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython ships with Jupyter
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def is_headless() -> bool:
    """True when live redraws are off: ``COURSEKIT_HEADLESS=1`` or no Jupyter kernel."""
    if os.environ.get("COURSEKIT_HEADLESS", "").strip().lower() in {"1", "true", "yes"}:
        return True
    return not _in_kernel()


def _png(fig: Figure) -> Any:
    from IPython.display import Image

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=fig.dpi)
    return Image(data=buf.getvalue(), format="png")


class LivePlot:
    """Training curves that redraw in place while a model trains.

    In JupyterLab and Colab the figure is shown once and then updated in place
    (``display(..., display_id=True)`` + ``handle.update``), at most once every
    ``min_interval`` seconds. When headless (``COURSEKIT_HEADLESS=1``, or no
    Jupyter kernel, e.g. a script or CI) ``update`` only records the values and
    the figure is drawn once, by ``finish()``, so training is not slowed down.

    Parameters
    ----------
    metrics : sequence of str, optional
        Metric names, one panel each ("loss", "accuracy", ...); a "val_" series
        joins its metric's panel. Values passed to ``update`` under other names
        get panels of their own. None: one panel per name seen.
    min_interval : float
        Minimum number of seconds between two redraws.
    title : str, optional
        Figure title.

    Examples
    --------
    >>> with LivePlot(("loss", "accuracy")) as live:     # doctest: +SKIP
    ...     for epoch in range(1, 11):
    ...         loss, acc = train_one_epoch()
    ...         live.update(epoch, loss=loss, accuracy=acc)
    """

    def __init__(
        self,
        metrics: Sequence[str] | None = ("loss",),
        *,
        min_interval: float = 1.0,
        title: str | None = None,
        xlabel: str = "epoch",
    ) -> None:
        if isinstance(metrics, str):
            metrics = (metrics,)
        if min_interval < 0:
            raise ValueError(f"LivePlot: min_interval must be >= 0 seconds, got {min_interval}.")
        self.metrics: list[str] = list(dict.fromkeys(metric_groups([], list(metrics or []))))
        self.min_interval = float(min_interval)
        self.title = title
        self.xlabel = xlabel
        self.steps: dict[str, list[float]] = {}
        self.values: dict[str, list[float]] = {}
        self.headless = is_headless()
        self.figure: Figure | None = None
        self.n_draws = 0
        self._handle: Any = None
        self._last_draw = -np.inf
        self._dirty = False
        self._finished = False

    # -- recording -----------------------------------------------------------------
    def update(self, step: float, **values: Any) -> None:
        """Record ``values`` (name=number) at ``step``; redraw if live and due.

        Values may be Python or numpy numbers or 0-d tensors.
        """
        if self._finished:
            raise RuntimeError("LivePlot.update: this plot is finished; create a new LivePlot.")
        if not values:
            raise ValueError("LivePlot.update: give at least one value, e.g. update(step, loss=0.3).")
        step = float(step)
        for name, value in values.items():
            if hasattr(value, "numpy"):
                value = value.numpy()
            try:
                v = float(np.asarray(value).reshape(()))
            except (TypeError, ValueError):
                raise ValueError(
                    f"LivePlot.update: {name} must be a single number, got {value!r}."
                ) from None
            self.steps.setdefault(name, []).append(step)
            self.values.setdefault(name, []).append(v)
        self._dirty = True
        if self.headless:
            return
        now = time.monotonic()
        if now - self._last_draw >= self.min_interval:
            self._show()
            self._last_draw = time.monotonic()

    # -- drawing -------------------------------------------------------------------
    def _groups(self) -> list[str]:
        groups = list(self.metrics)
        for g in metric_groups(list(self.values), None):
            if g not in groups:
                groups.append(g)
        return [g for g in groups if g in self.values or f"val_{g}" in self.values] or groups[:1]

    def draw(self) -> Figure:
        """Draw the recorded values on ``self.figure`` (created on first use) and return it."""
        groups = self._groups()
        if self.figure is None:
            self.figure = Figure(figsize=(min(5.0 * max(len(groups), 1), 16.0), 4.0),
                                 layout="constrained")
        fig = self.figure
        fig.clear()
        if not groups:
            ax = fig.subplots()
            ax.set_title("no values recorded")
            return fig
        n = len(groups)
        fig.set_size_inches(min(5.0 * n, 16.0), 4.0)
        axes = fig.subplots(1, n, squeeze=False)[0]
        for ax, name in zip(axes, groups, strict=True):
            draw_metric_panel(ax, name, self.values, self.steps, self.xlabel)
            if ax.get_lines():
                last = [f"{who} {self.values[k][-1]:.4g}"
                        for k, who in ((name, "train"), (f"val_{name}", "val"))
                        if k in self.values]
                ax.set_title(f"{name.replace('_', ' ')}: " + ", ".join(last), fontsize="medium")
                ax.legend(loc="best", fontsize="small")
        if self.title:
            fig.suptitle(self.title)
        self.n_draws += 1
        self._dirty = False
        return fig

    def _show(self) -> None:
        from IPython.display import display

        image = _png(self.draw())
        if self._handle is None:
            self._handle = display(image, display_id=True)
        else:
            self._handle.update(image)

    def finish(self) -> Figure:
        """Draw the final figure (shown in the notebook) and return it.

        Live: the displayed figure gets its last update. Headless in a kernel:
        the figure is displayed once. Without a kernel nothing is displayed.
        Calling ``finish`` again returns the same figure. Assign the result
        (``fig = live.finish()``) rather than ending a cell with it, or Jupyter
        shows the figure a second time as the cell's value.
        """
        if self._finished and self.figure is not None:
            return self.figure
        self._finished = True
        if _in_kernel() and self.values:
            self._show()
        else:
            self.draw()
        assert self.figure is not None
        return self.figure

    def __enter__(self) -> LivePlot:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if not self._finished:
            self.finish()

    def __repr__(self) -> str:
        n = max((len(v) for v in self.values.values()), default=0)
        mode = "headless" if self.headless else "live"
        return f"LivePlot(metrics={self.metrics}, {n} updates recorded, {mode})"


def live_keras_callback(metrics: Sequence[str] | None = None, **kwargs: Any) -> Any:
    """A Keras callback that feeds the epoch logs of ``model.fit`` into a ``LivePlot``.

    Parameters
    ----------
    metrics : sequence of str, optional
        Metrics to show (default: every metric Keras logs, with its "val_"
        series in the same panel).
    **kwargs
        Passed to ``LivePlot`` (``min_interval``, ``title``).

    Returns
    -------
    keras.callbacks.Callback
        Pass it to ``model.fit(..., callbacks=[cb])``; after training,
        ``cb.live`` is the ``LivePlot`` and ``cb.figure`` the final figure.
    """
    import keras  # imported here: `import coursekit.plot` must not load TensorFlow

    class LivePlotCallback(keras.callbacks.Callback):
        """Updates a LivePlot at the end of every epoch; finishes it after training."""

        def __init__(self) -> None:
            super().__init__()
            self.live = LivePlot(metrics, **kwargs)
            self.figure: Figure | None = None
            self._epochs_before = 0

        def on_train_begin(self, logs: Any = None) -> None:
            if self.live._finished:  # fit() called again: continue in a fresh plot
                old = self.live
                self.live = LivePlot(metrics, **kwargs)
                self.live.steps = {k: list(v) for k, v in old.steps.items()}
                self.live.values = {k: list(v) for k, v in old.values.items()}
                self._epochs_before = int(max((s[-1] for s in old.steps.values()), default=0))

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            logs = {k: v for k, v in (logs or {}).items() if k not in ("lr", "learning_rate")}
            if logs:
                self.live.update(self._epochs_before + epoch + 1, **logs)

        def on_train_end(self, logs: Any = None) -> None:
            self.figure = self.live.finish()

    return LivePlotCallback()


__all__ = ["LivePlot", "live_keras_callback"]
