"""``coursekit.grading.isolated_keras``: a model enters the grading process only as checked ``.keras`` bytes.

How ``fashion_mnist_keras`` is graded in isolation (issue 11,
:mod:`coursekit.grading.isolated_keras_grade`): an archive must hold exactly the
members Keras writes, only built-in layers of an allowlist (no ``Lambda``, no
layer that reads files), no registered custom objects, within size and
zip-bomb limits, and is then loaded with ``safe_mode=True``. The training
worker's data folder (:mod:`coursekit.grading.isolated_keras_data`) holds
stand-ins instead of the test images, and its sandbox sees that folder where the
real one was. The assignment's honest, faulty and hostile submissions are graded
with the real pipeline in ``tests/test_fashion_mnist_assignment.py``.
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


def _image_keys() -> Any:
    """The fingerprint function of the assignment's set-up cell (``_ck_image_keys``), as written there."""
    import ast
    import hashlib

    import nbformat
    import numpy as np

    root = Path(__file__).resolve().parent.parent
    nb = nbformat.read(root / "solutions" / "fashion_mnist_keras" / "fashion_mnist_keras.ipynb", as_version=4)
    setup = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "setup")
    tree = ast.parse(setup.source.replace("%pip", "pass  # %pip"))
    func = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "_ck_image_keys")
    ns: dict[str, Any] = {"np": np, "_ck_hashlib": hashlib}
    exec(compile(ast.unparse(func), "_ck_image_keys", "exec"), ns)
    return ns["_ck_image_keys"]


def test_stand_in_test_images_are_no_training_image_and_load_as_a_data_folder(tmp_path: Path) -> None:
    import numpy as np

    from coursekit.data import load_fashion_mnist
    from coursekit.grading.isolated_keras_data import stand_in_test_split, write_data_folder

    keys = _image_keys()
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(30, 28, 28), dtype=np.uint8)
    x[1] = 255 - x[0, ::-1, :]  # the stand-ins of images 0 and 1 would be training images 1 and 0: both skipped
    y = np.arange(30) % 10
    fake_x, fake_y = stand_in_test_split(x, y, 12, keys)
    assert fake_x.shape == (12, 28, 28) and fake_x.dtype == np.uint8 and fake_y.shape == (12,)
    assert not keys(fake_x) & keys(x)
    assert np.array_equal(fake_x[0], 255 - x[2, ::-1, :]) and fake_y[0] == y[2]
    with pytest.raises(ValueError, match=r"shape \(n, h, w\)"):
        stand_in_test_split(x.reshape(30, -1), y, 12, keys)
    folder = write_data_folder(tmp_path / "fashion", (x, y), (fake_x, fake_y))
    with pytest.warns(UserWarning):
        data = load_fashion_mnist(path=folder, download=False)
    (x_tr, y_tr), (x_te, y_te) = data
    assert np.array_equal(x_tr, x) and np.array_equal(y_tr, y)
    assert np.array_equal(x_te, fake_x) and np.array_equal(y_te, fake_y) and data.is_sample


def test_the_training_worker_sandbox_sees_the_stand_in_folder_instead_of_the_real_one(tmp_path: Path) -> None:
    import os

    from coursekit.grading.isolated_keras_data import DATA_ENV, hiding_test_data

    folder = tmp_path / "stand-in"
    argv = ["/usr/bin/bwrap", "--clearenv", "--setenv", DATA_ENV, "/data/real", "--ro-bind", "/data/real",
            "/data/real", "--cap-drop", "ALL", "--", "python"]
    out = hiding_test_data(lambda a: argv + a, folder, "/data/real")(["-c", "1"])
    at = out.index("--cap-drop")
    assert out[at - 6:at] == ["--setenv", DATA_ENV, os.path.realpath("/data/real"), "--ro-bind", str(folder),
                              os.path.realpath("/data/real")]
    assert out.index("--clearenv") < at - 6 and out[-2:] == ["-c", "1"]
    plain = hiding_test_data(lambda a: a, folder, None)(["python", "-c", "1"])
    assert plain == ["env", f"{DATA_ENV}={folder}", "python", "-c", "1"]


def test_in_the_real_sandbox_the_worker_loads_the_stand_ins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib
    import os
    import shutil
    import subprocess
    import sys
    import tempfile

    import numpy as np

    from coursekit.grading import sandbox
    from coursekit.grading.isolated_keras_data import DATA_ENV, hiding_test_data, write_data_folder

    if not sandbox.namespace_available():
        pytest.skip(f"bubblewrap cannot run here: {sandbox.bwrap_problem()}")
    x = np.random.default_rng(1).integers(0, 256, size=(6, 28, 28), dtype=np.uint8)
    y = np.arange(6) % 10
    stand_ins = (255 - x[:2, ::-1, :]).astype(np.uint8)
    base = Path(tempfile.mkdtemp(dir="/var/tmp"))  # outside /tmp, which the sandbox replaces anyway
    try:
        os.chmod(base, 0o755)
        real = write_data_folder(base / "real", (x[:4], y[:4]), (x[4:], y[4:]))
        stand_in = write_data_folder(base / "stand-in", (x[:4], y[:4]), (stand_ins, y[:2]))
        monkeypatch.setenv(DATA_ENV, str(real))
        script = ("import warnings, hashlib; warnings.simplefilter('ignore'); from coursekit.data import "
                  "load_fashion_mnist as f; print(hashlib.sha256(f(download=False)[1][0].tobytes()).hexdigest())")

        def seen(wrap: Any) -> str:
            done = subprocess.run(wrap([sys.executable, "-c", script]), capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, done.stderr[-2000:]
            return done.stdout.strip()

        def plain(argv: list[str]) -> list[str]:
            return sandbox.wrap(argv, workdir=None, limits=False)

        assert seen(plain) == hashlib.sha256(x[4:].tobytes()).hexdigest()  # the real test images
        assert seen(hiding_test_data(plain, stand_in, str(real))) == hashlib.sha256(stand_ins.tobytes()).hexdigest()
    finally:
        shutil.rmtree(base, ignore_errors=True)
