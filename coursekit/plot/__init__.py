"""Every figure of the course: axes in, axes (or figure) out, never ``plt.show()``.

Colours are the colour-blind-safe Okabe-Ito palette, and classes also differ
by marker. All functions work under the Agg backend (scripts, CI), in
JupyterLab and in Colab.

- Style: ``OKABE_ITO``, ``MARKERS``, ``class_style``.
- Activations: ``plot_activations``.
- 2-D classifiers: ``plot_data_2d``, ``plot_decision_boundary``,
  ``plot_hidden_layer_panels``.
- Loss landscapes: ``plot_loss_surface``, ``plot_loss_contours``, ``plot_paths``.
- Training: ``plot_history``, ``LivePlot``, ``live_keras_callback``.
- Images and evaluation: ``plot_image_grid``, ``confusion_matrix``,
  ``most_confused_pairs``, ``plot_confusion_matrix``, ``plot_class_balance``.
- Deep nets: ``plot_layer_histograms``, ``plot_layer_stats``.
- Backpropagation: ``plot_computation_graph``.
"""

from __future__ import annotations

from coursekit.plot._style import MARKERS, OKABE_ITO, class_style
from coursekit.plot.activations import plot_activations
from coursekit.plot.boundary import plot_data_2d, plot_decision_boundary, plot_hidden_layer_panels
from coursekit.plot.curves import plot_history
from coursekit.plot.graph import plot_computation_graph
from coursekit.plot.images import (
    confusion_matrix,
    most_confused_pairs,
    plot_class_balance,
    plot_confusion_matrix,
    plot_image_grid,
)
from coursekit.plot.layers import plot_layer_histograms, plot_layer_stats
from coursekit.plot.live import LivePlot, live_keras_callback
from coursekit.plot.surfaces import plot_loss_contours, plot_loss_surface, plot_paths

__all__ = [
    "MARKERS",
    "OKABE_ITO",
    "LivePlot",
    "class_style",
    "confusion_matrix",
    "live_keras_callback",
    "most_confused_pairs",
    "plot_activations",
    "plot_class_balance",
    "plot_computation_graph",
    "plot_confusion_matrix",
    "plot_data_2d",
    "plot_decision_boundary",
    "plot_hidden_layer_panels",
    "plot_history",
    "plot_image_grid",
    "plot_layer_histograms",
    "plot_layer_stats",
    "plot_loss_contours",
    "plot_loss_surface",
    "plot_paths",
]
