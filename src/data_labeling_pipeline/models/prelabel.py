"""Pure glue of the prelabel stage: training set and sample, model version, prediction records, acceptance, retraining.

Everything takes and returns plain records (dicts) and arrays; the stage reads the files and
params and passes them in.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from data_labeling_pipeline.errors import DataError

# Consensus statuses whose label is final enough to train on (flagged / held items are not).
FINAL_STATUSES = ("accepted", "reviewed")
PAYLOAD_KEYS = ("label", "labels", "spans", "boxes")
DECIMALS = 6
MIN_PER_CLASS = 100  # a capped training sample keeps this many labels of every class (all of a smaller one)


def training_set(consensus: Iterable[Mapping], *, key: str) -> list[tuple[str, Any]]:
    """``(item_id, payload)`` of consensus records that are accepted or reviewed and carry ``key``, by item id.

    Example:
        >>> training_set([{"item_id": "b", "label": "cat", "status": "accepted"},
        ...               {"item_id": "a", "label": "dog", "status": "flagged"}], key="label")
        [('b', 'cat')]
    """
    if key not in PAYLOAD_KEYS:
        raise DataError.single("<training_set>", None, "key", f"expected one of {list(PAYLOAD_KEYS)}, got {key!r}")
    return sorted((r["item_id"], r[key]) for r in consensus
                  if r.get("status") in FINAL_STATUSES and r.get(key) is not None)


def cap_training_set(training: Iterable[tuple[str, Any]], *, max_labels: int | None, seed: int = 0,
                     min_per_class: int = MIN_PER_CLASS) -> list[tuple[str, Any]]:
    """At most ``max_labels`` of the ``(item_id, payload)`` pairs: a sample stratified by class, by item id.

    With ``max_labels=None`` or no more pairs than that, every pair is kept. Otherwise each
    stratum (the label; the sorted label set when multi-label; the sorted set of region labels
    for spans and boxes) keeps its proportional share (largest remainder), and at least
    ``min(its count, min_per_class)`` so a rare class is still learnt (``min_per_class`` is
    lowered to ``max_labels // strata`` when there are many strata). Within a stratum the pairs
    kept are those with the smallest sha256 of ``seed`` and the item id: the same inputs give the
    same sample, and new labels move a few items in or out of it instead of redrawing it.

    Example:
        >>> pairs = [(f"i{n:02d}", "cat" if n < 30 else "dog") for n in range(40)]
        >>> sample = cap_training_set(pairs, max_labels=20, seed=0, min_per_class=1)
        >>> sorted({label: [p for _, p in sample].count(label) for label in ("cat", "dog")}.items())
        [('cat', 15), ('dog', 5)]
        >>> sample == sorted(sample) and cap_training_set(pairs, max_labels=None) == pairs
        True
    """
    if max_labels is not None and (not isinstance(max_labels, int) or isinstance(max_labels, bool) or max_labels < 1):
        raise DataError.single("<cap_training_set>", None, "max_labels",
                               f"expected a positive integer or None, got {max_labels!r}")
    pairs = list(training)
    if max_labels is None or len(pairs) <= max_labels:
        return pairs
    strata: dict[Any, list[tuple[str, Any]]] = {}
    for item_id, payload in pairs:
        strata.setdefault(_stratum(payload), []).append((item_id, payload))
    quotas = _quotas({key: len(members) for key, members in strata.items()}, max_labels, min_per_class)
    kept = []
    for key, members in strata.items():
        ranked = sorted(members, key=lambda pair: (_rank(seed, pair[0]), pair[0]))
        kept.extend(ranked[: quotas[key]])
    return sorted(kept, key=lambda pair: pair[0])


def _stratum(payload: Any) -> Any:
    """What a sample is stratified by: a label, a sorted label set, or the sorted labels of the regions."""
    if isinstance(payload, list):
        return tuple(sorted({v["label"] if isinstance(v, Mapping) else v for v in payload}))
    return payload


def _rank(seed: int, item_id: str) -> bytes:
    return hashlib.sha256(f"{seed}:{item_id}".encode()).digest()


def _quotas(counts: dict[Any, int], budget: int, floor: int) -> dict[Any, int]:
    """Labels kept per stratum: proportional, at least ``min(count, floor)``, summing to ``budget`` (< total)."""
    floor = max(0, min(floor, budget // len(counts)))
    fixed: dict[Any, int] = {}
    while True:  # a stratum whose share is below its floor gets the floor; the rest share what is left
        free = {key: n for key, n in counts.items() if key not in fixed}
        left, total = budget - sum(fixed.values()), sum(free.values())
        low = {key: min(n, floor) for key, n in free.items() if left * n < min(n, floor) * total}
        if not low:
            break
        fixed.update(low)
    # Integer shares (no float rounding), the remainder to the largest fractions; ties by stratum.
    quotas = {key: left * n // total for key, n in free.items()}
    order = sorted(free, key=lambda key: (-(left * free[key] % total), repr(key)))
    for key in order[: left - sum(quotas.values())]:
        quotas[key] += 1
    return {**quotas, **fixed}


def skip_reason(labels: Sequence[Any], *, min_labels: int, classification: bool = True) -> str | None:
    """Why no model should be trained on these consensus payloads, or ``None`` when one should.

    Example:
        >>> skip_reason(["cat"] * 10, min_labels=50).split(":")[0]
        'only 10 consensus labels (accepted or reviewed), prelabel.min_labels is 50'
        >>> skip_reason(["cat", "dog"], min_labels=2) is None
        True
    """
    if len(labels) < min_labels:
        return (f"only {len(labels)} consensus labels (accepted or reviewed), prelabel.min_labels is {min_labels}: "
                "no model trained and no pre-labels written until then")
    if classification:
        seen = {tuple(sorted(v)) if isinstance(v, list) else v for v in labels}
        if len(seen) < 2:
            return f"all {len(labels)} consensus labels are {next(iter(seen))!r}: a model needs two classes at least"
    return None


def digest(obj: Any, *, length: int = 16) -> str:
    """Short sha256 hex of the canonical JSON of ``obj`` (sorted keys, compact, UTF-8).

    Example:
        >>> digest({"b": 1, "a": [1, 2]}) == digest({"a": [1, 2], "b": 1})
        True
    """
    return hashlib.sha256(_canonical(obj).encode("utf-8")).hexdigest()[:length]


def _canonical(obj: Any) -> str:
    try:
        return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False,
                          default=_plain)
    except (TypeError, ValueError) as exc:
        raise DataError.single("<model_version>", None, "params",
                               f"cannot hash the value ({exc}); expected plain JSON values (no NaN, no objects)"
                               ) from None


def model_version(training: Iterable[tuple[str, Any]], params: Mapping[str, Any]) -> str:
    """The version of a model trained on ``(item_id, payload)`` pairs with ``params``: a hash of both.

    Order of the pairs does not matter (they are sorted). Put in ``params`` everything else the
    model depends on: the model options, the schema's classes and version, the checkpoint's
    sha256 for a user model.

    Example:
        >>> v = model_version([("b", "dog"), ("a", "cat")], {"C": 1.0})
        >>> v == model_version([("a", "cat"), ("b", "dog")], {"C": 1.0}), len(v)
        (True, 16)
    """
    pairs = sorted(([str(item_id), payload] for item_id, payload in training),
                   key=lambda pair: (pair[0], _canonical(pair[1])))
    return digest({"training": pairs, "params": params})


def predictions_from_probabilities(
    item_ids: Sequence[str],
    probabilities: Any,
    classes: Sequence[str],
    *,
    model_version: str,
    multi_label: bool = False,
    threshold: float = 0.5,
) -> list[dict]:
    """Prediction records from a probability matrix (rows = items, columns = schema classes in order).

    - single-label: ``label`` is the argmax (ties to the lower schema index), ``score`` its probability;
    - multi-label: ``labels`` are the classes at or above ``threshold`` in schema order, ``score`` the
      least sure of the per-class decisions (``min(max(p, 1 - p))``);
    - ``probabilities`` is a dict class -> probability over every schema class (the prediction schema's
      type; canonical JSON sorts its keys, so read it in schema order through ``classes``).

    Values are rounded to 6 decimals after the argmax is taken, so a row may sum to 1 within
    ``len(classes) * 5e-7`` rather than exactly. Records come sorted by item id.

    Example:
        >>> records = predictions_from_probabilities(["b", "a"], [[0.2, 0.8], [0.5, 0.5]], ["cat", "dog"],
        ...                                          model_version="v1")
        >>> records[0]
        {'item_id': 'a', 'model_version': 'v1', 'label': 'cat', 'score': 0.5, 'probabilities': {'cat': 0.5, 'dog': 0.5}}
        >>> records[1]["label"], records[1]["score"]
        ('dog', 0.8)
    """
    return list(PredictionRecords(item_ids, probabilities, classes, model_version=model_version,
                                  multi_label=multi_label, threshold=threshold))


class PredictionRecords:
    """:func:`predictions_from_probabilities` made one record at a time when iterated (sorted by item id,
    so ``write_jsonl(..., sort=False)`` writes the same bytes): a dict per item is ~600 bytes held at once.
    The inputs are checked when it is built."""

    def __init__(self, item_ids: Sequence[str], probabilities: Any, classes: Sequence[str], *, model_version: str,
                 multi_label: bool = False, threshold: float = 0.5) -> None:
        p = np.asarray(probabilities, dtype=np.float64)
        classes = list(classes)
        _check_ids(item_ids, len(p))
        if p.ndim != 2 or p.shape[1] != len(classes) or not np.isfinite(p).all() or (p < 0).any() or (p > 1).any():
            raise DataError.single("<predictions>", None, "probabilities",
                                   f"expected finite values in [0, 1] of shape ({len(item_ids)}, {len(classes)}), "
                                   f"got shape {p.shape}")
        self.args = (item_ids, p, classes, model_version, multi_label, threshold)

    def __len__(self) -> int:
        return len(self.args[0])

    def __iter__(self) -> Iterator[dict]:
        return _prediction_records(*self.args)


def _prediction_records(item_ids, p, classes, model_version, multi_label, threshold) -> Iterator[dict]:
    rounded = np.round(p, DECIMALS)
    # By item id, stably: the order sorting the finished records by id gave.
    for row in sorted(range(len(item_ids)), key=item_ids.__getitem__):
        item_id = item_ids[row]
        record: dict[str, Any] = {"item_id": item_id, "model_version": model_version}
        if multi_label:
            record["labels"] = [c for c, v in zip(classes, p[row], strict=True) if v >= threshold]
            record["score"] = round(float(np.min(np.maximum(p[row], 1 - p[row]))), DECIMALS)
        else:
            best = int(np.argmax(p[row]))  # argmax returns the first maximum: the lower schema index
            record["label"] = classes[best]
            record["score"] = float(rounded[row, best])
        record["probabilities"] = {c: float(v) for c, v in zip(classes, rounded[row], strict=True)}
        yield record


def predictions_from_spans(
    item_ids: Sequence[str], spans: Sequence[Sequence[Mapping]], *, model_version: str
) -> list[dict]:
    """NER prediction records; ``score`` is the mean span score (``None`` with no span or no span scores).

    Example:
        >>> record = predictions_from_spans(["t1"], [[{"start": 0, "end": 3, "label": "PER", "score": 0.5}]],
        ...                                 model_version="g")[0]
        >>> record["spans"], record["score"]
        ([{'start': 0, 'end': 3, 'label': 'PER', 'score': 0.5}], 0.5)
    """
    return _region_records(item_ids, spans, "spans", model_version)


def predictions_from_boxes(
    item_ids: Sequence[str], boxes: Sequence[Sequence[Mapping]], *, model_version: str
) -> list[dict]:
    """Box prediction records; ``score`` is the mean box score (``None`` with no box or no box scores)."""
    return _region_records(item_ids, boxes, "boxes", model_version)


def same_payload(a: Mapping, b: Mapping, *, iou: float = 0.5) -> bool:
    """Do two records say the same thing? Label equal; label sets equal; spans equal as (start, end, label)
    sets; boxes matched one to one with the same label at IoU >= ``iou`` (greedy, best IoU first).

    Example:
        >>> same_payload({"boxes": [{"x": 0, "y": 0, "w": 10, "h": 10, "label": "car"}]},
        ...              {"boxes": [{"x": 1, "y": 0, "w": 10, "h": 10, "label": "car"}]})
        True
    """
    if "label" in a or "label" in b:
        return a.get("label") == b.get("label")
    if "labels" in a or "labels" in b:
        return a.get("labels") is not None and b.get("labels") is not None and set(a["labels"]) == set(b["labels"])
    if "spans" in a or "spans" in b:
        if a.get("spans") is None or b.get("spans") is None:
            return False
        return {(s["start"], s["end"], s["label"]) for s in a["spans"]} == {
            (s["start"], s["end"], s["label"]) for s in b["spans"]}
    if a.get("boxes") is None or b.get("boxes") is None:
        return False
    return _boxes_match(a["boxes"], b["boxes"], iou)


def acceptance_rate(predictions: Iterable[Mapping], consensus: Iterable[Mapping], annotations: Iterable[Mapping],
                    *, iou: float = 0.5) -> dict[str, Any]:
    """How often earlier pre-labels were kept.

    - ``consensus``: of the items with a prediction and an accepted or reviewed consensus, the share
      whose consensus equals the prediction (:func:`same_payload`);
    - ``annotations``: of the annotations made from a pre-label (``parent_prediction`` set), the share
      submitted unchanged, i.e. equal to the item's prediction.

    Pass the predictions that annotators saw (the previous ``predictions.jsonl``). A share is
    ``None`` when nothing counts, with the reason beside it.

    Example:
        >>> acceptance_rate([{"item_id": "a", "label": "cat"}, {"item_id": "b", "label": "cat"}],
        ...                 [{"item_id": "a", "label": "cat", "status": "accepted"},
        ...                  {"item_id": "b", "label": "dog", "status": "reviewed"}],
        ...                 [{"item_id": "a", "label": "cat", "parent_prediction": 7}])["consensus"]
        {'n': 2, 'accepted': 1, 'rate': 0.5}
    """
    by_item = {p["item_id"]: p for p in predictions}
    n = kept = 0
    for record in consensus:
        prediction = by_item.get(record["item_id"])
        if prediction is not None and record.get("status") in FINAL_STATUSES:
            n += 1
            kept += same_payload(prediction, record, iou=iou)
    m = unchanged = 0
    for annotation in annotations:
        if "prediction_accepted" in annotation:  # pull compared it with the very pre-label it started from
            m += 1
            unchanged += bool(annotation["prediction_accepted"])
            continue
        prediction = by_item.get(annotation["item_id"])
        if annotation.get("parent_prediction") is not None and prediction is not None:
            m += 1
            unchanged += same_payload(prediction, annotation, iou=iou)
    return {"consensus": _share(n, kept, "accepted", "no pre-labelled item has an accepted or reviewed consensus yet"),
            "annotations": _share(m, unchanged, "unchanged", "no annotation was made from a pre-label yet")}


def lead_times(predictions: Iterable[Mapping], annotations: Iterable[Mapping], *, iou: float = 0.5) -> dict[str, Any]:
    """What a label costs: median seconds (Label Studio's ``lead_time``) of kept pre-labels against created labels.

    An annotation is ``kept`` when made from a pre-label and submitted unchanged (as in
    :func:`acceptance_rate`), ``created`` when made without one; edited pre-labels are neither.
    ``verify_time_ratio`` is kept / created: the time model of a verification against a creation.

    Example:
        >>> lead_times([{"item_id": "a", "label": "cat"}],
        ...            [{"item_id": "a", "label": "cat", "parent_prediction": 1, "lead_time": 2.0},
        ...             {"item_id": "b", "label": "dog", "lead_time": 8.0}, {"item_id": "c", "label": "dog"}])
        {'lead_time_kept_n': 1, 'lead_time_created_n': 1, 'median_lead_time_kept': 2.0, \
'median_lead_time_created': 8.0, 'verify_time_ratio': 0.25}
    """
    import statistics

    by_item = {p["item_id"]: p for p in predictions}
    seconds: dict[str, list[float]] = {"kept": [], "created": []}
    for annotation in annotations:
        lead = annotation.get("lead_time")
        if lead is None or not math.isfinite(float(lead)) or float(lead) < 0:
            continue
        if "prediction_accepted" in annotation:
            kind = "kept" if annotation["prediction_accepted"] else None
        elif annotation.get("parent_prediction") is not None:
            prediction = by_item.get(annotation["item_id"])
            kind = "kept" if prediction is not None and same_payload(prediction, annotation, iou=iou) else None
        else:
            kind = "created"
        if kind:
            seconds[kind].append(float(lead))
    kept, created = (round(statistics.median(seconds[k]), 3) if seconds[k] else None for k in ("kept", "created"))
    return {"lead_time_kept_n": len(seconds["kept"]), "lead_time_created_n": len(seconds["created"]),
            "median_lead_time_kept": kept, "median_lead_time_created": created,
            "verify_time_ratio": round(kept / created, 6) if kept is not None and created else None}


def should_retrain(saved_meta: Mapping[str, Any] | None, *, n_labels: int, params_version: str,
                   retrain_every: int) -> tuple[bool, str]:
    """Train a new model, or reuse the saved one? ``(decision, reason)``.

    Retrain when there is no saved model, when ``params_version`` (a :func:`digest` of the model
    params and the label schema) differs from the saved one, when consensus shrank, or when it
    grew by ``retrain_every`` (``active_learning.retrain_every_n_labels``) labels or more since
    the saved model was trained. ``saved_meta`` is what :func:`model_meta` returned then.

    Example:
        >>> meta = model_meta(model_version="abc", n_labels=100, params_version="p1")
        >>> should_retrain(meta, n_labels=150, params_version="p1", retrain_every=500)
        (False, 'reusing model abc: 50 new labels since it was trained, retraining at 500')
    """
    if not saved_meta:
        return True, "no saved model"
    if saved_meta.get("params_version") != params_version:
        return True, "the model params or the label schema changed"
    grown = n_labels - int(saved_meta.get("n_labels", 0))
    if grown < 0:
        return True, f"consensus shrank by {-grown} labels since the saved model"
    if grown >= retrain_every:
        return True, f"{grown} new labels since the saved model (retrain_every_n_labels: {retrain_every})"
    return False, (f"reusing model {saved_meta.get('model_version')}: {grown} new labels since it was trained, "
                   f"retraining at {retrain_every}")


def model_meta(*, model_version: str, n_labels: int, params_version: str, **extra: Any) -> dict[str, Any]:
    """The metadata to save beside a trained model (what :func:`should_retrain` reads back)."""
    return {"model_version": model_version, "n_labels": n_labels, "params_version": params_version, **extra}


def _region_records(item_ids, regions, key, version) -> list[dict]:
    _check_ids(item_ids, len(regions))
    records = []
    for item_id, item_regions in zip(item_ids, regions, strict=True):
        scores = [r["score"] for r in item_regions if r.get("score") is not None]
        score = round(float(np.mean(scores)), DECIMALS) if scores else None
        records.append({"item_id": item_id, "model_version": version, key: [dict(r) for r in item_regions],
                        "score": score})
    return sorted(records, key=lambda r: r["item_id"])


def _check_ids(item_ids: Sequence[str], n: int) -> None:
    if len(item_ids) != n:
        raise DataError.single("<predictions>", None, "item_ids", f"expected one item id per row, got {len(item_ids)} "
                               f"ids and {n} rows")
    if len(set(item_ids)) != len(item_ids):
        raise DataError.single("<predictions>", None, "item_ids", "expected unique item ids, got duplicates")


def _share(n: int, k: int, name: str, reason: str) -> dict[str, Any]:
    if n == 0:
        return {"n": 0, name: 0, "rate": None, "reason": reason}
    return {"n": n, name: k, "rate": k / n}


def _boxes_match(a: Sequence[Mapping], b: Sequence[Mapping], threshold: float) -> bool:
    if len(a) != len(b):
        return False
    pairs = sorted(((-_iou(x, y), i, j) for i, x in enumerate(a) for j, y in enumerate(b) if x["label"] == y["label"]))
    used_a: set[int] = set()
    used_b: set[int] = set()
    for neg, i, j in pairs:
        if -neg < threshold:
            break
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
    return len(used_a) == len(a)


def _iou(a: Mapping, b: Mapping) -> float:
    w = min(a["x"] + a["w"], b["x"] + b["w"]) - max(a["x"], b["x"])
    h = min(a["y"] + a["h"], b["y"] + b["h"]) - max(a["y"], b["y"])
    inter = max(w, 0) * max(h, 0)
    union = a["w"] * a["h"] + b["w"] * b["h"] - inter
    return inter / union if union > 0 else 0.0


def _plain(obj: Any) -> Any:
    """numpy scalars and arrays in params become plain JSON."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"cannot hash a {type(obj).__name__} in params; pass plain JSON values")
