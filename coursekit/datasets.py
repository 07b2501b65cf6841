"""Small, seeded 2-D data sets for the lectures.

Every function returns ``(X, y)`` with ``X`` of shape ``(n, 2)`` (float64) and
``y`` of shape ``(n,)`` (int64 class labels), and the same ``seed`` always gives
the same arrays.
"""

from __future__ import annotations

import numpy as np

#: Feature names of :func:`pass_fail_students`.
STUDENT_FEATURES = ("lectures attended", "hours spent on the final project")
#: Class names of :func:`pass_fail_students`.
STUDENT_CLASSES = ("fail", "pass")


def _check_n(n: int, name: str, minimum: int = 1) -> int:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < minimum:
        raise ValueError(f"{name}: n must be an integer >= {minimum}, got {n!r}")
    return int(n)


def _check_noise(noise: float, name: str) -> float:
    noise = float(noise)
    if not np.isfinite(noise) or noise < 0:
        raise ValueError(f"{name}: noise must be a finite number >= 0, got {noise!r}")
    return noise


def _shuffle(X: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    order = rng.permutation(len(y))
    return X[order].astype(np.float64), y[order].astype(np.int64)


def xor() -> tuple[np.ndarray, np.ndarray]:
    """The four XOR points: (0,0)->0, (0,1)->1, (1,0)->1, (1,1)->0 (in this order)."""
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = np.array([0, 1, 1, 0], dtype=np.int64)
    return X, y


def xor_cloud(n: int = 200, noise: float = 0.35, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A noisy XOR: four Gaussian blobs at (+-1, +-1).

    Blobs where the signs of x1 and x2 differ are class 1, the others class 0, so
    the product feature ``x1 * x2`` separates the classes (up to the noise) while
    no line in (x1, x2) does.
    """
    n = _check_n(n, "xor_cloud", minimum=4)
    noise = _check_noise(noise, "xor_cloud")
    rng = np.random.default_rng(seed)
    centers = np.array([[1.0, 1.0], [-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0]])
    labels = np.array([0, 0, 1, 1])
    which = np.arange(n) % 4
    X = centers[which] + noise * rng.standard_normal((n, 2))
    return _shuffle(X, labels[which], rng)


def pass_fail_students(n: int = 100, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The "will I pass this class?" students: lectures attended and project hours -> pass.

    ``X[:, 0]`` is the number of lectures attended (0..24, whole numbers),
    ``X[:, 1]`` the hours spent on the final project (0..20). The label is 1
    (pass) with probability ``sigmoid(0.35*x1 + 0.45*x2 - 9)``, so more of either
    helps, and a few students near the boundary go either way, as in real life.
    Names: :data:`STUDENT_FEATURES`, :data:`STUDENT_CLASSES`.
    """
    n = _check_n(n, "pass_fail_students", minimum=2)
    rng = np.random.default_rng(seed)
    lectures = rng.integers(0, 25, size=n).astype(np.float64)
    hours = np.round(rng.uniform(0.0, 20.0, size=n), 1)
    logit = 0.35 * lectures + 0.45 * hours - 9.0
    p_pass = 1.0 / (1.0 + np.exp(-logit))
    y = (rng.uniform(size=n) < p_pass).astype(np.int64)
    return np.column_stack([lectures, hours]), y


def two_moons(n: int = 200, noise: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles (class 0 on top, class 1 below), with Gaussian noise."""
    n = _check_n(n, "two_moons", minimum=2)
    noise = _check_noise(noise, "two_moons")
    rng = np.random.default_rng(seed)
    n0 = n // 2
    n1 = n - n0
    t0 = np.linspace(0.0, np.pi, n0)
    t1 = np.linspace(0.0, np.pi, n1)
    upper = np.column_stack([np.cos(t0), np.sin(t0)])
    lower = np.column_stack([1.0 - np.cos(t1), 0.5 - np.sin(t1)])
    X = np.vstack([upper, lower]) + noise * rng.standard_normal((n, 2))
    y = np.concatenate([np.zeros(n0), np.ones(n1)])
    return _shuffle(X, y, rng)


def circles(
    n: int = 200, noise: float = 0.05, factor: float = 0.5, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """A small circle (class 1, radius ``factor``) inside a large one (class 0, radius 1)."""
    n = _check_n(n, "circles", minimum=2)
    noise = _check_noise(noise, "circles")
    if not 0.0 < float(factor) < 1.0:
        raise ValueError(f"circles: factor must lie strictly between 0 and 1, got {factor!r}")
    rng = np.random.default_rng(seed)
    n0 = n // 2
    n1 = n - n0
    t0 = np.linspace(0.0, 2 * np.pi, n0, endpoint=False)
    t1 = np.linspace(0.0, 2 * np.pi, n1, endpoint=False)
    outer = np.column_stack([np.cos(t0), np.sin(t0)])
    inner = factor * np.column_stack([np.cos(t1), np.sin(t1)])
    X = np.vstack([outer, inner]) + noise * rng.standard_normal((n, 2))
    y = np.concatenate([np.zeros(n0), np.ones(n1)])
    return _shuffle(X, y, rng)


def spirals(
    n: int = 200, noise: float = 0.2, turns: float = 1.5, n_classes: int = 2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Interleaved spirals, one arm per class (the CS231n / TensorFlow Playground set).

    Each arm winds ``turns`` times around the origin out to radius 1; ``noise``
    is the standard deviation of the angle jitter in radians.
    """
    n = _check_n(n, "spirals", minimum=n_classes)
    noise = _check_noise(noise, "spirals")
    n_classes = _check_n(n_classes, "spirals (n_classes)", minimum=2)
    if float(turns) <= 0:
        raise ValueError(f"spirals: turns must be > 0, got {turns!r}")
    rng = np.random.default_rng(seed)
    sizes = [n // n_classes + (1 if k < n % n_classes else 0) for k in range(n_classes)]
    parts, labels = [], []
    for k, size in enumerate(sizes):
        r = np.linspace(0.05, 1.0, size)
        theta = (
            2 * np.pi * turns * r + 2 * np.pi * k / n_classes + noise * rng.standard_normal(size)
        )
        parts.append(np.column_stack([r * np.sin(theta), r * np.cos(theta)]))
        labels.append(np.full(size, k))
    return _shuffle(np.vstack(parts), np.concatenate(labels), rng)
