"""Check gradients and array results, and say *what* is wrong when they fail.

Three layers, each usable on its own:

1. ``numerical_gradient`` and ``rel_error``: the textbook tools (central
   differences, relative error), as in CS231n's ``gradient_check.py``.
2. ``diagnose_gradient``: compares a student's gradient with the correct one
   and recognises the usual mistakes (wrong sign, transposed, off by the
   batch size, bias not summed over the batch, gradient of the wrong
   variable, NaN, a constant factor, and mistakes the caller describes).
   ``gradient_check`` runs 1 and 2 over all parameters of a model.
3. ``assert_*``: assertion helpers for tests and autograders. Their
   ``AssertionError`` messages name the function and the variable, say what
   was expected and what was found, and add the diagnosis.

Robustness: the numpy functions used here are captured when this module is
imported, and comparisons use plain array operators. A student's
``np.allclose = lambda *a, **k: True`` (or a patched ``np.isclose``,
``np.abs``, ...) later on does not change any verdict. Arrays handed in are
converted with the captured ``np.asarray`` to plain ``float64`` arrays, so an
ndarray subclass with rigged comparison operators cannot fool them either.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "GREAT_THRESHOLD",
    "PASS_THRESHOLD",
    "SUSPICIOUS_THRESHOLD",
    "GradCheckResult",
    "assert_close",
    "assert_dtype",
    "assert_finite",
    "assert_gradient_close",
    "assert_shape",
    "diagnose_gradient",
    "gradient_check",
    "numerical_gradient",
    "rel_error",
]

# --- numpy functions captured at import time (see "Robustness" above) -------
_asarray = np.asarray
_isfinite = np.isfinite
_isnan = np.isnan
_abs = np.abs
_atleast_1d = np.atleast_1d
_unravel_index = np.unravel_index
_ndindex = np.ndindex
_zeros = np.zeros
_float64 = np.float64
_ndarray = np.ndarray
_issubdtype = np.issubdtype
_dtype = np.dtype
_floating = np.floating
_number = np.number
_bool = np.bool_
_errstate = np.errstate
_ABSTRACT_DTYPES = (np.floating, np.integer, np.number, np.inexact,
                    np.signedinteger, np.unsignedinteger, np.complexfloating)

# --- thresholds for the max relative error of a float64 gradient check ------
# Central differences with eps = 1e-5 have a truncation error of order
# eps**2 * f''' ~ 1e-10 and a rounding error of order 1e-16 * |f| / eps ~ 1e-11
# relative to the loss, so a correct gradient of a smooth loss typically
# scores 1e-11 .. 1e-8.
GREAT_THRESHOLD = 1e-7
"""Below this: the gradient is right (typical for smooth losses in float64)."""
PASS_THRESHOLD = 1e-5
"""Below this: pass. Between 1e-7 and 1e-5 happens when a ReLU kink is near."""
SUSPICIOUS_THRESHOLD = 1e-3
"""Below this but above PASS: suspicious (kink crossed, float32 somewhere, or
a small bug). Above: the gradient is wrong."""

_TINY = 1e-8
"""Floor of the denominator in rel_error (as in CS231n): entries where both
gradients are below about 1e-8 are compared in absolute terms."""

_NOISE_FRACTION = 1e-3
"""In gradient_check, entries smaller than 1/1000 of the largest entry of the
numerical gradient are measured against 1/1000 of that largest entry. Their
numerical estimate is dominated by rounding noise (about 1e-16 |loss| / eps
~ 1e-11 absolute), so dividing by their own tiny size would fail correct
gradients (a correct entry of 1e-6 would score ~1e-5). A wrong tiny entry
still fails: off by 100 % it scores about |g| / (1e-3 max|g|)."""

_MATCH_RTOL = 1e-4
"""Two arrays "match" for diagnosis when max|a - b| <= 1e-4 * max|b|."""


# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------


def _prefix(func: str | None) -> str:
    return f"{func}: " if func else ""


def _fmt_shape(shape: Sequence[Any]) -> str:
    return str(tuple(shape))


def _fmt_num(x: float) -> str:
    return f"{x:.6g}"


def _to_float_array(x: Any) -> np.ndarray | None:
    """``x`` as a plain (not a subclass) float64 ndarray, or None if not numeric."""
    try:
        arr = _asarray(x)
        if arr.dtype == object or not (
            _issubdtype(arr.dtype, _number) or arr.dtype == _bool
        ):
            return None
        return _asarray(arr, dtype=_float64)
    except (TypeError, ValueError):
        return None


_NOT_A_D_PREFIX = ("delta", "data", "dense", "dropout", "decay", "dist")


def _variable_of(name: str) -> str:
    """'dW2' -> 'W2', 'grad_b' -> 'b'; anything else unchanged."""
    if name.startswith("grad_") and len(name) > 5:
        return name[5:]
    if name.startswith("d") and len(name) > 1 and not name.startswith(_NOT_A_D_PREFIX):
        return name[1:]
    return name


def _matches(a: np.ndarray, b: np.ndarray) -> bool:
    """True when a and b have the same shape and agree to 1e-4 of b's scale."""
    if a.shape != b.shape:
        return False
    scale = float(_abs(b).max()) if b.size else 0.0
    return float(_abs(a - b).max(initial=0.0)) <= _MATCH_RTOL * scale + 1e-12


def _best_factor(a: np.ndarray, b: np.ndarray) -> float | None:
    """The c with a == c * b (if a is a multiple of b), else None."""
    denom = float((b * b).sum())
    if denom == 0.0:
        return None
    c = float((a * b).sum()) / denom
    return c if c != 0.0 and _matches(a, c * b) else None


def _describe_factor(c: float) -> str:
    """2.0 -> '2 times', 0.5 -> '1/2 of', 1.37 -> '1.37 times'."""
    for k in range(2, 1001):
        if abs(c - k) <= 1e-3 * k:
            return f"{k} times"
        if abs(c - 1.0 / k) <= 1e-3 / k:
            return f"1/{k} of"
    return f"{c:.3g} times"


# ---------------------------------------------------------------------------
# 1. Numerical gradient and relative error
# ---------------------------------------------------------------------------


def _require_float64_arrays(arrays: tuple[Any, ...]) -> None:
    if not arrays:
        raise TypeError("numerical_gradient: pass at least one array after f.")
    for i, a in enumerate(arrays):
        if not isinstance(a, _ndarray):
            raise TypeError(
                f"numerical_gradient: argument {i} is a {type(a).__name__}, not a numpy "
                "array; it is changed in place, so pass np.array(..., dtype=np.float64)."
            )
        if a.dtype != _float64:
            raise TypeError(
                f"numerical_gradient: argument {i} has dtype {a.dtype}, but numerical "
                "gradients need float64 (float32 rounding swamps the small steps); "
                "convert it first with x = x.astype(np.float64)."
            )
        if not a.flags.writeable:
            raise TypeError(f"numerical_gradient: argument {i} is read-only; pass a copy.")


def _scalar(value: Any) -> float:
    arr = _asarray(value)
    if arr.size != 1:
        raise ValueError(
            "numerical_gradient: f must return one number (the loss), but it returned "
            f"an array of shape {_fmt_shape(arr.shape)}; did you forget to sum or average?"
        )
    return float(arr.reshape(()))


def _partial_derivatives(f: Callable[..., Any], arrays: tuple[np.ndarray, ...],
                         x: np.ndarray, eps: float) -> np.ndarray:
    grad = _zeros(x.shape, dtype=_float64)
    for idx in _ndindex(x.shape):
        old = x[idx]
        try:
            x[idx] = old + eps
            f_plus = _scalar(f(*arrays))
            x[idx] = old - eps
            f_minus = _scalar(f(*arrays))
        finally:
            x[idx] = old  # exact: the very same float64 value goes back
        grad[idx] = (f_plus - f_minus) / (2.0 * eps)
    return grad


def numerical_gradient(f: Callable[..., Any], *arrays: np.ndarray,
                       eps: float = 1e-5) -> np.ndarray | tuple[np.ndarray, ...]:
    """Central-difference gradient of the scalar ``f(*arrays)`` with respect to each array.

    df/dx[i] ~ (f(x + eps e_i) - f(x - eps e_i)) / (2 eps), one entry at a time.

    Parameters
    ----------
    f : callable
        ``f(*arrays)`` returns one number (the loss).
    *arrays : float64 ndarrays
        Perturbed in place while ``f`` runs and restored bit for bit afterwards,
        even when ``f`` raises.
    eps : float
        Step size; 1e-5 balances truncation and rounding error in float64.

    Returns
    -------
    One float64 array of the same shape per input (a single array for one input).
    """
    _require_float64_arrays(arrays)
    grads = tuple(_partial_derivatives(f, arrays, x, eps) for x in arrays)
    return grads[0] if len(grads) == 1 else grads


def rel_error(a: Any, b: Any, *, floor: float = _TINY) -> float:
    """Max elementwise relative error |a - b| / max(|a| + |b|, floor).

    0 for identical arrays, about 1 (or more) when they have nothing in common.
    See GREAT_THRESHOLD, PASS_THRESHOLD and SUSPICIOUS_THRESHOLD for what the
    number means for a float64 gradient check. ``floor`` (default 1e-8, as in
    CS231n) keeps entries that are both almost 0 from dividing by ~0.
    """
    a_arr, b_arr = _to_float_array(a), _to_float_array(b)
    if a_arr is None or b_arr is None:
        raise TypeError("rel_error: both arguments must be numeric arrays.")
    if a_arr.shape != b_arr.shape:
        raise ValueError(
            f"rel_error: shapes differ: {_fmt_shape(a_arr.shape)} vs {_fmt_shape(b_arr.shape)}."
        )
    if a_arr.size == 0:
        return 0.0
    with _errstate(invalid="ignore"):
        denom = _atleast_1d(_abs(a_arr) + _abs(b_arr))  # 0-d arrays too
        denom[~(denom >= floor)] = floor  # also replaces NaN
        err = _atleast_1d(_abs(a_arr - b_arr)) / denom
    err[~_isfinite(err)] = math.inf
    return float(err.max())


# ---------------------------------------------------------------------------
# 2. Diagnosis
# ---------------------------------------------------------------------------


def _diagnose_missing(name: str, analytic: Any) -> str | None:
    if analytic is None:
        return f"{name} is None: did you forget to compute or return it?"
    if _to_float_array(analytic) is None:
        return f"{name} is a {type(analytic).__name__}, not an array of numbers."
    return None


def _diagnose_not_finite(name: str, a: np.ndarray) -> str | None:
    bad = ~_isfinite(a)
    if not bad.any():
        return None
    n_nan = int(_isnan(a).sum())
    n_inf = int(bad.sum()) - n_nan
    what = " and ".join(p for p in (f"{n_nan} NaN" * bool(n_nan),
                                     f"{n_inf} infinite" * bool(n_inf)) if p)
    return (
        f"{name} contains {what} value(s) (out of {a.size}). Usual causes: log(0) in the "
        "loss, exp of a large number (a softmax or sigmoid without the stable trick), a "
        "division by zero, or a learning rate so large that the weights blew up."
    )


def _diagnose_known(name: str, a: np.ndarray,
                    known_mistakes: Mapping[str, Any] | None) -> str | None:
    cause = _known_cause(a, known_mistakes)
    return f"{name}: {cause[len('Likely cause: '):]}" if cause else None


def _diagnose_bias_shape(name: str, a: np.ndarray, e: np.ndarray,
                         batch_size: int | None) -> str | None:
    n = e.size
    if e.ndim > 2 or (e.ndim == 2 and e.shape[0] != 1) or a.ndim != 2 or a.shape[1] != n:
        return None
    if a.shape[0] == 1 or (batch_size is not None and a.shape[0] != batch_size):
        return None
    var = _variable_of(name)
    msg = (
        f"{name} has shape {_fmt_shape(a.shape)}, one row per example, but it must have "
        f"the shape of {var}, {_fmt_shape(e.shape)}: did you forget to sum over the batch "
        f"(axis=0)? A bias is shared by all examples, so its gradient adds up their "
        "contributions."
    )
    if _matches(a.sum(axis=0).reshape(e.shape), e):
        msg += " Summing your rows over axis 0 gives the right values."
    return msg


def _diagnose_shape(name: str, a: np.ndarray, e: np.ndarray,
                    batch_size: int | None) -> str | None:
    if a.shape == e.shape:
        return None
    bias = _diagnose_bias_shape(name, a, e, batch_size)
    if bias:
        return bias
    var = _variable_of(name)
    msg = (f"{name} has shape {_fmt_shape(a.shape)} but should have shape "
           f"{_fmt_shape(e.shape)}, the shape of {var}")
    if a.ndim == 2 and a.shape == e.shape[::-1]:
        msg += ": the dimensions are swapped, so something is transposed"
        if _matches(a.T, e):
            msg += f" (your {name}.T has the right values)"
        return msg + ". Check the order of the factors in the matrix product."
    if a.size == e.size:
        msg += ": same number of entries, different arrangement"
        if _matches(a.reshape(e.shape), e):
            msg += " (the values are right once reshaped)"
        return msg + ". Check reshape / keepdims."
    msg += ". A gradient always has the shape of its variable; this looks like the gradient of "
    if batch_size is not None and a.ndim >= 1 and a.shape[0] == batch_size:
        return msg + ("something with one row per example (activations or pre-activations "
                      "of a layer), not of the parameter.")
    return msg + "a different variable."


def _diagnose_values(name: str, a: np.ndarray, e: np.ndarray,
                     batch_size: int | None) -> str | None:
    if not _abs(a).max(initial=0.0) > 0:
        return (f"{name} is all zeros but the correct gradient is not: was it computed and "
                "assigned? (Is the gradient blocked, e.g. by a step function or a dead ReLU?)")
    if a.ndim == 2 and a.shape[0] == a.shape[1] and _matches(a.T, e):
        return (f"{name} is transposed: {name}.T has the right values. Check the order of "
                "the factors in the matrix product.")
    if _matches(a, -e):
        return (f"{name} has the wrong sign: it equals minus the correct gradient. Check "
                "the sign of the loss derivative (e.g. y_hat - y, not y - y_hat).")
    return _diagnose_batch_factor(name, a, e, batch_size) or _diagnose_factor(name, a, e)


def _diagnose_batch_factor(name: str, a: np.ndarray, e: np.ndarray,
                           batch_size: int | None) -> str | None:
    if not batch_size or batch_size == 1:
        return None
    b = batch_size
    if _matches(a, e * b):
        return (f"{name} is off by a factor of {b} = batch size (too large): did you "
                "average the loss over the batch in the forward pass but not in the "
                "backward pass? Divide by the batch size once, where the loss is averaged.")
    if _matches(a, e / b):
        hint = (" For a bias: take the sum over the batch (axis=0), not the mean; the 1/B "
                "is already in the upstream gradient.") if e.ndim == 1 else ""
        return (f"{name} is off by a factor of {b} = batch size (too small): did you divide "
                "by the batch size in the backward pass although the loss is a sum over the "
                f"batch, or divide twice?{hint}")
    return None


def _diagnose_factor(name: str, a: np.ndarray, e: np.ndarray) -> str | None:
    c = _best_factor(a, e) if a.size > 1 else None  # any single number is a multiple
    if c is None:
        return None
    if c < 0:
        return (f"{name} has the wrong sign and is {_describe_factor(-c)} the size of the "
                "correct gradient.")
    hint = ""
    if abs(c - 2.0) < 2e-3 or abs(c - 0.5) < 1e-3:
        hint = (" A factor 2 often comes from the squared loss: d/dy (y - t)^2 = 2 (y - t), "
                "unless the loss has a 1/2 in front.")
    return (f"{name} is {_describe_factor(c)} the correct gradient: a constant factor is "
            f"missing or extra.{hint}")


def _diagnose_partial(name: str, a: np.ndarray, e: np.ndarray) -> str | None:
    wrong = ~(_abs(a - e) <= _MATCH_RTOL * float(_abs(e).max()) + 1e-12)
    n_wrong = int(wrong.sum())
    if n_wrong == a.size:
        return None
    msg = f"{name} is right in {a.size - n_wrong} of {a.size} entries but wrong in {n_wrong}"
    zero_wrong = wrong & (a == 0)
    if zero_wrong.sum() == n_wrong:
        msg += ", where it is 0 but should not be (a mask such as the ReLU derivative misapplied?)"
    elif a.ndim == 2:
        rows = sorted({int(r) for r in wrong.nonzero()[0]})
        cols = sorted({int(c) for c in wrong.nonzero()[1]})
        if len(rows) < a.shape[0] and len(rows) <= 5:
            msg += f", all in row(s) {rows}"
        elif len(cols) < a.shape[1] and len(cols) <= 5:
            msg += f", all in column(s) {cols}"
    return msg + "."


def diagnose_gradient(name: str, analytic: Any, expected: Any, *,
                      batch_size: int | None = None,
                      known_mistakes: Mapping[str, Any] | None = None) -> str | None:
    """Explain in one or two sentences what is wrong with a gradient, if recognisable.

    Parameters
    ----------
    name : str
        The gradient's name as the student knows it, e.g. ``"dW2"`` (the
        variable is taken to be ``W2``).
    analytic : array
        The student's gradient.
    expected : array
        The correct gradient (e.g. a numerical one).
    batch_size : int, optional
        Enables the "off by the batch size" and "one row per example" checks.
    known_mistakes : dict, optional
        message -> the gradient that mistake produces, for mistakes only the
        caller can compute (a missing ReLU or sigmoid derivative, ReLU'
        evaluated on the output instead of z, ...). Checked first.

    Returns
    -------
    str or None
        The diagnosis, or None when the gradient is right or no known pattern fits.

    The checks run from the most specific to the most generic: missing, NaN/inf,
    caller-supplied mistakes, shape (bias not summed, transposed, reshaped, wrong
    variable), all zeros, transposed (square), wrong sign, off by the batch size,
    a constant factor, and finally "right in k of n entries".
    """
    missing = _diagnose_missing(name, analytic)
    if missing:
        return missing
    a, e = _to_float_array(analytic), _to_float_array(expected)
    if e is None:
        raise TypeError("diagnose_gradient: expected must be a numeric array.")
    for check in (lambda: _diagnose_not_finite(name, a),
                  lambda: _diagnose_known(name, a, known_mistakes),
                  lambda: _diagnose_shape(name, a, e, batch_size)):
        msg = check()
        if msg:
            return msg
    if not _isfinite(e).all() or _matches(a, e):
        return None
    return _diagnose_values(name, a, e, batch_size) or _diagnose_partial(name, a, e)


# ---------------------------------------------------------------------------
# Gradient check over all parameters
# ---------------------------------------------------------------------------


def _verdict(err: float, tol: float) -> str:
    if err < GREAT_THRESHOLD:
        return "great"
    if err < tol:
        return "ok"
    return "suspicious" if err < SUSPICIOUS_THRESHOLD else "wrong"


@dataclass
class GradCheckResult:
    """Outcome of ``gradient_check``.

    Attributes
    ----------
    errors : dict
        parameter name -> max relative error (inf when shapes differ or no gradient).
    messages : dict
        parameter name -> diagnosis (only for parameters that failed).
    tol : float
        The pass threshold used.
    """

    errors: dict[str, float]
    messages: dict[str, str] = field(default_factory=dict)
    tol: float = PASS_THRESHOLD

    @property
    def passed(self) -> bool:
        """True when every parameter's relative error is below ``tol``."""
        return all(err < self.tol for err in self.errors.values())

    @property
    def failed(self) -> list[str]:
        """Names of the parameters whose gradient failed."""
        return [n for n, err in self.errors.items() if not err < self.tol]

    def __str__(self) -> str:
        width = max((len(n) for n in self.errors), default=4)
        lines = [f"Gradient check (max relative error, pass below {self.tol:.0e}): "
                 + ("PASSED" if self.passed else "FAILED")]
        for n, err in self.errors.items():
            line = f"  {n:<{width}}  {err:9.2e}  {_verdict(err, self.tol)}"
            if n in self.messages:
                line += f"  {self.messages[n]}"
            lines.append(line)
        return "\n".join(lines)


def _check_one(name: str, loss_fn: Callable[[], Any], param: np.ndarray, analytic: Any,
               eps: float, batch_size: int | None,
               known: Mapping[str, Any] | None) -> tuple[float, str | None]:
    numeric = numerical_gradient(lambda _p: loss_fn(), param, eps=eps)
    a = _to_float_array(analytic)
    if a is None or a.shape != numeric.shape:
        err = math.inf
    else:
        floor = max(_TINY, _NOISE_FRACTION * float(_abs(numeric).max(initial=0.0)))
        err = rel_error(a, numeric, floor=floor)
    if err < PASS_THRESHOLD:
        return err, None
    diagnosis = diagnose_gradient(f"d{name}", analytic, numeric,
                                  batch_size=batch_size, known_mistakes=known)
    return err, diagnosis


def gradient_check(loss_fn: Callable[[], Any], params: Mapping[str, np.ndarray],
                   grads: Mapping[str, Any], *, eps: float = 1e-5,
                   batch_size: int | None = None,
                   known_mistakes: Mapping[str, Mapping[str, Any]] | None = None,
                   tol: float = PASS_THRESHOLD) -> GradCheckResult:
    """Compare analytic gradients with numerical ones, parameter by parameter.

    Parameters
    ----------
    loss_fn : callable
        ``loss_fn()`` computes the loss from the arrays in ``params`` (it must
        read them, not copies, because they are perturbed in place).
    params : dict
        name -> float64 parameter array, e.g. ``{"W1": W1, "b1": b1}``.
    grads : dict
        name -> the analytic gradient, same keys (``grads["W1"]`` is dL/dW1).
    eps : float
        Step of the central differences.
    batch_size : int, optional
        Passed to ``diagnose_gradient``.
    known_mistakes : dict, optional
        parameter name -> {message: gradient that mistake produces}.
    tol : float
        Pass threshold on the max relative error (default PASS_THRESHOLD = 1e-5).

    Returns
    -------
    GradCheckResult; ``print`` it for a table, use ``.passed`` in code.

    The error of each parameter is ``rel_error(analytic, numeric)`` with the
    denominator floored at 1/1000 of the largest numerical entry (see
    ``_NOISE_FRACTION``), so tiny entries dominated by rounding noise do not
    fail a correct gradient.
    """
    errors: dict[str, float] = {}
    messages: dict[str, str] = {}
    for name, param in params.items():
        if name not in grads:
            errors[name] = math.inf
            messages[name] = f"no gradient given for {name} (grads has {sorted(grads)})."
            continue
        known = (known_mistakes or {}).get(name)
        err, diagnosis = _check_one(name, loss_fn, param, grads[name], eps, batch_size, known)
        errors[name] = err
        if not err < tol:
            messages[name] = diagnosis or (
                f"d{name} does not match the numerical gradient "
                f"(max relative error {err:.2e}).")
    return GradCheckResult(errors=errors, messages=messages, tol=tol)


# ---------------------------------------------------------------------------
# 3. Assertion helpers
# ---------------------------------------------------------------------------


def _fail(func: str | None, message: str) -> None:
    raise AssertionError(_prefix(func) + message)


def _shape_ok(shape: tuple[int, ...], expected: Sequence[int | None]) -> bool:
    return len(shape) == len(expected) and all(
        want is None or got == want for got, want in zip(shape, expected, strict=True))


def assert_shape(x: Any, expected: Sequence[int | None], name: str, *,
                 func: str | None = None) -> None:
    """Assert that ``x`` is an array of shape ``expected`` (``None`` = any size).

    The message says the expected and the actual shape, and notices swapped
    dimensions and a missing/extra axis of size 1.
    """
    expected = tuple(expected)
    if x is None:
        _fail(func, f"{name} is None; expected an array of shape {_fmt_shape(expected)}. "
                    "Did you forget to return it?")
    shape = tuple(_asarray(x).shape)
    if _shape_ok(shape, expected):
        return
    msg = f"{name} has the wrong shape: expected {_fmt_shape(expected)}, got {_fmt_shape(shape)}."
    if len(shape) == 2 and _shape_ok(shape[::-1], expected):
        msg += " The dimensions are swapped: is something transposed?"
    elif len(shape) != len(expected):
        squeezed = tuple(d for d in shape if d != 1)
        if squeezed == tuple(d for d in expected if d != 1):
            msg += " Same entries, but an axis of size 1 is missing or extra (keepdims, reshape)."
        else:
            msg += f" It has {len(shape)} dimension(s) instead of {len(expected)}."
    _fail(func, msg)


def assert_dtype(x: Any, dtype: Any, name: str, *, func: str | None = None) -> None:
    """Assert that ``x`` has dtype ``dtype`` (an abstract one like ``np.floating`` allowed)."""
    got = _asarray(x).dtype
    abstract = any(dtype is t for t in _ABSTRACT_DTYPES)
    ok = _issubdtype(got, dtype) if abstract else got == _dtype(dtype)
    if not ok:
        if abstract:
            _fail(func, f"{name} has the wrong dtype: expected a {dtype.__name__} dtype, "
                        f"got {got}.")
        want = str(_dtype(dtype))
        _fail(func, f"{name} has the wrong dtype: expected {want}, got {got}. "
                    f"Convert it with .astype(np.{want}) or create it with that dtype.")


def assert_finite(x: Any, name: str, *, func: str | None = None) -> None:
    """Assert that ``x`` contains no NaN or infinite values."""
    arr = _to_float_array(x)
    if arr is None:
        _fail(func, f"{name} should be an array of numbers, got a {type(x).__name__}.")
    if not _isfinite(arr).all():
        first = tuple(int(i) for i in _unravel_index(int((~_isfinite(arr)).argmax()), arr.shape))
        msg = _diagnose_not_finite(name, arr)
        where = f" The first one is at index {first}." if arr.ndim else ""
        _fail(func, f"{msg}{where}")


def _mismatch_report(a: np.ndarray, e: np.ndarray, rtol: float, atol: float) -> str | None:
    """None if a ~ e elementwise (|a - e| <= atol + rtol |e|), else a description."""
    af, ef = a.reshape(-1), e.reshape(-1)
    with _errstate(invalid="ignore"):
        allowed = atol + rtol * _abs(ef)
        diff = _abs(af - ef)
        ok = (diff <= allowed) | ((af == ef) & ~_isnan(af))
        excess = diff - allowed
    if ok.all():
        return None
    excess[~_isfinite(excess)] = math.inf
    excess[ok] = -math.inf
    flat = int(excess.argmax())
    values = f"got {_fmt_num(af[flat])}, expected {_fmt_num(ef[flat])}"
    tolerance = f"(tolerance: |got - expected| <= {atol:g} + {rtol:g} * |expected|)"
    if a.ndim == 0:
        return f"{values[0].upper()}{values[1:]} {tolerance}."
    idx = tuple(int(i) for i in _unravel_index(flat, a.shape))
    return (f"{int((~ok).sum())} of {a.size} entries differ from the expected values. "
            f"Worst at index {idx}: {values} {tolerance}.")


def _value_pattern(a: np.ndarray, e: np.ndarray) -> str | None:
    """A short phrase for a recognisable relation between wrong values and right ones."""
    if not (_isfinite(a).all() and _isfinite(e).all()) or not _abs(e).max(initial=0) > 0:
        return None
    if _matches(a, -e):
        return "Your values have the wrong sign."
    if a.ndim == 2 and a.shape[0] == a.shape[1] and _matches(a.T, e):
        return "Your values are the transpose of the expected ones."
    c = _best_factor(a, e) if a.size > 1 else None  # any single number is a multiple
    if c is not None and c > 0:
        return f"Your values are {_describe_factor(c)} the expected ones."
    return None


def _known_cause(a: np.ndarray, known_mistakes: Mapping[str, Any] | None) -> str | None:
    """'Likely cause: <message>' for the first known mistake that ``a`` matches."""
    for message, wrong in (known_mistakes or {}).items():
        wrong_arr = _to_float_array(wrong)
        if wrong_arr is not None and _matches(a, wrong_arr):
            return f"Likely cause: {message}"
    return None


def _as_checked_array(x: Any, name: str, func: str | None) -> np.ndarray:
    arr = _to_float_array(x)
    if arr is None:
        what = "None" if x is None else f"a {type(x).__name__}"
        _fail(func, f"{name} should be an array of numbers, got {what}.")
    return arr


def assert_close(actual: Any, expected: Any, name: str, *, rtol: float = 1e-5,
                 atol: float = 1e-8, func: str | None = None,
                 known_mistakes: Mapping[str, Any] | None = None) -> None:
    """Assert ``actual`` equals ``expected`` elementwise within ``atol + rtol * |expected|``.

    Checks the shape first; the message counts the entries that differ, shows
    the worst one (index, got, expected) and the tolerance, and recognises a
    wrong sign, a transpose or a constant factor. ``known_mistakes`` (message
    -> the value that mistake produces) works as in ``diagnose_gradient`` and
    wins over the generic explanations.
    """
    e = _as_checked_array(expected, "expected", None)
    a = _as_checked_array(actual, name, func)
    known = _known_cause(a, known_mistakes)
    if known and a.shape != e.shape:
        _fail(func, f"{name} has shape {_fmt_shape(a.shape)}, expected "
                    f"{_fmt_shape(e.shape)}. {known}")
    assert_shape(a, e.shape, name, func=func)
    report = _mismatch_report(a, e, rtol, atol)
    if report:
        why = known or _value_pattern(a, e) or _diagnose_not_finite(name, a)
        _fail(func, f"{name} is not close to the expected value. "
                    + (f"{why} " if why else "") + report)


def assert_gradient_close(name: str, analytic: Any, expected: Any, *,
                          func: str | None = None, batch_size: int | None = None,
                          known_mistakes: Mapping[str, Any] | None = None,
                          rtol: float = 1e-5, atol: float = 1e-7) -> None:
    """Assert that the gradient ``analytic`` matches ``expected``, explaining a mismatch.

    On failure the message names the gradient, gives the diagnosis of
    ``diagnose_gradient`` (same ``batch_size`` / ``known_mistakes``) and, when
    the shapes agree, the count and worst entry of the differences.
    """
    e = _as_checked_array(expected, "expected", None)
    a = _to_float_array(analytic)
    report = None
    if a is not None and a.shape == e.shape:
        report = _mismatch_report(a, e, rtol, atol)
        if report is None:
            return
    diagnosis = diagnose_gradient(name, analytic, e, batch_size=batch_size,
                                  known_mistakes=known_mistakes)
    if diagnosis is None:
        _fail(func, f"{name} is wrong: {report}")
    _fail(func, diagnosis + (f" {report}" if report else ""))
