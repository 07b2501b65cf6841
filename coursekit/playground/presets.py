"""One preset per lesson: a configuration, the runs to compare, and what they show.

Each preset's ``check`` states its outcome in numbers;
``tests/test_playground_presets.py`` runs every preset for seeds 0, 1 and 2.

>>> result = run_preset("xor", seed=0)      # doctest: +SKIP
>>> print(result)                           # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from coursekit.playground.core import Config, Playground, State

__all__ = ["PRESETS", "Preset", "PresetResult", "get_preset", "run_preset"]


@dataclass(frozen=True)
class Preset:
    """A lesson's experiment: ``config``, trained ``steps`` steps once per entry of ``runs``.

    ``runs`` maps a label to the knobs that differ from ``config`` in that run;
    ``check(states)`` gets label -> final State and returns whether ``claim`` holds.
    """

    name: str
    lessons: str
    title: str
    config: Config
    steps: int
    runs: Mapping[str, Mapping[str, Any]]
    claim: str
    check: Callable[[Mapping[str, State]], bool]
    questions: tuple[str, ...] = field(default_factory=tuple)


@dataclass
class PresetResult:
    """The final states of a preset's runs and whether its claim held."""

    preset: Preset
    seed: int
    states: dict[str, State]
    passed: bool

    def __str__(self) -> str:
        lines = [f"{self.preset.title} (seed {self.seed}, {self.preset.steps} steps)"]
        lines += [f"  {label}: {state}" for label, state in self.states.items()]
        verdict = "holds" if self.passed else "does NOT hold"
        lines.append(f"  claim {verdict}: {self.preset.claim}")
        return "\n".join(lines)


def _ratio(state: State) -> float:
    """How many times smaller the first layer's gradient is than the last layer's."""
    first, last = state.grad_rms[0], state.grad_rms[-1]
    return float("inf") if first == 0 else last / first


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in [
        Preset(
            name="xor",
            lessons="05-1, 05-2, 05-3",
            title="XOR needs a hidden layer",
            config=Config(dataset="xor", noise=0.3, hidden_layers=1, units=4,
                          activation="sigmoid", learning_rate=0.3, batch_size=10),
            steps=200,
            runs={"no hidden layer": {"hidden_layers": 0}, "one hidden layer of 4": {}},
            claim="without a hidden layer accuracy stays at 75% or below (train and test); "
                  "with one hidden layer of 4 sigmoid units the test accuracy reaches 95%",
            check=lambda s: (s["no hidden layer"].train_accuracy <= 0.75
                             and s["no hidden layer"].test_accuracy <= 0.75
                             and s["one hidden layer of 4"].test_accuracy >= 0.95),
            questions=(
                "Set hidden layers to 0 and press Play: what shape can the boundary take?",
                "What is the fewest number of hidden units that still solves XOR? Try 1, 2, 3.",
                "Switch the activation to linear: does the hidden layer still help? Why not?",
            ),
        ),
        Preset(
            name="sigmoid_vs_relu",
            lessons="03",
            title="Sigmoid versus ReLU in a two-layer net",
            config=Config(dataset="circles", noise=0.3, hidden_layers=2, units=6,
                          activation="relu", learning_rate=0.1, batch_size=10),
            steps=100,
            runs={"sigmoid": {"activation": "sigmoid"}, "relu": {"activation": "relu"}},
            claim="after 100 steps of SGD the ReLU net's train loss is below 0.15 while the "
                  "sigmoid net's is still above 0.6",
            check=lambda s: s["relu"].train_loss < 0.15 and s["sigmoid"].train_loss > 0.6,
            questions=(
                "Switch between sigmoid and ReLU and press Play: which one starts learning first?",
                "Look at the gradient panel: how do the gradients of the two compare?",
                "Does tanh behave like sigmoid or like ReLU here?",
            ),
        ),
        Preset(
            name="fewest_units",
            lessons="04",
            title="The fewest hidden units that separate the circles",
            config=Config(dataset="circles", noise=0.2, hidden_layers=1, units=3,
                          activation="tanh", optimizer="Adam", learning_rate=0.03, batch_size=10),
            steps=200,
            runs={"2 units": {"units": 2}, "3 units": {"units": 3}},
            claim="one hidden layer of 2 tanh units stays at 90% train accuracy or below; "
                  "3 units reach 98%",
            check=lambda s: s["2 units"].train_accuracy <= 0.90 and s["3 units"].train_accuracy >= 0.98,
            questions=(
                "With 2 units, look at the two small unit pictures: why can't they close a ring?",
                "With 3 units, how do the three unit boundaries combine into the output?",
                "Change the activation to ReLU: are 3 units still always enough?",
            ),
        ),
        Preset(
            name="learning_rate",
            lessons="07",
            title="A learning rate that is too large diverges",
            config=Config(dataset="circles", noise=0.3, hidden_layers=2, units=8,
                          activation="relu", learning_rate=0.1, batch_size=10),
            steps=60,
            runs={"lr 0.1": {"learning_rate": 0.1}, "lr 3": {"learning_rate": 3.0}},
            claim="with learning rate 0.1 the train loss falls below 0.25; with 3 it jumps above "
                  "its starting value and ends above 0.5",
            check=lambda s: (s["lr 0.1"].train_loss < 0.25
                             and max(s["lr 3"].history["train_loss"]) > s["lr 3"].history["train_loss"][0]
                             and s["lr 3"].train_loss > 0.5),
            questions=(
                "Raise the learning rate step by step: where does the loss curve start to jump?",
                "With a too-large learning rate, does a larger batch size help? Does Adam?",
                "Is the smallest learning rate the safest choice? Try 0.001 for 100 steps.",
            ),
        ),
        Preset(
            name="vanishing_gradients",
            lessons="09",
            title="Deep sigmoid nets stall: their gradients vanish",
            config=Config(dataset="circles", noise=0.3, hidden_layers=4, units=8,
                          activation="sigmoid", learning_rate=0.1, batch_size=10),
            steps=100,
            runs={"sigmoid": {"activation": "sigmoid"}, "relu": {"activation": "relu"}},
            claim="with 4 sigmoid layers the first layer's gradient is over 20 times smaller than "
                  "the last layer's and the train loss stays above 0.65; the same net with ReLU "
                  "gets below 0.1",
            check=lambda s: (_ratio(s["sigmoid"]) > 20 and s["sigmoid"].train_loss > 0.65
                             and s["relu"].train_loss < 0.1),
            questions=(
                "Watch the gradient panel while it trains: which layer gets the smallest gradient?",
                "Remove hidden layers one at a time: from how many layers on does sigmoid stall?",
                "Does Adam rescue the deep sigmoid net? Why would it?",
            ),
        ),
        Preset(
            name="overfitting",
            lessons="11",
            title="Few noisy points overfit; L2 weight decay helps",
            config=Config(dataset="xor", noise=0.8, n_points=200, train_fraction=0.1,
                          hidden_layers=3, units=8, activation="relu", optimizer="Adam",
                          learning_rate=0.03, batch_size=10),
            steps=300,
            runs={"no L2": {"l2": 0.0}, "L2 0.03": {"l2": 0.03}},
            claim="without L2 the train loss goes below 0.01 while the test loss ends at least 1.5 "
                  "times above its best value; with L2 = 0.03 the final test loss is lower",
            check=lambda s: (s["no L2"].train_loss < 0.01
                             and s["no L2"].test_loss > 1.5 * min(s["no L2"].history["test_loss"])
                             and s["L2 0.03"].test_loss < s["no L2"].test_loss),
            questions=(
                "Without L2, watch the test loss curve: when does it turn upwards?",
                "Raise L2 to 0.1 or 0.3: what happens to the boundary, and to the train loss?",
                "Raise the train share to 50%: is L2 still needed?",
            ),
        ),
    ]
}
"""Name -> Preset, in course order."""


def get_preset(name: str) -> Preset:
    """The preset called ``name`` (see ``PRESETS``)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; the presets are {list(PRESETS)}.")
    return PRESETS[name]


def run_preset(name: str, seed: int = 0, steps: int | None = None) -> PresetResult:
    """Train every run of preset ``name`` with ``seed`` and check its claim."""
    preset = get_preset(name)
    n = preset.steps if steps is None else steps
    states = {}
    for label, changes in preset.runs.items():
        cfg = dataclasses.replace(preset.config, seed=int(seed), **changes)
        states[label] = Playground(**dataclasses.asdict(cfg)).run(n)
    return PresetResult(preset, int(seed), states, bool(preset.check(states)))
