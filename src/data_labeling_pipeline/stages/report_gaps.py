"""The guideline-gaps section of the dashboard: which files it streams, and how each example is shown.

Classification streams ``annotations/consensus.jsonl`` (its ``votes``); spans and boxes stream
``annotations/annotations.jsonl`` one item at a time. Only the few example items are then
looked up in ``items.jsonl`` and ``predictions.jsonl``, and only their images are opened
(thumbnails inline as data URIs).
"""

from __future__ import annotations

from ..project import ANNOTATIONS, CONSENSUS, ITEMS, PREDICTIONS, Project

CLASSIFICATION = ("image_classification", "text_classification")
REGIONS = {"ner": "spans", "bbox": "boxes"}


def guideline_gaps(project: Project, annotators: dict, *, top: int, per_pair: int) -> dict:
    """The section: the ``top`` confused class pairs, each with up to ``per_pair`` example items."""
    from ..report.gaps import PairExamples, ds_pairs, group_by_item, region_disagreements
    from .report import stream

    task_type = project.params["project"]["task_type"]
    section: dict = {"title": "Guideline gaps", "empty": None, "method": "", "pairs": []}
    if project.params["project"].get("multi_label"):
        section["empty"] = "not for multi-label classification: classes that come up together are no confusion"
        return section
    picker = PairExamples(per_pair=per_pair)
    if task_type in CLASSIFICATION:
        ranked = ds_pairs(annotators, top=top)
        wanted = {(p["a"], p["b"]) for p in ranked}
        for record in stream(project, CONSENSUS):
            picker.n_items += 1
            votes = {str(k): v for k, v in (record.get("votes") or {}).items() if v}
            if len(votes) < 2:
                continue
            present = sorted(votes)
            pairs = [(a, b) for i, a in enumerate(present) for b in present[i + 1:]]
            if ranked:
                pairs = [p for p in pairs if p in wanted]
            if pairs:
                picker.add(record["item_id"], votes, {"consensus": record.get("label"), "votes": votes}, pairs=pairs)
        section["source"] = "ds_confusion" if ranked else "votes"
        if ranked:
            section["method"] = ("Class pairs by the Dawid-Skene confusions of metrics/annotators.json "
                                 "(ds_confusion): score = P(b | a) + P(a | b), averaged over annotators weighted "
                                 "by their labels. Examples: items whose votes split between the two classes, most "
                                 "even split first.")
            section["pairs"] = [{**p, "n_items": picker.counts.get((p["a"], p["b"]), 0),
                                 "examples": picker.examples(p["a"], p["b"])} for p in ranked]
        else:
            section["method"] = ("No Dawid-Skene confusions (quality.consensus_method is not dawid_skene, or "
                                 "nothing to fit yet): class pairs by the share of items whose votes split between "
                                 "them (annotations/consensus.jsonl).")
            section["pairs"] = picker.ranked(top=top)
    elif task_type in REGIONS:
        field = REGIONS[task_type]
        for item_id, group in group_by_item(stream(project, ANNOTATIONS)):
            picker.n_items += 1
            if len({a["annotator"] for a in group}) < 2:
                continue
            counts, pairs = region_disagreements(group, field)
            if pairs:
                picker.add(item_id, counts, {"regions": {a["annotator"]: a.get(field) or [] for a in group}},
                           pairs=pairs)
        section["source"] = "regions"
        what = "overlapping spans" if field == "spans" else "boxes matching at IoU >= 0.5"
        section["method"] = (f"Class pairs of {what} that two annotators labelled differently "
                             "(annotations/annotations.jsonl); score = share of items with such a pair.")
        section["pairs"] = picker.ranked(top=top)
    else:
        section["empty"] = f"no class confusions for the task type {task_type}"
        return section
    if not section["pairs"]:
        section["empty"] = ("no two annotators disagreed on an item yet" if picker.n_items else
                            "no labelled items yet")
        return section
    _show_examples(project, section["pairs"], task_type)
    return section


def _show_examples(project: Project, pairs: list[dict], task_type: str) -> None:
    """Fill each example with what a reader needs to see: thumbnail, text excerpt, spans, the model's guess."""
    from .report import records_of

    ids = {x["item_id"] for p in pairs for x in p["examples"]}
    items = {k: v[0] for k, v in records_of(project, ITEMS, ids).items()}
    predictions = records_of(project, PREDICTIONS, ids) if project.params["prelabel"]["enabled"] else {}
    consensus = {}
    if task_type in REGIONS:
        consensus = {k: v[0] for k, v in records_of(project, CONSENSUS, ids).items()}
    for p in pairs:
        p["examples"] = [_example(project, x["item_id"], x["detail"] or {}, items.get(x["item_id"]),
                                  predictions.get(x["item_id"]), consensus.get(x["item_id"]), task_type)
                         for x in p["examples"]]


def _example(project: Project, item_id: str, detail: dict, item: dict | None, predictions: list | None,
             consensus: dict | None, task_type: str) -> dict:
    from ..report.thumbs import excerpt, thumbnail_uri

    out: dict = {"item_id": item_id, "consensus": detail.get("consensus"), "votes": detail.get("votes")}
    data = (item or {}).get("data") or {}
    image = data.get("image")
    if image:
        path = project.path(image)
        if "://" not in image and path.is_file():
            out["thumbnail"] = thumbnail_uri(path.read_bytes())
        else:
            out["uri"] = image
    labelled = [r for r in predictions or [] if r.get("label") is not None]
    if labelled:
        out["prediction"] = sorted(labelled, key=lambda r: r["model_version"])[-1]["label"]
    regions = detail.get("regions") or {}
    if task_type == "ner" and data.get("text") is not None:
        spans = [s for rs in regions.values() for s in rs]
        offset, piece = excerpt(data["text"], start=min((s["start"] for s in spans), default=0),
                                end=max((s["end"] for s in spans), default=0))
        out["segments"] = {who: _segments(piece, offset, rs) for who, rs in regions.items()}
        if consensus is not None:
            out["segments"]["consensus"] = _segments(piece, offset, consensus.get("spans") or [])
    elif data.get("text") is not None:
        out["text"] = excerpt(data["text"])[1]
    if task_type == "bbox":
        out["regions"] = {who: "; ".join(f"{b['label']} at x {b['x']:g}, y {b['y']:g}, {b['w']:g} x {b['h']:g}"
                                         for b in sorted(bs, key=lambda b: (b["x"], b["y"], b["label"])))
                          or "no boxes" for who, bs in regions.items()}
    return out


def _segments(piece: str, offset: int, spans: list[dict]) -> list[list]:
    """``[[text, label or None], ...]`` covering ``piece``; overlapping spans after the first are skipped.

    >>> _segments("Ann met Bob", 0, [{"start": 0, "end": 3, "label": "PER"}])
    [['Ann', 'PER'], [' met Bob', None]]
    """
    out, at = [], 0
    for span in sorted(spans, key=lambda s: (s["start"], s["end"], s["label"])):
        start, end = span["start"] - offset, span["end"] - offset
        if start < at or end > len(piece) or start < 0:
            continue
        if start > at:
            out.append([piece[at:start], None])
        out.append([piece[start:end], span["label"]])
        at = end
    if at < len(piece):
        out.append([piece[at:], None])
    return out
