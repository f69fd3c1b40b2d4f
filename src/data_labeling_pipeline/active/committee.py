"""A bootstrap committee of the weak model: the input of the committee measures.

Each member is a clone of the estimator fitted on a stratified bootstrap resample of the
labelled rows (resampled within each class, so every member sees every class and its
``predict_proba`` columns line up). scikit-learn is imported inside the function.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from data_labeling_pipeline.active._checks import bad


def bootstrap_committee(
    X: Any,
    y: Any,
    X_pool: Any,
    *,
    n_members: int = 5,
    estimator: Any = None,
    seed: int = 0,
) -> np.ndarray:
    """Fit ``n_members`` bootstrap copies of ``estimator`` on ``(X, y)`` and predict ``X_pool``.

    Args:
        X: Labelled features (anything the estimator accepts: dense or scipy sparse).
        y: Their labels (at least one row per class that should get a column).
        X_pool: Features of the rows to score.
        n_members: Committee size (>= 2 for any disagreement).
        estimator: An unfitted scikit-learn classifier with ``predict_proba``; default
            ``LogisticRegression(max_iter=1000)``. Members whose estimator takes a
            ``random_state`` get ``seed + member``.
        seed: Seed of the resampling.

    Returns:
        float64 ``(n_members, len(X_pool), n_classes)`` probabilities, columns in the order of
        ``numpy.unique(y)``.

    Example:
        >>> X = np.array([[0.0], [0.2], [0.4], [3.0], [3.2], [3.4]])
        >>> c = bootstrap_committee(X, [0, 0, 0, 1, 1, 1], np.array([[0.1], [3.1]]), n_members=3)
        >>> c.shape, bool((c[:, 0, 0] > 0.5).all() and (c[:, 1, 1] > 0.5).all())
        ((3, 2, 2), True)
    """
    from sklearn.base import clone
    from sklearn.linear_model import LogisticRegression

    if isinstance(n_members, bool) or not isinstance(n_members, int | np.integer) or n_members < 1:
        raise bad("n_members", f"expected a committee size >= 1, got {n_members!r}")
    # scipy sparse matrices pass through untouched; lists become arrays
    X = X if hasattr(X, "shape") else np.asarray(X)
    X_pool = X_pool if hasattr(X_pool, "shape") else np.asarray(X_pool)
    labels = np.asarray(y)
    if labels.ndim != 1 or labels.shape[0] != X.shape[0]:
        raise bad("y", f"expected one label per row of X ({X.shape[0]}), got shape {labels.shape}")
    classes, codes = np.unique(labels, return_inverse=True)
    if len(classes) < 2:
        raise bad("y", f"expected at least 2 classes among the labelled rows, got {classes.tolist()}; label more items")
    base = LogisticRegression(max_iter=1000) if estimator is None else estimator
    by_class = [np.flatnonzero(codes == c) for c in range(len(classes))]
    rng = np.random.default_rng(seed)
    out = np.zeros((n_members, X_pool.shape[0], len(classes)))
    for m in range(n_members):
        rows = np.sort(np.concatenate([rng.choice(idx, size=len(idx), replace=True) for idx in by_class]))
        member = clone(base)
        if "random_state" in member.get_params():
            member.set_params(random_state=seed + m)
        member.fit(X[rows], codes[rows])
        # a member's classes_ are codes 0..K-1 (all present by construction)
        out[m][:, member.classes_] = member.predict_proba(X_pool)
    return out
