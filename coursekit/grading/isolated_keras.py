"""A Keras model as plain data: how a model made by student code may enter the grading process.

Building block for isolated grading of ``fashion_mnist_keras`` (issue 11,
section 3; **not wired into the grading path yet**, see docs/instructor.md):
the sandboxed worker would train the student's model and send back the bytes
of ``model.save("x.keras")``, and the grading process would load them here
instead of receiving an object.

A ``.keras`` file is a zip archive of ``config.json`` (the architecture as
JSON), ``metadata.json`` and ``model.weights.h5``. Loading one runs
``keras.saving.load_model``, which builds the classes the config names. Even
with ``safe_mode=True`` (which refuses the bytecode of ``Lambda`` layers),
that has had holes (CVE-2025-1550, fixed in Keras 3.9 by its advisory, not
reproduced here: a config could name any module to import). So
:func:`archive_problems` first reads the archive with the
standard library only and accepts it only when it is small, holds exactly
those three members, and every object its config names is a Keras built-in
of an allowed list (the layers of an image classifier: no ``Lambda``, no
``TFSMLayer``, no layer that reads files), with no registered custom object; then
:func:`load_untrusted_model` loads it with ``safe_mode=True``. Nothing here
unpickles. What remains: the weights file is parsed by HDF5 (C code) in the
calling process; a worker could instead send the weights as plain arrays.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from typing import Any

#: Largest archive accepted, and the most its members may unpack to (a zip bomb is refused).
MAX_ARCHIVE = 64 * 1024**2
MAX_UNPACKED = 256 * 1024**2
MEMBERS = frozenset({"config.json", "metadata.json", "model.weights.h5"})
#: The layers an image classifier of this course may use (a layer that reads files, e.g. the
#: vocabulary of ``StringLookup``, or carries code, e.g. ``Lambda``, is not among them).
LAYERS = frozenset({
    "InputLayer", "Flatten", "Dense", "Dropout", "SpatialDropout2D", "GaussianNoise", "Activation", "ReLU",
    "LeakyReLU", "Softmax", "Reshape", "Rescaling", "Normalization", "BatchNormalization", "LayerNormalization",
    "Conv1D", "Conv2D", "SeparableConv2D", "DepthwiseConv2D", "MaxPooling2D", "AveragePooling2D",
    "GlobalAveragePooling2D", "GlobalMaxPooling2D", "ZeroPadding2D", "UpSampling2D", "Add", "Concatenate",
    "RandomFlip", "RandomRotation", "RandomTranslation", "RandomZoom", "RandomContrast"})
#: Module -> the classes a model config may name from it (``None``: any built-in of that module).
ALLOWED: dict[str, frozenset[str] | None] = {
    "keras": frozenset({"Sequential", "Functional", "DTypePolicy", "FloatDTypePolicy"}),
    "keras.src.models.functional": frozenset({"Functional"}),
    "keras.src.models.sequential": frozenset({"Sequential"}),
    "keras.layers": LAYERS,
    "keras.initializers": None, "keras.regularizers": None, "keras.constraints": None,
    "keras.optimizers": None, "keras.optimizers.schedules": None, "keras.losses": None,
    "keras.metrics": None, "keras.activations": None,
}
_MAX_DEPTH = 64


class UntrustedModelError(ValueError):
    """A ``.keras`` archive the grader refuses to load (the message says why)."""


def _config_problems(node: Any, where: str, depth: int, out: list[str]) -> None:
    if depth > _MAX_DEPTH:
        out.append(f"{where}: the configuration is nested too deeply")
        return
    if isinstance(node, list):
        for i, item in enumerate(node):
            _config_problems(item, f"{where}[{i}]", depth + 1, out)
        return
    if not isinstance(node, dict):
        return
    if "class_name" in node:
        name, module = node.get("class_name"), node.get("module")
        registered = node.get("registered_name")
        label = f"{where}: {module}.{name}"
        allowed = ALLOWED.get(module, frozenset()) if isinstance(module, str) else frozenset()
        if name == "function":
            if module not in ALLOWED or module == "keras.layers" or not isinstance(node.get("config"), str):
                out.append(f"{label} names a function that is not a Keras built-in")
        elif module not in ALLOWED:
            out.append(f"{label} is not a Keras built-in (custom classes cannot be graded)")
        elif allowed is not None and name not in allowed:
            out.append(f"{label} is not one of the layers the grader accepts ({', '.join(sorted(LAYERS))})"
                       if module == "keras.layers" else f"{label} is not accepted by the grader")
        if isinstance(registered, str) and (">" in registered or registered not in (name, "function")):
            out.append(f"{label} is a registered custom object ({registered!r})")
    for key, value in node.items():
        _config_problems(value, f"{where}.{key}", depth + 1, out)


def archive_problems(data: bytes) -> list[str]:
    """Why the bytes of a ``.keras`` file may not be loaded by the grader (empty: they may).

    Parameters
    ----------
    data : bytes
        The whole file, as written by ``model.save("name.keras")``.

    Returns
    -------
    list of str
        One message per problem found (stdlib only: nothing of the archive is executed).
    """
    if not isinstance(data, (bytes, bytearray)):
        raise TypeError(f"archive_problems: expected the bytes of a .keras file, got {type(data).__name__}")
    if len(data) > MAX_ARCHIVE:
        return [f"the model file has {len(data):,} bytes, more than the {MAX_ARCHIVE:,} accepted"]
    try:
        archive = zipfile.ZipFile(io.BytesIO(bytes(data)))
        infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        return [f"not a .keras file (a zip archive): {exc}"]
    names = [i.filename for i in infos]
    if sorted(names) != sorted(MEMBERS):
        return [f"a .keras file holds {sorted(MEMBERS)}, this one {sorted(names)[:10]}"]
    if sum(i.file_size for i in infos) > MAX_UNPACKED:
        return [f"the model file unpacks to more than {MAX_UNPACKED:,} bytes"]
    try:
        config = json.loads(archive.read("config.json"))
        json.loads(archive.read("metadata.json"))
    except Exception as exc:  # noqa: BLE001 - corrupt data, a hostile nesting depth: refused
        return [f"the model's configuration cannot be read: {type(exc).__name__}: {str(exc)[:200]}"]
    problems: list[str] = []
    _config_problems(config, "model", 0, problems)
    return problems


def load_untrusted_model(data: bytes, *, compile: bool = True) -> Any:
    """Load a model made by student code from the bytes of its ``.keras`` file.

    Parameters
    ----------
    data : bytes
        The file's bytes (checked with :func:`archive_problems` first).
    compile : bool
        Restore the optimizer, loss and metrics as well (default).

    Returns
    -------
    keras.Model

    Raises
    ------
    UntrustedModelError
        When the archive is refused or Keras cannot load it (safe mode).
    """
    problems = archive_problems(data)
    if problems:
        raise UntrustedModelError("the grader refuses this model: " + "; ".join(problems[:5]))
    import keras

    fd, path = tempfile.mkstemp(suffix=".keras")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(bytes(data))
        return keras.saving.load_model(path, compile=compile, safe_mode=True)
    except UntrustedModelError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure is the file's
        raise UntrustedModelError(f"the grader could not load this model ({type(exc).__name__}: {exc})") from None
    finally:
        os.unlink(path)
