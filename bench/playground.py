"""Speed of coursekit.playground: training steps per second and redraws per second.

The issue's target: a 2-hidden-layer, 8-unit net on 200 points trains at least
20 steps/s and redraws at least 5 times/s. A step is one epoch (all training
points once, in mini-batches), as in TensorFlow Playground. Both rates are
printed per wall-clock second and per CPU second of this process (the CPU
figure is less disturbed by other programs on a shared machine). Nothing is
asserted: this prints numbers.

    .venv/bin/python bench/playground.py [--points 200] [--batch-size 10] [--seconds 3]
"""

from __future__ import annotations

import argparse
import time

from coursekit.playground import Playground
from coursekit.playground.view import PlaygroundView


def _rate(fn, seconds: float) -> tuple[float, float, int]:
    """(calls per wall second, calls per CPU second, calls) of fn() over about ``seconds``."""
    fn()  # warm-up (first draw builds the figure)
    n, w0, c0 = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - w0 < seconds or n < 3:
        fn()
        n += 1
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    return n / wall, n / max(cpu, 1e-9), n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=200, help="training points (default 200)")
    ap.add_argument("--batch-size", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    args = ap.parse_args()
    # n_points is the total; the train share is set so that `--points` are used for training.
    total = 2 * args.points
    pg = Playground(dataset="spirals", n_points=total, train_fraction=0.5, hidden_layers=2,
                    units=8, activation="tanh", batch_size=args.batch_size)
    view = PlaygroundView(pg)
    step_wall, step_cpu, n_steps = _rate(pg.step, args.seconds)
    draw_wall, draw_cpu, n_draws = _rate(view.png, args.seconds)

    def both() -> None:
        pg.step()
        view.png()

    both_wall, both_cpu, n_both = _rate(both, args.seconds)
    updates = -(-len(pg.y_train) // args.batch_size)
    print(f"playground: 2 hidden layers x 8 tanh units, {len(pg.y_train)} training points "
          f"(+{len(pg.y_test)} test), batch {args.batch_size} ({updates} updates per step)")
    print(f"{'measure':<22}{'per wall s':>12}{'per CPU s':>12}{'count':>8}")
    print(f"{'training steps':<22}{step_wall:>12.1f}{step_cpu:>12.1f}{n_steps:>8}")
    print(f"{'redraws (PNG)':<22}{draw_wall:>12.1f}{draw_cpu:>12.1f}{n_draws:>8}")
    print(f"{'step + redraw':<22}{both_wall:>12.1f}{both_cpu:>12.1f}{n_both:>8}")
    print("targets: >= 20 steps/s and >= 5 redraws/s")


if __name__ == "__main__":
    main()
