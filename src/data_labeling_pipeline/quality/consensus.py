"""Consensus labels for classification: majority vote, and the per-item result every method returns.

Ties are broken deterministically: highest posterior (vote share for majority vote), then
the highest summed reliability of the annotators who chose the class (``skills``, e.g.
Dawid-Skene's), then the first class in schema order. ``tie`` records that the first
criterion alone did not decide.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from data_labeling_pipeline.errors import DataError
from data_labeling_pipeline.quality.encoding import LongTable, category_counts, encode_long


@dataclass(frozen=True)
class ConsensusResult:
    """Consensus per item, as columns (one row per item, items sorted).

    Attributes:
        items: Item ids.
        classes: Class names in schema order (columns of ``votes`` and ``probas``).
        label_index: Index of the consensus class per item.
        confidence: Posterior probability of the consensus class (vote share for majority vote).
        probas: Items x classes posterior (vote shares for majority vote).
        votes: Items x classes number of annotators per class.
        n_annotations: Annotations per item.
        tie: Whether the top posterior was shared and a tie-break decided.
        method: ``"majority_vote"`` or ``"dawid_skene"``.
    """

    items: np.ndarray
    classes: list
    label_index: np.ndarray
    confidence: np.ndarray
    probas: np.ndarray
    votes: np.ndarray
    n_annotations: np.ndarray
    tie: np.ndarray
    method: str

    @property
    def labels(self) -> list:
        """Consensus class name per item."""
        return [self.classes[i] for i in self.label_index.tolist()]

    def as_mapping(self) -> dict:
        """``item_id -> consensus label``."""
        return dict(zip(self.items.tolist(), self.labels, strict=True))

    def records(self) -> list[dict[str, Any]]:
        """One JSON-safe dict per item (see :meth:`iter_records`)."""
        return list(self.iter_records())

    def iter_records(self) -> Iterator[dict[str, Any]]:
        """One JSON-safe dict per item: label, confidence, method, votes, annotation count, tie.

        ``votes`` lists only classes that got a vote, by name; items with the same votes share one dict
        (read it, do not change it).
        """
        classes = self.classes
        # Few distinct vote rows exist (3 votes over 4 classes: 20), so items share one dict per row, keys
        # sorted as the canonical bytes have them (a dict per item was ~175 bytes each).
        shared: dict[bytes, dict[str, int]] = {}
        for i, item in enumerate(self.items.tolist()):
            row = self.votes[i]
            votes = shared.get(row.tobytes())
            if votes is None:
                votes = shared[row.tobytes()] = dict(sorted((classes[k], int(row[k])) for k in np.flatnonzero(row)))
            yield {
                "item_id": item,
                "label": classes[int(self.label_index[i])],
                "confidence": float(self.confidence[i]),
                "method": self.method,
                "votes": votes,
                "n_annotations": int(self.n_annotations[i]),
                "tie": bool(self.tie[i]),
            }


def reliability_by_class(table: LongTable, skills: np.ndarray | None) -> np.ndarray:
    """Items x classes: summed reliability of the annotators who gave each class."""
    k = table.n_classes
    if skills is None:
        return np.zeros((table.n_items, k))
    flat = np.bincount(table.item * k + table.label, weights=skills[table.annotator], minlength=table.n_items * k)
    return flat.reshape(table.n_items, k)


def break_ties(scores: np.ndarray, reliability: np.ndarray, *, rtol: float = 1e-12) -> tuple[np.ndarray, np.ndarray]:
    """Pick one class per row: top score, then top reliability, then lowest index (schema order).

    Returns (chosen index, tie flag). Scores within ``rtol`` of the row maximum count as tied.

    Example:
        >>> idx, tie = break_ties(np.array([[1.0, 1.0, 0.0], [0.0, 2.0, 1.0]]), np.array([[0.5, 0.9, 0.0], [0, 0, 0]]))
        >>> idx.tolist(), tie.tolist()
        ([1, 1], [True, False])
    """
    if scores.shape[1] == 0:
        return np.zeros(len(scores), dtype=np.int64), np.zeros(len(scores), bool)
    top = scores.max(1, keepdims=True)
    cand = scores >= top - rtol * np.maximum(np.abs(top), 1.0)
    tie = cand.sum(1) > 1
    rel = np.where(cand, reliability, -np.inf)
    cand &= rel >= rel.max(1, keepdims=True)
    return np.argmax(cand, axis=1).astype(np.int64), tie


def consensus_from_probas(
    table: LongTable,
    probas: np.ndarray,
    *,
    method: str,
    skills: np.ndarray | None = None,
    votes: np.ndarray | None = None,
) -> ConsensusResult:
    """Build a :class:`ConsensusResult` from an items x classes posterior."""
    votes = category_counts(table) if votes is None else votes
    idx, tie = break_ties(probas, reliability_by_class(table, skills))
    conf = probas[np.arange(len(idx)), idx] if len(idx) else np.zeros(0)
    return ConsensusResult(
        items=table.items,
        classes=list(table.classes),
        label_index=idx,
        confidence=conf,
        probas=probas,
        votes=votes,
        n_annotations=votes.sum(1),
        tie=tie,
        method=method,
    )


def majority_vote_table(table: LongTable, *, skills: Mapping | None = None) -> ConsensusResult:
    """:func:`majority_vote` on an already encoded :class:`LongTable`."""
    votes = category_counts(table)
    n = votes.sum(1, keepdims=True)
    probas = votes / np.where(n > 0, n, 1)
    skill_arr = None
    if skills is not None:
        skill_arr = np.array([float(skills.get(a, 0.0)) for a in table.annotators.tolist()])
    return consensus_from_probas(table, probas, method="majority_vote", skills=skill_arr, votes=votes)


def majority_vote(
    item_ids: Any,
    annotators: Any,
    labels: Any,
    *,
    classes: Sequence | None = None,
    skills: Mapping | None = None,
) -> ConsensusResult:
    """Majority vote per item, with deterministic tie-breaking.

    Args:
        item_ids: Item id per annotation (the long table).
        annotators: Annotator per annotation.
        labels: Label per annotation.
        classes: The schema's classes in schema order (the last tie-breaker).
        skills: Optional ``annotator -> reliability`` (e.g. ``DawidSkene().fit(...).skills_``
            as a dict); among classes with equal votes the one whose voters sum to the higher
            reliability wins.

    Returns:
        A :class:`ConsensusResult` (confidence = vote share of the winning class).

    Example:
        >>> mv = majority_vote([1, 1, 1, 2, 2], list("abcab"), ["x", "y", "y", "x", "y"], classes=["x", "y"])
        >>> mv.labels, mv.tie.tolist()
        (['y', 'x'], [False, True])
    """
    return majority_vote_table(encode_long(item_ids, annotators, labels, classes=classes), skills=skills)


def add_model_votes(
    item_ids: Any,
    annotators: Any,
    labels: Any,
    model_item_ids: Any,
    model_labels: Any,
    *,
    name: str = "model",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Append a pre-label model's predictions as one more annotator called ``name``.

    Example:
        >>> [c.tolist() for c in add_model_votes([1], ["a"], ["x"], [1], ["y"])]
        [[1, 1], ['a', 'model'], ['x', 'y']]
    """
    model_item_ids = np.asarray(model_item_ids)
    return (
        np.concatenate([np.asarray(item_ids), model_item_ids]),
        np.concatenate([np.asarray(annotators), np.full(len(model_item_ids), name)]),
        np.concatenate([np.asarray(labels), np.asarray(model_labels)]),
    )


def model_vote_posterior(
    probas: Any,
    predicted: Any,
    *,
    weight: float,
    n_annotations: Any = None,
    likelihood: Any = None,
) -> np.ndarray:
    """An items x classes posterior with a pre-label model's vote added at a fixed weight.

    The model's vote counts as ``weight`` annotators (0: no effect, 1: one more annotator):

    - majority vote (``likelihood`` is ``None``): the predicted class gets ``weight`` votes,
      ``(n * p + weight * onehot) / (n + weight)`` with ``n`` the human annotations of the item;
    - Dawid-Skene: the posterior is multiplied by ``likelihood[:, v] ** weight`` (``v`` the
      predicted class) and renormalised: one E-step with the model as ``weight`` annotators whose
      confusion matrix (true x given) is ``likelihood``, e.g. the typical human's.

    Args:
        probas: Items x classes posterior (vote shares for majority vote).
        predicted: Class index of the model's prediction per item, ``-1`` where it has none.
        weight: The model's weight in annotators (>= 0).
        n_annotations: Human annotations per item (majority vote only).
        likelihood: Classes x classes confusion of the model's vote (Dawid-Skene only).

    Example:
        >>> model_vote_posterior(np.array([[0.5, 0.5]]), [1], weight=1.0, n_annotations=[2]).round(3).tolist()
        [[0.333, 0.667]]
        >>> conf = np.array([[0.8, 0.2], [0.2, 0.8]])
        >>> model_vote_posterior(np.array([[0.5, 0.5], [0.9, 0.1]]), [0, -1], weight=1.0, likelihood=conf).tolist()
        [[0.8, 0.2], [0.9, 0.1]]
    """
    p = np.asarray(probas, dtype=float)
    v = np.asarray(predicted, dtype=np.int64)
    if v.shape != (len(p),):
        raise DataError.single("<model votes>", None, "predicted", f"expected one class index per item ({len(p)}), "
                                                                   f"got shape {v.shape}")
    if isinstance(weight, bool) or not isinstance(weight, (int, float, np.integer, np.floating)) or not weight >= 0:
        raise DataError.single("<model votes>", None, "weight", f"expected a number >= 0, got {weight!r}")
    out = p.copy()
    has = np.flatnonzero(v >= 0)
    if len(has) == 0 or weight == 0:
        return out
    if likelihood is None:
        if n_annotations is None:
            raise DataError.single("<model votes>", None, "n_annotations", "a majority vote needs the vote counts")
        n = np.asarray(n_annotations, dtype=float)[has]
        votes = p[has] * n[:, None]
        votes[np.arange(len(has)), v[has]] += weight
        out[has] = votes / (n + weight)[:, None]
        return out
    c = np.asarray(likelihood, dtype=float)
    if c.shape != (p.shape[1], p.shape[1]):
        raise DataError.single("<model votes>", None, "likelihood",
                               f"expected a {p.shape[1]}x{p.shape[1]} confusion matrix, got {c.shape}")
    scaled = p[has] * np.maximum(c[:, v[has]].T, 1e-300) ** weight
    out[has] = scaled / scaled.sum(1, keepdims=True)
    return out
