"""The dashboard's sections as plain data, from the metrics files (already parsed).

Every function takes dicts as the stages wrote them (``None`` for a file that does not
exist) and returns a dict with ``title``, ``empty`` (why there is nothing to show, or
``None``) and the section's rows. Figures keep their metric key (``file:key``) and raw
value next to the text shown, so the page says where each number comes from.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

AGREEMENT = "metrics/agreement.json"
ANNOTATORS = "metrics/annotators.json"
REVIEW = "metrics/review.json"
PRELABEL = "metrics/prelabel.json"
EXPORT = "metrics/export.json"
SELECT = "metrics/select.json"
# Agreement figures in the order shown, when agreement.json has them.
AGREEMENT_KEYS = ("krippendorff_alpha", "fleiss_kappa", "cohens_kappa", "gwet_ac1", "percent_agreement",
                  "span_f1_exact", "span_f1_overlap", "box_f1_50", "box_f1_75", "box_mean_iou")
NO_LABELS = "no annotations yet: label some items in Label Studio (or drop exports into inbox/), then dvc repro"


def text(value: Any, digits: int = 3) -> str:
    """A figure as shown: ``n/a`` for None, integers as they are, other numbers with ``digits`` decimals.

    >>> text(None), text(3), text(0.98765), text(True)
    ('n/a', '3', '0.988', 'yes')
    """
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def figure(label: str, source: str, key: str, value: Any, *, note: str | None = None) -> dict:
    return {"label": label, "key": f"{source}:{key}", "value": value, "text": text(value), "note": note}


def _missing(name: str, stage: str) -> str:
    return f"{name} does not exist yet: the {stage} stage writes it (dvc repro)"


def headline(agreement: Mapping | None, report: Mapping | None, review: Mapping | None,
             verdict: Mapping) -> dict:
    """Items, annotations, annotators, agreement with its interval, estimated accuracy, the gate's verdict.

    >>> h = headline({"n_items": 2, "n_annotations": 4, "n_annotators": 2, "fleiss_kappa": 0.5}, {}, None,
    ...              {"status": "passed", "lines": []})
    >>> [f["text"] for f in h["counts"]], h["agreement"][0]["key"]
    (['2', '4', '2'], 'metrics/agreement.json:fleiss_kappa')
    """
    section = {"title": "Headline", "empty": None, "counts": [], "agreement": [], "accuracy": [],
               "verdict": dict(verdict)}
    if agreement is None:
        section["empty"] = _missing(AGREEMENT, "agree")
        return section
    report = report or {}
    section["counts"] = [figure(label, AGREEMENT, key, agreement.get(key))
                         for label, key in (("items", "n_items"), ("annotations", "n_annotations"),
                                            ("annotators", "n_annotators"))]
    head = report.get("headline")
    boot = report.get("bootstrap") or {}
    ci = agreement.get("bootstrap_ci95") or {}
    undefined = report.get("undefined") or {}
    keys = [k for k in AGREEMENT_KEYS if k in agreement] + ([head] if head and head not in AGREEMENT_KEYS
                                                             and head in agreement else [])
    for key in keys:
        row = figure(key, AGREEMENT, key, agreement.get(key))
        row["headline"] = key == head
        row["interval"] = None
        if key == boot.get("metric") and ci.get("metric_low") is not None:
            row["interval"] = {"low": figure("low", AGREEMENT, "bootstrap_ci95.metric_low", ci["metric_low"]),
                               "high": figure("high", AGREEMENT, "bootstrap_ci95.metric_high", ci["metric_high"]),
                               "confidence": boot.get("confidence"), "n_resamples": boot.get("n_resamples"),
                               "method": boot.get("method")}
        elif key == head:
            row["note"] = f"no bootstrap interval ({boot['reason']})" if boot.get("reason") else "no bootstrap interval"
        if row["value"] is None:
            row["note"] = (NO_LABELS if agreement.get("n_annotations") == 0
                           else f"undefined: {undefined.get(key) or 'no reason recorded'}")
        section["agreement"].append(row)
    if review and review.get("estimated_accuracy_exported") is not None:
        section["accuracy"] = [
            figure("estimated accuracy of the exported labels", REVIEW, "estimated_accuracy_exported",
                   review["estimated_accuracy_exported"]),
            figure("its standard error", REVIEW, "estimated_accuracy_exported_se",
                   review.get("estimated_accuracy_exported_se")),
            figure("expected wrong labels among the exported", REVIEW, "expected_wrong_exported",
                   review.get("expected_wrong_exported"))]
    if agreement.get("n_annotations") == 0:
        section["empty"] = NO_LABELS
    return section


def _first(figures: Mapping, *keys: str) -> tuple[str, Any]:
    for key in keys:
        if key in figures:
            return key, figures[key]
    return keys[0], None


def annotator_rows(annotators: Mapping | None, report: Mapping | None = None) -> dict:
    """One row per annotator: labels, accuracy and kappa (or F1) vs consensus, speed, spammer score, flags, windows.

    Classification has ``accuracy_vs_consensus`` and ``kappa_vs_consensus``; spans and boxes
    ``agreement_with_consensus`` and ``f1_vs_consensus``: each row names the key it shows.

    >>> rows = annotator_rows({"b": {"n_items": 3, "kappa_vs_consensus": 0.5, "flags": {"spammer": 1},
    ...                              "windows": {"kappa_by_window": {"1": 0.4, "0": 0.6}}}})["rows"]
    >>> rows[0]["flags"], rows[0]["windows"], round(rows[0]["drift"], 6)
    (['spammer'], [[0, 0.6], [1, 0.4]], -0.2)
    """
    section: dict[str, Any] = {"title": "Annotators", "empty": None, "rows": [], "columns": []}
    if annotators is None:
        section["empty"] = _missing(ANNOTATORS, "agree")
        return section
    if not annotators:
        section["empty"] = "no annotators yet: " + NO_LABELS
        return section
    below = set((report or {}).get("annotators_below_min_kappa") or [])
    for who in sorted(annotators):
        f = annotators[who]
        acc_key, acc = _first(f, "accuracy_vs_consensus", "agreement_with_consensus")
        kappa_key, kappa = _first(f, "kappa_vs_consensus", "f1_vs_consensus")
        windows = (f.get("windows") or {}).get("kappa_by_window") or {}
        series = sorted([int(w), v] for w, v in windows.items() if v is not None)
        flags = sorted(f.get("flags") or {})
        if who in below:
            flags.append("below_min_kappa")
        section["rows"].append({
            "annotator": who, "labels": f.get("n_items"), "accuracy_key": acc_key, "accuracy": acc,
            "kappa_key": kappa_key, "kappa": kappa, "labels_per_hour": f.get("labels_per_hour"),
            "spammer_score": f.get("spammer_score"), "accuracy_vs_truth": f.get("accuracy_vs_truth"),
            "latest_kappa": (f.get("windows") or {}).get("latest_kappa"), "flags": flags, "windows": series,
            "drift": series[-1][1] - series[0][1] if len(series) > 1 else None})
    first = section["rows"][0]
    section["columns"] = ["annotator", "labels (n_items)", first["accuracy_key"], first["kappa_key"],
                          "latest window kappa", "latest - first window", "labels_per_hour", "spammer_score",
                          "flags", "kappa by window"]
    return section


def pairwise(report: Mapping | None, annotators: Mapping | None = None, *, limit: int | None = None) -> dict:
    """Pairwise agreement between annotators: Cohen's kappa (classification) or the headline F1 (spans, boxes).

    With ``limit``, only pairs of the ``limit`` annotators with the most labels are kept
    (``left_out`` says how many others there are).

    >>> p = pairwise({"pairwise_kappa": [{"annotator_a": "a", "annotator_b": "b", "kappa": 0.5, "n_items": 4}]})
    >>> p["metric"], p["annotators"], p["pairs"][0]["value"]
    ('kappa', ['a', 'b'], 0.5)
    """
    section: dict[str, Any] = {"title": "Pairwise agreement", "empty": None, "metric": "kappa", "pairs": [],
                               "annotators": [], "left_out": 0}
    if report is None:
        section["empty"] = _missing("reports/agreement.json", "agree")
        return section
    if "pairwise_kappa" in report:
        rows = [{**r, "value": r.get("kappa")} for r in report["pairwise_kappa"]]
    else:
        metric = report.get("headline")
        rows = list((report.get("pairs") or {}).get(metric) or [])
        section["metric"] = metric or "agreement"
    section["pairs"] = sorted(({"a": r["annotator_a"], "b": r["annotator_b"], "value": r.get("value"),
                                "n_items": r.get("n_items"), "reason": r.get("reason")} for r in rows),
                              key=lambda r: (r["a"], r["b"]))
    section["annotators"] = sorted({r["a"] for r in section["pairs"]} | {r["b"] for r in section["pairs"]})
    section["left_out"] = 0
    if limit is not None and len(section["annotators"]) > limit:
        labels = {a: (annotators or {}).get(a, {}).get("n_items") or 0 for a in section["annotators"]}
        kept = set(sorted(labels, key=lambda a: (-labels[a], a))[:limit])
        section["left_out"] = len(section["annotators"]) - limit
        section["pairs"] = [r for r in section["pairs"] if r["a"] in kept and r["b"] in kept]
        section["annotators"] = sorted(kept)
    if not section["pairs"]:
        count = len(annotators or {})
        section["empty"] = ("no pair of annotators labelled the same items yet" if count > 1 else
                            f"pairwise agreement needs two annotators; the project has {count}")
    return section


def confusion_section(counts: Mapping[str, Mapping[tuple[str, str], int]], classes: list[str], *,
                      task_type: str, limit: int, n_annotators: int) -> dict:
    """Per-annotator confusion matrices (consensus class x annotator's label), counts and row shares.

    ``counts`` is ``annotator -> (consensus, label) -> n`` (from ``plots/confusion``); at most
    ``limit`` annotators are shown, those with the most labels first.
    """
    section: dict[str, Any] = {"title": "Confusion matrices", "empty": None, "matrices": [], "classes": [],
                               "left_out": 0}
    if task_type not in ("image_classification", "text_classification"):
        section["empty"] = f"confusion matrices are for classification; a {task_type} project has none"
        return section
    if not any(counts.values()):
        section["empty"] = "no annotator has a label on an item with a consensus yet"
        return section
    ranked = sorted(counts, key=lambda a: (-sum(counts[a].values()), a))
    shown = sorted(ranked[:limit])
    section["left_out"] = max(n_annotators, len(counts)) - len(shown)
    seen = {c for a in shown for pair in counts[a] for c in pair}
    section["classes"] = [c for c in classes if c in seen] + sorted(seen - set(classes))
    for who in shown:
        totals: dict[str, int] = {}
        for (truth, _), n in counts[who].items():
            totals[truth] = totals.get(truth, 0) + n
        cells = [{"consensus": t, "label": lab, "n": n, "share": round(n / totals[t], 6)}
                 for (t, lab), n in sorted(counts[who].items())]
        agree = sum(n for (t, lab), n in counts[who].items() if t == lab)
        errors = sorted((c for c in cells if c["consensus"] != c["label"]), key=lambda c: (-c["n"], c["consensus"],
                                                                                          c["label"]))
        section["matrices"].append({"annotator": who, "cells": cells, "n": sum(totals.values()),
                                    "agree": agree, "top_errors": errors[:3]})
    return section


def queues(review: Mapping | None, by_reason: Mapping[str, Mapping[str, Mapping]] | None,
           select: Mapping | None = None) -> dict:
    """The review and annotate queues by reason (from ``annotations/review.jsonl``) and their totals.

    ``by_reason`` is ``action -> reason -> {"n", "expected_wrong"}``; an item with several
    reasons counts under each.
    """
    section: dict[str, Any] = {"title": "Review and annotate queues", "empty": None, "totals": [], "rows": [],
                               "select": []}
    if review is None:
        section["empty"] = _missing(REVIEW, "agree")
        return section
    for label, key in (("items to review", "n_review"), ("expected wrong labels in the review queue",
                                                          "expected_wrong_review"),
                       ("review budget (items)", "budget"), ("items to annotate again", "n_annotate"),
                       ("expected wrong labels in the annotate queue", "expected_wrong_annotate"),
                       ("items with no annotation yet", "n_unannotated"), ("items to relabel (class split)",
                                                                            "n_relabel"),
                       ("accepted items", "n_accepted"), ("expected wrong labels among the accepted",
                                                          "expected_wrong_accepted"),
                       ("items decided by a reviewer", "n_decided")):
        if key in review:
            section["totals"].append(figure(label, REVIEW, key, review[key]))
    for action in sorted(by_reason or {}):
        for reason in sorted(by_reason[action]):
            cell = by_reason[action][reason]
            section["rows"].append({"action": action, "reason": reason, "n": cell["n"],
                                    "expected_wrong": cell.get("expected_wrong")})
    if select:
        for label, key in (("next batch from active learning (queue/next.jsonl)", "batch_size"),
                           ("unlabelled pool it was chosen from", "pool_size"),
                           ("pre-labels in the batch to verify, not create", "batch_confident_prelabels"),
                           ("their share of the batch", "batch_confident_share"),
                           ("share of the pool with such a pre-label", "pool_confident_share")):
            if key in select:
                section["select"].append(figure(label, SELECT, key, select[key]))
    if not section["rows"]:
        section["empty"] = ("both queues are empty" if review.get("n_items") else NO_LABELS)
    return section


def prelabels(metrics: Mapping | None, report: Mapping | None, agreement: Mapping | None, *,
              enabled: bool = True) -> dict:
    """The weak model: cross-validated accuracy, how often annotators kept its pre-labels, agreement with consensus."""
    section: dict[str, Any] = {"title": "Pre-labels", "empty": None, "figures": [], "notes": []}
    if not enabled:
        section["empty"] = "no pre-label model: prelabel is off (prelabel.enabled: false)"
        return section
    if metrics is None:
        section["empty"] = _missing(PRELABEL, "prelabel")
        return section
    for label, key in (("cross-validated accuracy", "cv_accuracy"), ("its standard deviation over folds",
                                                                      "cv_accuracy_std"),
                       ("labels it was trained on", "n_labels_at_training"), ("items pre-labelled", "items_predicted"),
                       ("acceptance rate: annotations that kept the pre-label", "acceptance_annotations_rate"),
                       ("annotations made from a pre-label", "acceptance_annotations_n"),
                       ("acceptance rate: consensus equal to the pre-label", "acceptance_consensus_rate"),
                       ("pre-labelled items with a settled consensus", "acceptance_consensus_n"),
                       ("median seconds of a kept pre-label (lead_time)", "median_lead_time_kept"),
                       ("median seconds of a created label", "median_lead_time_created"),
                       ("verify_time_ratio: a verification against a creation", "verify_time_ratio")):
        if key in metrics:
            section["figures"].append(figure(label, PRELABEL, key, metrics[key]))
    for key in ("model_agreement_with_consensus", "model_n_predictions"):
        if agreement and key in agreement:
            section["figures"].append(figure(key.replace("_", " "), AGREEMENT, key, agreement[key]))
    report = report or {}
    for key in ("reason", "acceptance_annotations", "acceptance_consensus", "retrain"):
        if report.get(key):
            section["notes"].append(f"{key}: {report[key]}")
    if not metrics.get("trained") and not metrics.get("user_model") and metrics.get("cv_accuracy") is None:
        section["empty"] = report.get("reason") or (
            f"no model trained yet ({metrics.get('n_labels', 0)} labels, prelabel.min_labels "
            f"{metrics.get('min_labels', 'n/a')})")
    return section


def exports(metrics: Mapping | None) -> dict:
    """Items and objects per format and split, what was lost (the formats' events), estimated accuracy by split."""
    section: dict[str, Any] = {"title": "Exports", "empty": None, "totals": [], "rows": [], "events": [],
                               "accuracy": []}
    if metrics is None:
        section["empty"] = _missing(EXPORT, "export")
        return section
    for label, key in (("items exported", "items_exported"), ("held for review", "items_held_for_review"),
                       ("without a label", "items_unlabeled"), ("rotated boxes dropped", "rotated_dropped")):
        if key in metrics:
            section["totals"].append(figure(label, EXPORT, key, metrics[key]))
    for split, value in sorted((metrics.get("estimated_accuracy") or {}).items()):
        section["accuracy"].append(figure(f"estimated accuracy ({split})", EXPORT, f"estimated_accuracy.{split}",
                                          value))
    for name in sorted(k for k, v in metrics.items() if isinstance(v, dict) and "items" in v):
        report = metrics[name]
        for split in sorted(report["items"]):
            counts = report["items"][split]
            section["rows"].append({"format": name, "split": split, "in": counts.get("in"), "out": counts.get("out")})
        section["rows"].append({"format": name, "split": "objects", "in": report.get("objects_in"),
                                "out": report.get("objects_out")})
        for event, n in sorted((report.get("events") or {}).items()):
            section["events"].append({"format": name, "event": event, "n": n})
    if not metrics.get("items_exported"):
        section["empty"] = "nothing exported yet: no item has a consensus label"
    return section
