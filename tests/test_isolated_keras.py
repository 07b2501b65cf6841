"""``coursekit.grading.isolated_keras``: a model enters the grading process only as checked ``.keras`` bytes.

The building block for grading ``fashion_mnist_keras`` in isolation (issue 11;
not wired into the grading path yet): an archive must hold exactly the
members Keras writes, only built-in layers of an allowlist (no ``Lambda``, no
layer that reads files), no registered custom objects, within size and
zip-bomb limits, and is then loaded with ``safe_mode=True``. The kernel-level
cheats that still score on that assignment are graded, as ``xfail(strict=True)``,
in the batch of ``tests/test_fashion_mnist_assignment.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


def _archive(config: dict, members: dict[str, bytes] | None = None) -> bytes:
    import io
    import json
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        files = {"config.json": json.dumps(config).encode(), "metadata.json": b"{}", "model.weights.h5": b"",
                 **(members or {})}
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


def _layer(class_name: str, module: str = "keras.layers", **extra: Any) -> dict:
    return {"module": module, "class_name": class_name, "config": {"name": class_name.lower()},
            "registered_name": None, **extra}


def _sequential(*layers: dict) -> dict:
    return {"module": "keras", "class_name": "Sequential", "registered_name": None,
            "config": {"name": "sequential", "layers": list(layers)},
            "compile_config": {"optimizer": _layer("Adam", "keras.optimizers"),
                               "loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]}}


REFUSED_ARCHIVES = {
    "lambda layer": (_sequential(_layer("Flatten"), _layer("Lambda")), "not one of the layers"),
    "layer that reads a file": (_sequential(_layer("StringLookup", config={"vocabulary": "/etc/passwd"})),
                                "not one of the layers"),
    "custom class": (_sequential(_layer("Flatten"), _layer("Memorizer", "__main__")), "not a Keras built-in"),
    "registered custom object": (_sequential(_layer("Dense", registered_name="Custom>Dense")), "registered custom"),
    "custom function": (_sequential(_layer("Dense", config={"activation": {
        "module": "builtins", "class_name": "function", "config": "evil", "registered_name": "function"}})),
        "not a Keras built-in"),
}


def test_a_model_of_built_in_layers_is_accepted() -> None:
    from coursekit.grading.isolated_keras import archive_problems

    assert archive_problems(_archive(_sequential(_layer("InputLayer"), _layer("Flatten"), _layer("Dense")))) == []


@pytest.mark.parametrize("case", list(REFUSED_ARCHIVES))
def test_models_that_carry_code_are_refused(case: str) -> None:
    from coursekit.grading.isolated_keras import (
        UntrustedModelError,
        archive_problems,
        load_untrusted_model,
    )

    config, words = REFUSED_ARCHIVES[case]
    problems = archive_problems(_archive(config))
    assert problems and words in " ".join(problems), problems
    with pytest.raises(UntrustedModelError, match="refuses"):
        load_untrusted_model(_archive(config))


def test_files_that_are_not_plain_keras_archives_are_refused() -> None:
    from coursekit.grading import isolated_keras as K

    good = _sequential(_layer("Dense"))
    assert "not a .keras file" in K.archive_problems(b"PK\x03\x04 not really")[0]
    assert "holds" in K.archive_problems(_archive(good, {"payload.pkl": b"\x80\x04."}))[0]
    bomb = _archive(good, {"model.weights.h5": b"\0" * (K.MAX_UNPACKED + 1)})
    assert "unpacks to more than" in K.archive_problems(bomb)[0]
    with pytest.raises(TypeError, match="bytes"):
        K.archive_problems("model.keras")  # type: ignore[arg-type]


def test_a_real_model_round_trips_and_a_real_lambda_model_is_refused(tmp_path: Path) -> None:
    import keras
    import numpy as np

    from coursekit.grading.isolated_keras import (
        UntrustedModelError,
        archive_problems,
        load_untrusted_model,
    )

    def saved(model: Any) -> bytes:
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        path = tmp_path / f"{model.name}.keras"
        model.save(path)
        return path.read_bytes()

    plain = keras.Sequential([keras.Input(shape=(4, 4)), keras.layers.Flatten(),
                              keras.layers.Dense(3, activation="softmax")], name="plain")
    data = saved(plain)
    assert archive_problems(data) == []
    loaded = load_untrusted_model(data)
    assert all(np.array_equal(a, b) for a, b in zip(loaded.get_weights(), plain.get_weights(), strict=True))
    assert loaded.loss == "sparse_categorical_crossentropy"
    sneaky = keras.Sequential([keras.Input(shape=(4, 4)), keras.layers.Flatten(),
                               keras.layers.Lambda(lambda t: t * 0.0), keras.layers.Dense(3)], name="sneaky")
    with pytest.raises(UntrustedModelError, match="not one of the layers"):
        load_untrusted_model(saved(sneaky))
