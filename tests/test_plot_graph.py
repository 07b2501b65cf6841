"""coursekit.plot.plot_computation_graph: the graph figure of notebook 08."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest

from coursekit.plot import plot_computation_graph

NODES = {"x": (0, 0), "z": (1, 0), "L": (2, 0)}
EDGES = [("x", "z"), ("z", "L")]


def test_draws_nodes_values_gradients_and_both_directions():
    ax = plot_computation_graph(NODES, EDGES, labels={"z": "$z$"}, values={"x": 2.0, "z": 1.5},
                                grads={"z": -0.25}, title="tiny")
    texts = [t.get_text() for t in ax.texts]
    assert {"x", "$z$", "L", "2", "1.5", "-0.25"} <= set(texts)
    arrows = [c for c in ax.get_children() if type(c).__name__ == "Annotation"]
    assert len(arrows) == 2 * len(EDGES)                       # forward and backward arrow per edge
    assert ax.get_title() == "tiny" and len(ax.get_legend().get_texts()) == 2
    plt.close(ax.figure)


def test_without_grads_only_forward_arrows():
    ax = plot_computation_graph(NODES, EDGES)
    arrows = [c for c in ax.get_children() if type(c).__name__ == "Annotation"]
    assert len(arrows) == len(EDGES) and len(ax.get_legend().get_texts()) == 1
    plt.close(ax.figure)


@pytest.mark.parametrize("kwargs, message", [
    ({"edges": [("x", "nope")]}, "pair of node names"),
    ({"grads": {"w": 1.0}}, "unknown nodes ['w']"),
    ({"nodes": {}}, "nodes is empty"),
    ({"nodes": {"x": (0, 0, 1)}, "edges": []}, "expected a pair"),
])
def test_wrong_input_is_explained(kwargs, message):
    args = {"nodes": NODES, "edges": EDGES, **kwargs}
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        plot_computation_graph(args.pop("nodes"), args.pop("edges"), **args)
