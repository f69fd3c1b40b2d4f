"""Which pre-labels of a batch annotators will verify rather than create, and the order to verify them in.

Pure: the weak model's probabilities (rows of the pool, columns in schema class order) and the
queued records in, figures and the reordered queue out. The select stage writes them.
"""

from __future__ import annotations

import numpy as np

DECIMALS = 6
VERIFICATION_KEYS = ("batch_confident_prelabels", "batch_confident_share", "batch_confident_expected_correct",
                     "pool_confident_share")


def verification_figures(probabilities: np.ndarray, picks, threshold: float) -> dict:
    """How much of the batch annotators will verify rather than create: pre-labels at least ``threshold`` probable.

    ``batch_confident_expected_correct`` sums their probabilities: the pre-labels expected to be
    kept, if the weak model is calibrated (its cross-validated accuracy says how far to trust that).

    Example:
        >>> p = np.array([[0.95, 0.05], [0.6, 0.4], [0.1, 0.9]])
        >>> verification_figures(p, [0, 1], 0.9)
        {'batch_confident_prelabels': 1, 'batch_confident_share': 0.5, 'batch_confident_expected_correct': 0.95, \
'pool_confident_share': 0.666667}
    """
    top = probabilities.max(axis=1) if len(probabilities) else np.zeros(0)
    chosen = top[np.asarray(picks, dtype=np.int64)]
    confident = chosen >= threshold
    return {
        "batch_confident_prelabels": int(confident.sum()),
        "batch_confident_share": round(float(confident.mean()), DECIMALS) if len(chosen) else None,
        "batch_confident_expected_correct": round(float(chosen[confident].sum()), DECIMALS),
        "pool_confident_share": round(float((top >= threshold).mean()), DECIMALS) if len(top) else None,
    }


def verify_runs(queue: list[dict], threshold: float, classes: list[str]) -> list[dict]:
    """The batch in annotating order: confident pre-labels first, one class after another, then the rest.

    Verifying twenty 7s in a row is quicker than twenty mixed checks; within a run, and among
    the rest, items keep their priority (``rank``). Each record says whether it is to verify.

    Example:
        >>> q = [{"rank": 1, "prelabel": "b", "prelabel_score": 0.5},
        ...      {"rank": 2, "prelabel": "b", "prelabel_score": 0.95},
        ...      {"rank": 3, "prelabel": "a", "prelabel_score": 0.99}]
        >>> [(r["rank"], r["verify"]) for r in verify_runs(q, 0.9, ["a", "b"])]
        [(3, True), (2, True), (1, False)]
    """
    order = {name: i for i, name in enumerate(classes)}
    marked = [{**r, "verify": r["prelabel_score"] >= threshold} for r in queue]
    return sorted(marked, key=lambda r: (not r["verify"], order.get(r["prelabel"], len(order)) if r["verify"] else 0,
                                         r["rank"]))
