"""Multi-label classification: agreement per class, set-level agreement, majority consensus sets.

An annotation is a set of classes (``labels``; an empty set says "none of them"). Per class,
each annotation is a binary decision, class present or absent, on the items that annotator
labelled, so the single-label statistics apply class by class to that binary column, from
the same primitives: Krippendorff's alpha (nominal), Cohen's kappa (Light's mean over
annotator pairs), Fleiss' kappa, Gwet's AC1 and percent agreement. The headline figure of
each is its macro average over the classes where it is defined, as scikit-learn's
``average="macro"``; a class every annotator always or never chose has no chance-corrected
agreement and is left out of the mean, with its reason per class.

Set-level figures compare whole answers, over the annotation pairs of each item, averaged per
item and then over items (the weighting of percent agreement):

- ``jaccard_agreement``: the Jaccard index ``|A & B| / |A | B|`` (two empty sets: 1);
- ``exact_match_agreement``: the share of pairs with identical sets.

Consensus (:func:`majority_sets`): a class is in an item's set when more than half of the
item's annotators chose it. Exactly half is a tie: the class stays out and the item records
it in ``tied_classes``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from data_labeling_pipeline.errors import DataError
from data_labeling_pipeline.quality.cohen import kappa_many
from data_labeling_pipeline.quality.encoding import LongTable, category_counts, encode_long, factorize, item_bounds
from data_labeling_pipeline.quality.krippendorff import alpha_from_counts
from data_labeling_pipeline.quality.multirater import multirater_scores
from data_labeling_pipeline.quality.pairwise import annotation_pairs, pairwise_kappa_table
from data_labeling_pipeline.quality.result import (
    EMPTY,
    NO_OVERLAP,
    NO_PAIRABLE,
    NO_VARIATION,
    Score,
    score,
    undefined,
)

ABSENT, PRESENT = "absent", "present"  # the two values of a class's binary column
# The per-class statistics, under the names the single-label path writes to metrics/agreement.json.
METRICS = ("cohens_kappa", "fleiss_kappa", "krippendorff_alpha", "gwet_ac1", "percent_agreement")
SET_METRICS = ("jaccard_agreement", "exact_match_agreement")
_WHERE = "annotations/annotations.jsonl"


def is_multi_label(annotations: Iterable[Mapping]) -> bool:
    """Whether classification records carry label sets (``labels``) rather than one ``label``.

    Example:
        >>> is_multi_label([{"labels": ["cat"]}]), is_multi_label([{"label": "cat"}])
        (True, False)
    """
    return any(a.get("labels") is not None for a in annotations)


def schema_order(labels: Iterable[str], classes: Sequence[str]) -> list[str]:
    """A label set as a list in schema order (unknown names last, by name), as pull writes ``labels``.

    Example:
        >>> schema_order(["dog", "cat", "dog"], ["cat", "dog"])
        ['cat', 'dog']
    """
    order = {c: i for i, c in enumerate(classes)}
    return sorted(set(labels), key=lambda c: (order.get(c, len(order)), str(c)))


def decisions_in_schema_order(decisions: Mapping[str, Mapping], classes: Sequence[str]) -> dict[str, Mapping]:
    """Review decisions with their ``labels`` in schema order (the consensus records' order).

    Example:
        >>> decisions_in_schema_order({"i1": {"labels": ["dog", "cat"]}, "i2": {"label": "cat"}}, ["cat", "dog"])
        {'i1': {'labels': ['cat', 'dog']}, 'i2': {'label': 'cat'}}
    """
    return {item: {**d, "labels": schema_order(d["labels"], classes)} if d.get("labels") is not None else d
            for item, d in decisions.items()}


@dataclass(frozen=True)
class MultiLabelTable:
    """The long table of label sets, encoded once.

    Attributes:
        table: Rows sorted by (item, annotator), as :func:`.encoding.encode_long` makes them
            (its ``label`` column is unused).
        indicators: Rows x classes, ``True`` where the annotation chose the class.
        classes: Class names in schema order (the columns of ``indicators``).
    """

    table: LongTable
    indicators: np.ndarray
    classes: list

    def binary(self, k: int) -> LongTable:
        """The long table of class ``k`` as a binary decision (``absent`` = 0, ``present`` = 1)."""
        return dataclasses.replace(self.table, label=self.indicators[:, k].astype(np.int64), classes=[ABSENT, PRESENT])

    def votes(self) -> np.ndarray:
        """Items x classes: how many of the item's annotators chose each class."""
        if not len(self.table):
            return np.zeros((0, len(self.classes)), dtype=np.int64)
        return np.add.reduceat(self.indicators.astype(np.int64), item_bounds(self.table), axis=0)


def encode_multilabel(item_ids: Any, annotators: Any, label_sets: Sequence, *,
                      classes: Sequence[str]) -> MultiLabelTable:
    """Encode the columns ``item_id, annotator, labels`` (one list of classes per annotation).

    Raises:
        DataError: A label set is missing or not a list, names an unknown class, or one annotator
            labelled the same item twice.

    Example:
        >>> mt = encode_multilabel(["b", "a"], ["x", "x"], [["dog"], ["cat", "dog"]], classes=["cat", "dog"])
        >>> mt.table.items.tolist(), mt.indicators.astype(int).tolist()
        (['a', 'b'], [[1, 1], [0, 1]])
    """
    sets = list(label_sets)
    table = encode_long(item_ids, annotators, np.zeros(len(sets), dtype=np.int64), classes=[0])
    position = {c: k for k, c in enumerate(classes)}
    indicators = np.zeros((len(sets), len(position)), dtype=bool)
    bad = []
    for row, labels in enumerate(sets):
        if not isinstance(labels, (list, tuple)):
            bad.append(f"row {row}: expected a list of classes, got {labels!r}")
            continue
        for name in labels:
            if name in position:
                indicators[row, position[name]] = True
            else:
                bad.append(f"row {row}: {name!r} is not one of {list(classes)!r}")
    if bad:
        raise DataError.single(_WHERE, None, "$.labels", f"{len(bad)} bad label sets, e.g. {'; '.join(bad[:3])}")
    return MultiLabelTable(table, indicators[table.order], list(classes))


def _macro(scores: list[Score], classes: list) -> Score:
    """The mean of the defined per-class scores; undefined, with the reason, when none is."""
    per_class = dict(zip(classes, scores, strict=True))
    defined = [s.value for s in scores if s.defined]
    n_items = max((s.n_items for s in scores), default=0)
    if not defined:
        reasons = sorted({s.reason or EMPTY for s in scores}) or [EMPTY]
        reason = reasons[0] if len(reasons) == 1 else f"undefined for every class ({'; '.join(reasons)})"
        return undefined(reason, n_items=n_items, per_class=per_class, n_classes_defined=0)
    return score(float(np.mean(defined)), n_items=n_items, per_class=per_class, n_classes_defined=len(defined))


def _light_kappa(table: LongTable) -> Score:
    pairwise = pairwise_kappa_table(table)
    mean = pairwise.mean()
    if mean.reason == NO_OVERLAP and np.triu(pairwise.overlap, 1).any():
        return undefined(NO_VARIATION)  # pairs share items but no pair varies: not "share no item"
    return mean


def class_agreement(mt: MultiLabelTable) -> dict[str, list[Score]]:
    """Each statistic of :data:`METRICS` per class, on the class's binary column (schema order).

    Example:
        >>> mt = encode_multilabel([1, 1, 2, 2], list("abab"), [["x"], ["x"], [], ["y"]], classes=["x", "y"])
        >>> [s.value for s in class_agreement(mt)["percent_agreement"]]
        [1.0, 0.5]
    """
    out: dict[str, list[Score]] = {name: [] for name in METRICS}
    for k in range(len(mt.classes)):
        binary = mt.binary(k)
        counts = category_counts(binary).astype(float)
        multi = multirater_scores(counts)
        out["cohens_kappa"].append(_light_kappa(binary))
        out["krippendorff_alpha"].append(alpha_from_counts(counts))
        for name in ("fleiss_kappa", "gwet_ac1", "percent_agreement"):
            out[name].append(multi[name])
    return out


def jaccard_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise Jaccard index of two boolean indicator matrices; two empty rows agree (1.0).

    Example:
        >>> jaccard_rows(np.array([[1, 1, 0], [0, 0, 0]], bool), np.array([[1, 0, 0], [0, 0, 0]], bool)).tolist()
        [0.5, 1.0]
    """
    inter = (a & b).sum(1)
    union = (a | b).sum(1)
    return np.where(union > 0, inter / np.maximum(union, 1), 1.0)


def set_agreement(mt: MultiLabelTable) -> dict[str, Any]:
    """Jaccard and exact-match agreement over the annotation pairs of each item, and per annotator pair.

    Returns:
        ``jaccard_agreement`` and ``exact_match_agreement`` (:class:`Score`, per item then over
        items), and ``pairs``: one record per annotator pair sharing an item (``annotator_a <
        annotator_b``, ``n_items``, ``jaccard``: mean over the shared items).

    Example:
        >>> mt = encode_multilabel([1, 1, 2, 2], list("abab"), [["x", "y"], ["x"], [], []], classes=["x", "y"])
        >>> s = set_agreement(mt)
        >>> s["jaccard_agreement"].value, s["exact_match_agreement"].value, s["pairs"][0]["jaccard"]
        (0.75, 0.5, 0.75)
    """
    table = mt.table
    if not len(table):
        return {"jaccard_agreement": undefined(EMPTY), "exact_match_agreement": undefined(EMPTY), "pairs": []}
    first, second = annotation_pairs(table)
    jaccard = jaccard_rows(mt.indicators[first], mt.indicators[second])
    same = (mt.indicators[first] == mt.indicators[second]).all(1)
    item = table.item[first]
    n_pairs = np.bincount(item, minlength=table.n_items)
    has = n_pairs > 0
    if not has.any():
        return {"jaccard_agreement": undefined(NO_PAIRABLE), "exact_match_agreement": undefined(NO_PAIRABLE),
                "pairs": []}
    out: dict[str, Any] = {}
    for name, values in (("jaccard_agreement", jaccard), ("exact_match_agreement", same.astype(float))):
        per_item = np.bincount(item, weights=values, minlength=table.n_items)[has] / n_pairs[has]
        out[name] = score(float(per_item.mean()), n_items=int(has.sum()))
    n_ann = table.n_annotators
    keys, inverse = factorize(table.annotator[first] * n_ann + table.annotator[second])
    sums = np.bincount(inverse, weights=jaccard, minlength=len(keys))
    sizes = np.bincount(inverse, minlength=len(keys))
    names = table.annotators.tolist()
    out["pairs"] = sorted(({"annotator_a": names[key // n_ann], "annotator_b": names[key % n_ann],
                            "n_items": int(sizes[j]), "jaccard": float(sums[j] / sizes[j])}
                           for j, key in enumerate(keys.tolist())), key=lambda r: (r["annotator_a"], r["annotator_b"]))
    return out


def multilabel_agreement(item_ids: Any, annotators: Any, label_sets: Sequence, *,
                         classes: Sequence[str]) -> dict[str, Any]:
    """Macro-averaged per-class agreement and set-level agreement of multi-label annotations.

    Args:
        item_ids: Item id per annotation (the long table).
        annotators: Annotator per annotation.
        label_sets: The classes each annotation chose (a list, possibly empty).
        classes: The schema's classes in schema order.

    Returns:
        A :class:`Score` per name of :data:`METRICS` (the macro average; ``details["per_class"]``
        maps each class to its own :class:`Score`) and of :data:`SET_METRICS`, ``pairs`` (Jaccard
        per annotator pair) and the table sizes ``n_items``, ``n_annotations``, ``n_annotators``.

    Example:
        >>> s = multilabel_agreement([1, 1, 2, 2, 3, 3], list("ababab"), [["x"], ["x"], ["y"], ["y"], [], []],
        ...                          classes=["x", "y"])
        >>> s["krippendorff_alpha"].value, s["jaccard_agreement"].value
        (1.0, 1.0)
    """
    return multilabel_agreement_table(encode_multilabel(item_ids, annotators, label_sets, classes=classes))


def multilabel_agreement_table(mt: MultiLabelTable) -> dict[str, Any]:
    """:func:`multilabel_agreement` on an already encoded :class:`MultiLabelTable`."""
    per_class = class_agreement(mt)
    out: dict[str, Any] = {name: _macro(scores, mt.classes) for name, scores in per_class.items()}
    out.update(set_agreement(mt))
    out.update(n_items=mt.table.n_items, n_annotations=len(mt.table), n_annotators=mt.table.n_annotators)
    return out


@dataclass(frozen=True)
class MultiLabelConsensus:
    """The majority consensus set per item, as columns (one row per item, items sorted).

    Attributes:
        items: Item ids.
        classes: Class names in schema order (the columns).
        labels: Items x classes, ``True`` for the classes in the consensus set.
        votes: Items x classes, how many annotators chose each class.
        n_annotations: Annotations per item.
        tied: Items x classes, ``True`` where exactly half of the item's annotators chose the class.
        confidence: Share of the item's annotators whose whole set equals the consensus set.
    """

    items: np.ndarray
    classes: list
    labels: np.ndarray
    votes: np.ndarray
    n_annotations: np.ndarray
    tied: np.ndarray
    confidence: np.ndarray
    method: str = "majority_vote"

    def label_sets(self) -> list[list[str]]:
        """The consensus set of each item, in schema order."""
        return [[self.classes[k] for k in np.flatnonzero(row)] for row in self.labels]

    def as_mapping(self) -> dict:
        """``item_id -> consensus set`` (a list in schema order)."""
        return dict(zip(self.items.tolist(), self.label_sets(), strict=True))

    def records(self) -> list[dict[str, Any]]:
        """One JSON-safe dict per item: ``labels``, ``confidence``, ``method``, ``votes`` (classes with a
        vote), ``n_annotations``, ``tie`` and ``tied_classes``."""
        out = []
        for i, (item, labels) in enumerate(zip(self.items.tolist(), self.label_sets(), strict=True)):
            out.append({
                "item_id": item, "labels": labels, "confidence": float(self.confidence[i]), "method": self.method,
                "votes": {self.classes[k]: int(self.votes[i, k]) for k in np.flatnonzero(self.votes[i])},
                "n_annotations": int(self.n_annotations[i]), "tie": bool(self.tied[i].any()),
                "tied_classes": [self.classes[k] for k in np.flatnonzero(self.tied[i])],
            })
        return out


def majority_sets(mt: MultiLabelTable) -> MultiLabelConsensus:
    """Per item, the classes more than half of its annotators chose; exactly half is a tie (left out).

    Example:
        >>> mt = encode_multilabel([1, 1, 1, 2, 2], list("abcab"), [["x", "y"], ["x"], ["x", "y"], ["x"], ["y"]],
        ...                        classes=["x", "y"])
        >>> c = majority_sets(mt)
        >>> c.label_sets(), c.tied.any(1).tolist(), [round(v, 3) for v in c.confidence.tolist()]
        ([['x', 'y'], []], [False, True], [0.667, 0.0])
    """
    table = mt.table
    votes = mt.votes()
    n = np.bincount(table.item, minlength=table.n_items)
    labels = 2 * votes > n[:, None]
    tied = (2 * votes == n[:, None]) & (n[:, None] >= 2)
    exact = (mt.indicators == labels[table.item]).all(1) if len(table) else np.zeros(0, bool)
    confidence = np.bincount(table.item, weights=exact, minlength=table.n_items) / np.maximum(n, 1)
    return MultiLabelConsensus(table.items, list(mt.classes), labels, votes, n, tied, confidence)


def annotator_figures(mt: MultiLabelTable, reference: np.ndarray, *, has_reference: np.ndarray | None = None
                      ) -> dict[str, dict[str, Any]]:
    """Each annotator against a reference set per item (e.g. the consensus): Jaccard, F1 and kappa.

    Args:
        mt: The encoded annotations.
        reference: Items x classes, the reference set of each item (rows in ``mt.table.items`` order).
        has_reference: Items with a reference (default: all).

    Returns:
        ``annotator -> figures``: ``n_items`` (items with a reference), ``jaccard`` (mean over
        them), ``f1`` (micro F1 over (item, class) decisions), ``kappa`` (macro mean of the per-class
        Cohen's kappas), ``per_class`` (``class -> {"f1", "kappa"}``); ``None`` where undefined.

    Example:
        >>> mt = encode_multilabel([1, 1, 2, 2], list("abab"), [["x"], ["x"], ["y"], []], classes=["x", "y"])
        >>> ref = np.array([[True, False], [False, True]])
        >>> figures = annotator_figures(mt, ref)
        >>> figures["a"]["jaccard"], figures["b"]["jaccard"], figures["b"]["per_class"]["y"]["f1"]
        (1.0, 0.5, 0.0)
    """
    table, k = mt.table, len(mt.classes)
    has = np.ones(table.n_items, bool) if has_reference is None else np.asarray(has_reference, bool)
    rows = np.flatnonzero(has[table.item]) if len(table) else np.zeros(0, np.int64)
    who, mine, ref = table.annotator[rows], mt.indicators[rows], np.asarray(reference, bool)[table.item[rows]]
    n_ann = table.n_annotators
    n = np.bincount(who, minlength=n_ann)
    jaccard = np.bincount(who, weights=jaccard_rows(mine, ref), minlength=n_ann)
    cell = (np.arange(k) * 4)[None, :] + mine * 2 + ref  # per class: [[tn, fn], [fp, tp]] as (mine, reference)
    flat = (who[:, None] * (k * 4) + cell).ravel()
    tables = np.bincount(flat, minlength=n_ann * k * 4).reshape(n_ann, k, 2, 2)
    kappa, ok = kappa_many(tables.reshape(-1, 2, 2)) if k else (np.zeros(0), np.zeros(0, bool))
    kappa, ok = kappa.reshape(n_ann, k), ok.reshape(n_ann, k)
    tp, fp, fn = tables[..., 1, 1], tables[..., 1, 0], tables[..., 0, 1]
    out = {}
    for a, name in enumerate(table.annotators.tolist()):
        denominator = 2 * tp[a] + fp[a] + fn[a]
        micro = 2 * tp[a].sum() + fp[a].sum() + fn[a].sum()
        out[name] = {
            "n_items": int(n[a]),
            "jaccard": float(jaccard[a] / n[a]) if n[a] else None,
            "f1": float(2 * tp[a].sum() / micro) if micro else None,
            "kappa": float(kappa[a][ok[a]].mean()) if ok[a].any() else None,
            "per_class": {c: {"f1": float(2 * tp[a, j] / denominator[j]) if denominator[j] else None,
                              "kappa": float(kappa[a, j]) if ok[a, j] else None}
                          for j, c in enumerate(mt.classes)},
        }
    return out
