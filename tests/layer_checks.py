"""The checks every Keras object of ours passes, in one call each (keras-hub's `run_layer_test` in spirit).

A layer test file calls `run_layer_test` once per layer and keeps only its reference and invariant tests; a
metric test calls `run_metric_test`.
"""

import json
import tempfile
from pathlib import Path

import keras
import numpy as np
from keras import ops

FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")


def _as_tuple(inputs):
    return tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)


def _numpy(value):
    return ops.convert_to_numpy(value)


def _assert_dtype(tensor, expected, what):
    actual = keras.backend.standardize_dtype(tensor.dtype)
    assert actual == expected, f"{what}: dtype {actual}, expected {expected}"


def _assert_config_round_trip(instance):
    """`from_config(get_config())` serialises as the original does (compared as the JSON a `.keras` stores)."""
    serialized = keras.saving.serialize_keras_object(instance)["config"]
    rebuilt = type(instance).from_config(instance.get_config())
    assert json.dumps(keras.saving.serialize_keras_object(rebuilt)["config"]) == json.dumps(serialized)


def run_layer_test(
    layer_class,
    init_kwargs,
    inputs,
    expected_output_shape,
    expected_output_dtype="float32",
    expected_num_trainable_weights=0,
    mixed_precision_output_dtype=None,
    run_training_check=True,
):
    """Config round trip, symbolic and eager calls, a `.keras` round trip, one training step and `dtype=`.

    Args:
        layer_class: the layer's class.
        init_kwargs: constructor arguments (without `dtype`).
        inputs: a numpy array, or a tuple of them for a layer called with several positional inputs.
        expected_output_shape: the eager output's shape; the symbolic one is the same with batch `None`.
        expected_output_dtype: the output dtype under float32.
        expected_num_trainable_weights: trainable variables after the first call.
        mixed_precision_output_dtype: the output dtype with `dtype="mixed_bfloat16"` (default: bfloat16 for
            float outputs, else the float32 one).
        run_training_check: fit one jit-compiled step and check the weights move (for layers with weights
            and a float output).
    """
    inputs = _as_tuple(inputs)
    layer = layer_class(**init_kwargs)
    _assert_config_round_trip(layer)

    symbolic = [keras.Input(np.shape(x)[1:], dtype=keras.backend.standardize_dtype(x.dtype)) for x in inputs]
    symbolic_output = layer(*symbolic)
    assert tuple(symbolic_output.shape) == (None, *expected_output_shape[1:]), symbolic_output.shape
    _assert_dtype(symbolic_output, expected_output_dtype, "symbolic output")

    eager_output = layer(*inputs)
    assert tuple(eager_output.shape) == tuple(expected_output_shape), eager_output.shape
    _assert_dtype(eager_output, expected_output_dtype, "eager output")
    assert len(layer.trainable_weights) == expected_num_trainable_weights, len(layer.trainable_weights)
    _assert_config_round_trip(layer)  # also once built

    model = keras.Model(symbolic, symbolic_output)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "layer.keras"
        model.save(path)
        reloaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(_numpy(reloaded(list(inputs))), _numpy(model(list(inputs))))

    if run_training_check and expected_num_trainable_weights and expected_output_dtype in FLOAT_DTYPES:
        before = [_numpy(weight).copy() for weight in layer.trainable_weights]
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse", jit_compile=True)
        target = np.ones(expected_output_shape, "float32")
        history = model.fit(list(inputs), target, batch_size=expected_output_shape[0], epochs=1, verbose=0)
        assert np.isfinite(history.history["loss"][0])
        after = [_numpy(weight) for weight in layer.trainable_weights]
        assert any(not np.array_equal(b, a) for b, a in zip(before, after)), "one step moved no weight"

    global_policy = keras.mixed_precision.dtype_policy().name
    mixed = layer_class(**init_kwargs, dtype="mixed_bfloat16")
    mixed_output = mixed(*inputs)
    if mixed_precision_output_dtype is None:
        mixed_precision_output_dtype = "bfloat16" if expected_output_dtype in FLOAT_DTYPES else expected_output_dtype
    _assert_dtype(mixed_output, mixed_precision_output_dtype, "output under mixed_bfloat16")
    assert mixed.compute_dtype == "bfloat16" and mixed.variable_dtype == "float32"
    for weight in mixed.weights:
        _assert_dtype(weight, "float32", f"variable {weight.path} under mixed_bfloat16")
    assert keras.mixed_precision.dtype_policy().name == global_policy, "the layer changed the global policy"
    return layer


def run_metric_test(metric_class, init_kwargs, y_true, y_pred, sample_weight, expected_result, rtol=1e-6):
    """Config round trip, the result on one batch, the same from a metric rebuilt from its config, and reset.

    Args:
        metric_class: the metric's class.
        init_kwargs: constructor arguments.
        y_true, y_pred, sample_weight: one batch of `update_state` arguments.
        expected_result: the hand-computed result after that batch.
        rtol: relative tolerance on the result.
    """
    metric = metric_class(**init_kwargs)
    _assert_config_round_trip(metric)
    metric.update_state(y_true, y_pred, sample_weight=sample_weight)
    np.testing.assert_allclose(float(metric.result()), expected_result, rtol=rtol)

    rebuilt = metric_class.from_config(metric.get_config())
    rebuilt.update_state(y_true, y_pred, sample_weight=sample_weight)
    np.testing.assert_allclose(float(rebuilt.result()), expected_result, rtol=rtol)

    metric.reset_state()
    metric.update_state(y_true, y_pred, sample_weight=sample_weight)
    np.testing.assert_allclose(float(metric.result()), expected_result, rtol=rtol)
    return metric
