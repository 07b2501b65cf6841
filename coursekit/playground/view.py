"""The playground's figure: the network with a picture per unit, the boundary, losses, gradients.

The figure is built once per network shape and then updated in place
(image data, line widths, curve data), so a redraw costs a forward pass on two
grids, one contour and one PNG encoding.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import numpy as np
from contourpy import contour_generator
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection, PatchCollection
from matplotlib.colors import LinearSegmentedColormap, to_rgb
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter, NullFormatter

from coursekit.plot._style import OKABE_ITO, class_style

if TYPE_CHECKING:  # pragma: no cover
    from coursekit.playground.core import Playground

__all__ = ["PlaygroundView"]


def _light(color: str, amount: float) -> tuple[float, ...]:
    rgb = np.asarray(to_rgb(color))
    return tuple(rgb + (1.0 - rgb) * amount)


# class 0 blue -> white -> class 1 orange (Okabe-Ito), lightened so points stay readable
_CMAP = LinearSegmentedColormap.from_list(
    "playground", [_light(OKABE_ITO[0], 0.2), "#FFFFFF", _light(OKABE_ITO[1], 0.15)]
)
_NICE = (0.8, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 20.0, 50.0, 100.0, 1e3, 1e4, 1e6, 1e9)


class PlaygroundView:
    """Draws a :class:`Playground` on one matplotlib Figure, updating it in place.

    Parameters
    ----------
    pg : Playground
        What to draw.
    grid : int
        Points per axis of the decision-boundary grid.
    tile_grid : int
        Points per axis of each unit's small picture.
    dpi : int
        Resolution of ``png()``.
    """

    def __init__(self, pg: Playground, grid: int = 60, tile_grid: int = 24, dpi: int = 72) -> None:
        self.pg = pg
        self.grid = int(grid)
        self.tile_grid = int(tile_grid)
        self.dpi = int(dpi)
        self.fig = Figure(figsize=(13.0, 5.6), dpi=self.dpi)
        self.canvas = FigureCanvasAgg(self.fig)
        self.n_draws = 0
        self._key: tuple | None = None
        self._background = None
        self._legend_pixels: list = []
        self._limits: tuple | None = None

    # -- building ----------------------------------------------------------------
    def _build(self) -> None:
        pg, fig = self.pg, self.fig
        fig.clear()
        gs = fig.add_gridspec(2, 3, width_ratios=[1.55, 1.2, 1.0], height_ratios=[1, 1],
                              left=0.01, right=0.985, top=0.87, bottom=0.1, wspace=0.3, hspace=0.55)
        self.ax_net = fig.add_subplot(gs[:, 0])
        self.ax_b = fig.add_subplot(gs[:, 1])
        self.ax_loss = fig.add_subplot(gs[0, 2])
        self.ax_grad = fig.add_subplot(gs[1, 2])
        X = pg.X
        lo, hi = X.min(axis=0) - 0.5, X.max(axis=0) + 0.5
        self.extent = (lo[0], hi[0], lo[1], hi[1])
        self.points = self._grid_points(self.grid)
        self.tile_points = self._grid_points(self.tile_grid)
        self._build_network()
        self._build_boundary()
        self._build_curves()
        self._background = None
        # What changes between redraws (drawn over a cached background, see png()),
        # in drawing order; the contour is added when drawn.
        # Legends stay in the background and are pasted back on top (see png()).
        self.dynamic = [self.lines, self.tiles, self.rects, self.image, self.boundary,
                        *self.scatters, *self.ax_b.spines.values(), self.ax_b.title, self.train_line, self.test_line,
                        self.ax_loss.title, *self.bars, self.suptitle]
        self.legends = [self.ax_b.get_legend(), self.ax_loss.get_legend()]

    def _grid_points(self, n: int) -> np.ndarray:
        x0, x1, y0, y1 = self.extent
        xx, yy = np.meshgrid(np.linspace(x0, x1, n), np.linspace(y0, y1, n))
        return np.column_stack([xx.ravel(), yy.ravel()])

    def _build_network(self) -> None:
        # Network axes use the pixels of one composite image as data units: every
        # unit's picture is a T x T block of it (one image to draw, not one per unit).
        ax, sizes, T = self.ax_net, self.pg.net.sizes, self.tile_grid
        ax.set_axis_off()
        dx, dy, M = int(2.5 * T), T + 8 + (T % 2), max(sizes)
        self._ymin = -((M - 1) * dy) // 2 - T // 2
        height, width = (M - 1) * dy + T, (len(sizes) - 1) * dx + T
        self.canvas_rgba = np.zeros((height, width, 4))
        self.node_xy: list[list[tuple[float, float]]] = []
        self.slots: list[tuple[int, int]] = []  # (row, column) of each picture's corner
        rects = []
        names = ["inputs"] + [f"hidden {k}" for k in range(1, len(sizes) - 1)] + ["output"]
        for layer, m in enumerate(sizes):
            x0 = layer * dx
            col = []
            for i in range(m):
                cy = ((m - 1) * dy) // 2 - i * dy
                col.append((x0 + T / 2, cy))
                self.slots.append((cy - T // 2 - self._ymin, x0))
                rects.append(Rectangle((x0, cy - T / 2), T, T))
            self.node_xy.append(col)
            ax.text(x0 + T / 2, col[0][1] + T / 2 + 4, names[layer], ha="center", va="bottom",
                    fontsize=9)
        for (cx, cy), name in zip(self.node_xy[0], ("$x_1$", "$x_2$"), strict=True):
            ax.text(cx - T / 2 - 4, cy, name, ha="right", va="center", fontsize=10)
        self.tiles = ax.imshow(self.canvas_rgba, extent=(0, width, self._ymin, self._ymin + height),
                               origin="lower", interpolation="nearest", zorder=2)
        self.rects = PatchCollection(rects, facecolor="none", edgecolor="0.55", linewidth=0.6,
                                     zorder=3)
        ax.add_collection(self.rects)
        segs = []
        for layer in range(len(sizes) - 1):
            for x0, y0 in self.node_xy[layer]:
                for x1, y1 in self.node_xy[layer + 1]:
                    segs.append([(x0 + T / 2, y0), (x1 - T / 2, y1)])
        self.lines = LineCollection(segs, linewidths=1.0, colors="0.5", alpha=0.75, zorder=1)
        ax.add_collection(self.lines)
        ax.set_xlim(-2.2 * T, width + 4)
        ax.set_ylim(self._ymin - 4, self._ymin + height + 2 * T)
        ax.set_aspect("equal", adjustable="box")
        ax.set_title("each unit's output over the plane; line width = |weight|\n"
                     "(orange: weight > 0, blue: weight < 0)", fontsize=9)

    def _build_boundary(self) -> None:
        pg, ax = self.pg, self.ax_b
        blank = np.zeros((self.grid, self.grid))
        self.image = ax.imshow(blank, extent=self.extent, origin="lower", cmap=_CMAP, vmin=0,
                               vmax=1, interpolation="bilinear", aspect="auto", zorder=0)
        handles, labels = [], []
        self.scatters = []
        for k in (0, 1):
            st = class_style(k)
            tr, te = pg.y_train == k, pg.y_test == k
            self.scatters.append(ax.scatter(pg.X_train[tr, 0], pg.X_train[tr, 1], s=22,
                                            edgecolors="black", linewidths=0.5, zorder=3, **st))
            self.scatters.append(ax.scatter(pg.X_test[te, 0], pg.X_test[te, 1], s=22,
                                            facecolors="none", edgecolors=st["color"],
                                            marker=st["marker"], linewidths=1.0, zorder=3))
            handles += [Line2D([], [], linestyle="none", markeredgecolor="black", markersize=6,
                               markerfacecolor=st["color"], marker=st["marker"]),
                        Line2D([], [], linestyle="none", markeredgecolor=st["color"],
                               markerfacecolor="none", markersize=6, marker=st["marker"])]
            labels += [f"class {k} (train)", f"class {k} (test)"]
        handles.append(Line2D([], [], color="black", linestyle="--"))
        labels.append("boundary p = 0.5")
        ax.legend(handles, labels, loc="upper right", fontsize=7, framealpha=1.0)
        self.boundary = LineCollection([], colors="black", linestyles="--", linewidths=1.4, zorder=2)
        ax.add_collection(self.boundary)
        ax.set_xlim(self.extent[0], self.extent[1])
        ax.set_ylim(self.extent[2], self.extent[3])
        ax.set_xlabel("$x_1$")
        ax.set_ylabel("$x_2$")

    def _build_curves(self) -> None:
        ax = self.ax_loss
        (self.train_line,) = ax.plot([], [], color=OKABE_ITO[2], label="train")
        (self.test_line,) = ax.plot([], [], color=OKABE_ITO[4], linestyle="--", label="test")
        ax.set_xlabel("step (epoch)")
        ax.set_ylabel("loss (cross-entropy)")
        ax.legend(loc="upper right", fontsize=8, framealpha=1.0)
        ax.grid(True, alpha=0.3)
        ax = self.ax_grad
        n = self.pg.net.n_layers
        self.bars = ax.bar(np.arange(n), np.ones(n), color=OKABE_ITO[5], edgecolor="black",
                           linewidth=0.5)
        ax.set_yscale("log")
        # plain tick labels: mathtext ones ("10^-3") cost more than the rest of a redraw
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0e}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_xticks(np.arange(n), [f"$W_{k + 1}$" for k in range(n)])
        ax.set_xlabel("weight layer (input side first)")
        ax.set_ylabel("RMS of dLoss/dW")
        ax.set_title("gradient size per layer", fontsize=9)
        self.suptitle = self.fig.text(0.5, 0.995, "", ha="center", va="top", fontsize=11)

    # -- updating ----------------------------------------------------------------
    def _unit_pictures(self) -> list[np.ndarray]:
        net = self.pg.net
        with np.errstate(all="ignore"):
            logits, _, A = net.forward(self.tile_points)
        centre = 0.5 if net.activation == "sigmoid" else 0.0
        pics = [self.tile_points[:, j] for j in range(2)]
        for a in A[1:]:
            a = a - centre
            pics += [a[:, j] for j in range(a.shape[1])]
        pics.append(np.tanh(0.5 * logits))  # = 2 sigmoid - 1: P(class 1) on -1 .. 1
        out = []
        for p in pics:
            p = np.nan_to_num(p, nan=0.0, posinf=1.0, neginf=-1.0)
            scale = np.max(np.abs(p))
            out.append((p / scale if scale > 1e-12 else p).reshape(self.tile_grid, self.tile_grid))
        return out

    def _update(self) -> tuple:
        """Set every artist's data; return the axis limits (a change needs a new background)."""
        pg = self.pg
        T = self.tile_grid
        for (r, c), pic in zip(self.slots, self._unit_pictures(), strict=True):
            self.canvas_rgba[r:r + T, c:c + T] = _CMAP(0.5 + 0.5 * pic)
        self.tiles.set_data(self.canvas_rgba)
        W = np.concatenate([w.ravel() for w in pg.net.weights])
        W = np.nan_to_num(W, nan=0.0, posinf=0.0, neginf=0.0)
        top = max(float(np.max(np.abs(W))), 1e-12)
        self.lines.set_linewidths(0.3 + 4.0 * np.abs(W) / top)
        self.lines.set_colors([OKABE_ITO[1] if w > 0 else OKABE_ITO[0] for w in W])
        p = pg.predict_proba(self.points).reshape(self.grid, self.grid)
        p = np.nan_to_num(p, nan=0.5)
        self.image.set_data(p)
        x0, x1, y0, y1 = self.extent
        xs, ys = np.linspace(x0, x1, self.grid), np.linspace(y0, y1, self.grid)
        segments = contour_generator(xs, ys, p).lines(0.5) if p.min() < 0.5 < p.max() else []
        self.boundary.set_segments(segments)
        h = pg.history
        self.ax_b.set_title(f"step {pg.step_count}: train accuracy {h['train_accuracy'][-1]:.0%}, "
                            f"test {h['test_accuracy'][-1]:.0%}" + (" (diverged)" * pg.diverged),
                            fontsize=10, y=1.01)
        steps = np.asarray(h["step"], dtype=float)
        tr = np.where(np.isfinite(h["train_loss"]), h["train_loss"], np.nan)
        te = np.where(np.isfinite(h["test_loss"]), h["test_loss"], np.nan)
        self.train_line.set_data(steps, tr)
        self.test_line.set_data(steps, te)
        finite = np.concatenate([tr[np.isfinite(tr)], te[np.isfinite(te)]])
        top = float(finite.max()) * 1.05 if finite.size else 1.0
        # limits move in coarse jumps, so the cached background (ticks) stays valid
        ymax = next((v for v in _NICE if v >= top), top)
        xmax = 2 ** max(3, int(np.ceil(np.log2(max(steps[-1], 1)))))
        self.ax_loss.set_xlim(0, xmax)
        self.ax_loss.set_ylim(0, ymax)
        self.ax_loss.set_title(f"loss: train {h['train_loss'][-1]:.3f}, test {h['test_loss'][-1]:.3f}",
                               fontsize=9, y=1.01)
        g = np.nan_to_num(np.asarray(pg.grad_rms), nan=0.0, posinf=0.0)
        g = np.maximum(g, 1e-12)
        for bar, v in zip(self.bars, g, strict=True):
            bar.set_height(v)
        glim = (10.0 ** np.floor(np.log10(g.min()) - 0.3), 10.0 ** np.ceil(np.log10(g.max()) + 0.3))
        self.ax_grad.set_ylim(*glim)
        c = pg.config
        layers = "x".join(map(str, c.layer_sizes())) or "no hidden layer"
        self.suptitle.set_text(f"{c.dataset}, {layers} {c.activation}, {c.optimizer} lr {c.learning_rate:g}, "
                               f"batch {c.batch_size}, L2 {c.l2:g}")
        return (xmax, ymax, glim)

    def _prepare(self) -> tuple:
        key = (tuple(self.pg.net.sizes), id(self.pg.X), id(self.pg.X_train))
        if key != self._key:
            self._build()
            self._key = key
        limits = self._update()
        self.n_draws += 1
        return limits

    def draw(self) -> Figure:
        """Bring the figure up to date with the playground and return it."""
        self._prepare()
        return self.fig

    def png(self) -> bytes:
        """The up-to-date figure as PNG bytes (what the widget shows).

        Blitting: everything static (axes, ticks, labels) is rendered once into
        a cached background; a redraw restores it and draws only ``dynamic``.
        """
        from PIL import Image  # a dependency of matplotlib

        limits = self._prepare()
        if self._background is None or limits != self._limits:
            for a in self.dynamic:
                a.set_visible(False)
            self.canvas.draw()
            self._background = self.canvas.copy_from_bbox(self.fig.bbox)
            renderer = self.canvas.get_renderer()
            self._legend_pixels = [
                self.canvas.copy_from_bbox(leg.get_window_extent(renderer).expanded(1.02, 1.05))
                for leg in self.legends
            ]
            for a in self.dynamic:
                a.set_visible(True)
            self._limits = limits
        self.canvas.restore_region(self._background)
        for a in self.dynamic:
            self.fig.draw_artist(a)
        for pixels in self._legend_pixels:
            self.canvas.restore_region(pixels)
        w, h = self.canvas.get_width_height()
        img = Image.frombuffer("RGBA", (w, h), self.canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
        buf = io.BytesIO()
        img.convert("RGB").save(buf, format="png", compress_level=1)
        return buf.getvalue()
