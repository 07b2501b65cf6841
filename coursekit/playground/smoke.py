"""Smoke check of the playground's widgets: ``python -m coursekit.playground.smoke``.

Imports ipywidgets, builds the full control panel, drives it the way a
browser would (a slider change, Play ticks, one step, reset, pause) and
checks that training advanced and the picture changed. Exits 0 on success,
1 with a message otherwise. No browser and no kernel are needed; ``make
colab-check`` runs it against ipywidgets 7.7.1 as on Colab.
"""

from __future__ import annotations

import sys
import time


def main() -> int:
    """Run the check; return the exit status."""
    try:
        import ipywidgets
    except ImportError:
        print("playground smoke: ipywidgets is not installed (pip install ipywidgets)")
        return 1
    from coursekit.playground import Playground

    pg = Playground.from_preset("xor", seed=0)
    box = pg.widget()
    ui = pg._ui
    problems = []
    if len(ui.controls) != 12:
        problems.append(f"expected 12 controls, found {len(ui.controls)}")
    first = ui.image.value
    ui.controls["hidden_layers"].value = 2  # what moving the slider does
    if pg.config.hidden_layers != 2 or len(pg.net.sizes) != 4:
        problems.append("the hidden-layers slider did not change the network")
    for tick in range(1, 4):  # three Play ticks, as the browser's timer sends them
        ui.play.value = tick
        time.sleep(0.05)
    played = pg.step_count
    if played < 3:
        problems.append(f"three Play ticks trained only {played} steps")
    ui.step_button.click()
    if pg.step_count != played + 1:
        problems.append("'one step' did not train exactly one step")
    ui.redraw()
    if ui.image.value == first:
        problems.append("the picture did not change after training")
    ui.pause()
    if ui.playing:
        problems.append("pause did not stop the Play timer")
    ui.reset_button.click()
    if pg.step_count != 0:
        problems.append("reset did not go back to step 0")
    print(f"playground smoke: ipywidgets {ipywidgets.__version__}, {type(box).__name__} with "
          f"{len(ui.controls)} controls, {played + 1} steps trained, {ui.n_redraws} redraws")
    for p in problems:
        print("  problem:", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
