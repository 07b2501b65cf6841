"""Tests of coursekit.keras_models: architectures, parameter counts, outputs, input checks."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from coursekit import keras_models as km  # noqa: E402


def test_linear_softmax_has_784_times_10_plus_10_parameters():
    assert km.linear_softmax().count_params() == 784 * 10 + 10


def test_baseline_mlp_is_flatten_dense128_dense10():
    model = km.baseline_mlp()
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert [layer.units for layer in dense] == [128, 10]
    assert model.count_params() == (784 * 128 + 128) + (128 * 10 + 10)


def test_small_cnn_stays_under_100k_parameters():
    model = km.small_cnn()
    assert model.count_params() == 34_826
    assert sum(isinstance(layer, keras.layers.Conv2D) for layer in model.layers) == 2


def test_mlp_outputs_class_probabilities():
    model = km.mlp((16, 8), input_shape=(28, 28), n_classes=10)
    p = model.predict(np.random.default_rng(0).random((5, 28, 28), dtype=np.float32), verbose=0)
    assert p.shape == (5, 10)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)
    assert (p > 0).all()


def test_mlp_accepts_2d_points():
    model = km.mlp((8,), input_shape=(2,), n_classes=3)
    assert model.predict(np.zeros((4, 2), np.float32), verbose=0).shape == (4, 3)


def test_mlp_with_batch_norm_drops_the_dense_bias():
    model = km.mlp((32, 16), batch_norm=True)
    hidden = [layer for layer in model.layers if layer.name.startswith("dense_")]
    assert [layer.use_bias for layer in hidden] == [False, False]
    assert sum(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers) == 2


def test_improved_mlp_dropout_is_off_at_inference():
    model = km.improved_mlp(dropout=0.5)
    assert sum(isinstance(layer, keras.layers.Dropout) for layer in model.layers) == 2
    x = np.random.default_rng(1).random((3, 28, 28), dtype=np.float32)
    # Dropout at p=0.5 would change the outputs by far more than float noise; the tolerance
    # is for a threaded reduction that may sum in another order when the machine is loaded.
    np.testing.assert_allclose(model.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6, atol=1e-7)


def test_softmax_stays_float32_under_mixed_precision():
    old = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = km.baseline_mlp()
        assert model.get_layer("logits").compute_dtype == "float16"
        assert model(np.zeros((2, 28, 28), np.float32)).dtype.name == "float32"
    finally:
        keras.mixed_precision.set_global_policy(old)


def test_mlp_rejects_dropout_of_one():
    with pytest.raises(ValueError, match=r"mlp: dropout is a probability in \[0, 1\)"):
        km.mlp((8,), dropout=1.0)


def test_small_cnn_rejects_flat_input_shape():
    with pytest.raises(ValueError, match=r"small_cnn: input_shape must be \(height, width\)"):
        km.small_cnn(input_shape=(784,))


def test_linear_softmax_rejects_one_class():
    with pytest.raises(ValueError, match="n_classes must be an int >= 2"):
        km.linear_softmax(n_classes=1)


def test_compile_classifier_rejects_unknown_optimizer():
    with pytest.raises(ValueError, match="optimizer must be 'adam' or 'sgd', got 'rmsprop'"):
        km.compile_classifier(km.linear_softmax(), optimizer="rmsprop")


def test_compiled_mlp_learns_a_separable_problem():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 2)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int32)
    model = km.compile_classifier(
        km.mlp((8,), input_shape=(2,), n_classes=2), learning_rate=0.05, steps_per_execution=8
    )
    hist = model.fit(x, y, epochs=8, batch_size=32, verbose=0)
    assert hist.history["loss"][-1] < 0.5 * hist.history["loss"][0]
    assert hist.history["accuracy"][-1] > 0.95
