"""Keras model builders used by the MNIST / Fashion-MNIST lectures and the benchmark.

Every builder returns an *uncompiled* ``keras.Sequential`` that maps a batch of
images (or 2-D points) to class probabilities:

================  ==============================================================
builder           architecture
================  ==============================================================
``linear_softmax``  Flatten -> Dense(k) -> softmax  (multinomial logistic regression)
``mlp``             Flatten -> [Dense(h) -> (BatchNorm) -> ReLU -> (Dropout)] x L -> Dense(k) -> softmax
``baseline_mlp``    ``mlp(hidden=(128,))``: Flatten, Dense 128 ReLU, Dense 10 (the Keras tutorial model)
``improved_mlp``    ``mlp(hidden=(256, 128), batch_norm=True, dropout=0.3)``
``small_cnn``       Reshape -> Conv 3x3 (32) -> MaxPool -> Conv 3x3 (64) -> MaxPool -> Flatten -> Dropout -> Dense(k) -> softmax
================  ==============================================================

Inputs are expected as float32 in [0, 1] (see :func:`coursekit.tfdata.image_dataset`).
The final softmax layer always computes in float32, so the models are safe
under the ``mixed_float16`` policy (float16 probabilities lose precision and
make the cross-entropy inaccurate).

:func:`compile_classifier` compiles a model with Adam, sparse categorical
cross-entropy and accuracy, which is what every lecture uses.

TensorFlow/Keras are imported inside the functions, so importing this module is cheap.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "baseline_mlp",
    "compile_classifier",
    "improved_mlp",
    "linear_softmax",
    "mlp",
    "small_cnn",
]


def _check_shape(input_shape: Sequence[int], func: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(d) for d in input_shape)
    except TypeError:
        raise TypeError(
            f"{func}: input_shape must be a tuple of positive ints such as (28, 28) or (2,), "
            f"got {input_shape!r}"
        ) from None
    if not shape or any(d <= 0 for d in shape):
        raise ValueError(
            f"{func}: input_shape must be a non-empty tuple of positive ints such as "
            f"(28, 28) or (2,), got {input_shape!r}"
        )
    return shape


def _check_classes(n_classes: int, func: str) -> int:
    if int(n_classes) != n_classes or n_classes < 2:
        raise ValueError(f"{func}: n_classes must be an int >= 2, got {n_classes!r}")
    return int(n_classes)


def _softmax_head(keras: Any, n_classes: int) -> list:
    # Logits in the compute dtype, probabilities always in float32 (mixed precision safe).
    return [
        keras.layers.Dense(n_classes, name="logits"),
        keras.layers.Activation("softmax", dtype="float32", name="probabilities"),
    ]


def linear_softmax(
    input_shape: Sequence[int] = (28, 28), n_classes: int = 10, *, name: str = "linear_softmax"
) -> Any:
    """Multinomial logistic regression: ``p = softmax(W x + b)`` on the flattened input.

    Parameters
    ----------
    input_shape : shape of one example, e.g. ``(28, 28)`` for an image or ``(2,)`` for a point.
    n_classes : number of classes k.
    name : model name.

    Returns
    -------
    keras.Sequential
        Uncompiled; D * k + k parameters (7,850 for 28x28 images and 10 classes).
    """
    import keras

    shape = _check_shape(input_shape, "linear_softmax")
    k = _check_classes(n_classes, "linear_softmax")
    return keras.Sequential(
        [keras.Input(shape=shape), keras.layers.Flatten(name="flatten"), *_softmax_head(keras, k)],
        name=name,
    )


def mlp(
    hidden: Sequence[int] = (256, 128),
    *,
    input_shape: Sequence[int] = (28, 28),
    n_classes: int = 10,
    activation: str = "relu",
    dropout: float = 0.0,
    batch_norm: bool = False,
    name: str = "mlp",
) -> Any:
    """A fully connected network: ``len(hidden)`` hidden layers, then a softmax output.

    Each hidden block is ``Dense(h) -> [BatchNormalization] -> activation -> [Dropout]``.
    With batch normalization the Dense layer has no bias (the BatchNorm shift replaces it).

    Parameters
    ----------
    hidden : widths of the hidden layers, e.g. ``(256, 128)``; ``()`` gives :func:`linear_softmax`.
    input_shape : shape of one example, e.g. ``(28, 28)`` or ``(2,)``.
    n_classes : number of classes k.
    activation : Keras activation name of the hidden layers.
    dropout : drop probability p after each hidden layer, 0 <= p < 1 (0 = no dropout).
    batch_norm : insert BatchNormalization before each activation.
    name : model name.

    Returns
    -------
    keras.Sequential
        Uncompiled.
    """
    import keras

    shape = _check_shape(input_shape, "mlp")
    k = _check_classes(n_classes, "mlp")
    widths = [int(h) for h in hidden]
    if any(h <= 0 for h in widths):
        raise ValueError(f"mlp: hidden widths must be positive ints, got {tuple(hidden)!r}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"mlp: dropout is a probability in [0, 1), got {dropout!r}")
    layers: list = [keras.Input(shape=shape), keras.layers.Flatten(name="flatten")]
    for i, h in enumerate(widths, start=1):
        layers.append(keras.layers.Dense(h, use_bias=not batch_norm, name=f"dense_{i}"))
        if batch_norm:
            layers.append(keras.layers.BatchNormalization(name=f"batch_norm_{i}"))
        layers.append(keras.layers.Activation(activation, name=f"{activation}_{i}"))
        if dropout > 0:
            layers.append(keras.layers.Dropout(dropout, name=f"dropout_{i}"))
    layers += _softmax_head(keras, k)
    return keras.Sequential(layers, name=name)


def baseline_mlp(
    input_shape: Sequence[int] = (28, 28), n_classes: int = 10, *, name: str = "baseline_mlp"
) -> Any:
    """The baseline of the Keras Fashion-MNIST tutorial: Flatten, Dense 128 ReLU, Dense 10.

    101,770 parameters for 28x28 inputs and 10 classes.
    """
    return mlp((128,), input_shape=input_shape, n_classes=n_classes, name=name)


def improved_mlp(
    input_shape: Sequence[int] = (28, 28),
    n_classes: int = 10,
    *,
    hidden: Sequence[int] = (256, 128),
    dropout: float = 0.3,
    name: str = "improved_mlp",
) -> Any:
    """A wider, regularized MLP: Dense -> BatchNorm -> ReLU -> Dropout per hidden layer."""
    return mlp(
        hidden,
        input_shape=input_shape,
        n_classes=n_classes,
        dropout=dropout,
        batch_norm=True,
        name=name,
    )


def small_cnn(
    input_shape: Sequence[int] = (28, 28),
    n_classes: int = 10,
    *,
    filters: Sequence[int] = (32, 64),
    dropout: float = 0.25,
    name: str = "small_cnn",
) -> Any:
    """A small convolutional net (a preview of the next course).

    ``(28, 28)`` grayscale images are reshaped to ``(28, 28, 1)``; each entry of
    ``filters`` adds a 3x3 ReLU convolution followed by 2x2 max pooling. With the
    defaults: 34,826 parameters, the size class of the "2-conv net under 100K
    parameters" that reaches about 92.5% on Fashion-MNIST.
    """
    import keras

    shape = _check_shape(input_shape, "small_cnn")
    k = _check_classes(n_classes, "small_cnn")
    if len(shape) == 2:
        image_shape = (*shape, 1)
    elif len(shape) == 3:
        image_shape = shape
    else:
        raise ValueError(
            f"small_cnn: input_shape must be (height, width) or (height, width, channels), "
            f"got {input_shape!r}"
        )
    if not filters:
        raise ValueError("small_cnn: filters must name at least one convolution, got ()")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"small_cnn: dropout is a probability in [0, 1), got {dropout!r}")
    layers: list = [keras.Input(shape=shape), keras.layers.Reshape(image_shape, name="add_channel")]
    for i, f in enumerate(filters, start=1):
        layers.append(keras.layers.Conv2D(int(f), 3, activation="relu", name=f"conv_{i}"))
        layers.append(keras.layers.MaxPooling2D(2, name=f"pool_{i}"))
    layers.append(keras.layers.Flatten(name="flatten"))
    if dropout > 0:
        layers.append(keras.layers.Dropout(dropout, name="dropout"))
    layers += _softmax_head(keras, k)
    return keras.Sequential(layers, name=name)


def compile_classifier(
    model: Any,
    *,
    learning_rate: float = 1e-3,
    optimizer: str = "adam",
    jit_compile: bool | str = False,
    steps_per_execution: int = 1,
) -> Any:
    """Compile ``model`` for classification with integer labels; returns the same model.

    Loss: sparse categorical cross-entropy ``-log p_y`` (labels are class indices
    0..k-1, the model outputs probabilities); metric: accuracy of ``argmax p``.

    Parameters
    ----------
    model : a Keras model ending in a softmax (e.g. from this module).
    learning_rate : step size of the optimizer.
    optimizer : ``"adam"`` or ``"sgd"``.
    jit_compile : compile the training step with XLA (``True``; worth it on GPUs) or not.
    steps_per_execution : training steps per call into TensorFlow; larger values cut
        Keras's per-step overhead (a cheap win on CPUs for small models).
    """
    import keras

    if optimizer == "adam":
        opt = keras.optimizers.Adam(learning_rate)
    elif optimizer == "sgd":
        opt = keras.optimizers.SGD(learning_rate)
    else:
        raise ValueError(f"compile_classifier: optimizer must be 'adam' or 'sgd', got {optimizer!r}")
    if int(steps_per_execution) < 1:
        raise ValueError(
            f"compile_classifier: steps_per_execution must be >= 1, got {steps_per_execution!r}"
        )
    model.compile(
        optimizer=opt,
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        jit_compile=jit_compile,
        steps_per_execution=int(steps_per_execution),
    )
    return model
