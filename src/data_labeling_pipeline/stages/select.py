"""The select stage: the next batch to label, in priority order (queue/next.jsonl).

The pool is every item nobody has labelled yet and no reviewer is to decide (items with
annotations are the agree stage's to route: more annotators or a review). Its rows come from the
pre-label stage: class probabilities and embeddings. Without a model (too few labels)
the batch is diversity-only over the embeddings, or a seeded random batch without
them; ``metrics/select.json`` says which. The choice itself is `active.select`.

With a model, each queued item carries the weak model's pre-label and its probability, and
``metrics/select.json`` counts the confident ones (``active_learning.confident_score``): what
annotators will verify instead of create. ``active_learning.verify_runs`` queues those first,
in runs of one class. (Counted here, not in ``metrics/prelabel.json``: the prelabel stage runs
before the batch is chosen.)
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ..project import CONSENSUS, EMBEDDING_IDS, EMBEDDINGS, ITEMS, PREDICTIONS, REVIEW, Project
from ..records import iter_records, write_json, write_jsonl

QUEUE = "queue/next.jsonl"
METRICS = "metrics/select.json"
DECIMALS = 6
COMMITTEE = ("vote_entropy", "kl_disagreement")


@dataclass
class SelectSummary:
    metrics: dict
    strategy: str

    def describe(self) -> str:
        m = self.metrics
        if self.strategy == "typiclust":
            model = "typiclust over the embeddings (a cold start: too few labels per class or batch to rank by)"
        else:
            model = f"{self.strategy} over the weak model's probabilities"
        how = {"model": model,
               "diversity": f"{self.strategy} over the embeddings (no weak model yet)",
               "random": "a seeded random batch (no weak model or embeddings yet)"}[self.mode]
        shown = "" if m["uncertainty_mean_batch"] is None else (
            f"; mean uncertainty {m['uncertainty_mean_batch']:.3f} in the batch, {m['uncertainty_mean_pool']:.3f} "
            "in the pool")
        if m.get("batch_confident_prelabels") is not None:
            shown += (f"; {m['batch_confident_prelabels']} with a pre-label at least {m['confident_score']:g} "
                      "probable, to verify" + (" (queued first, in runs of one class)" if m["verify_runs"] else ""))
        return f"select: {m['batch_size']} of {m['pool_size']} unlabelled items by {how}{shown} -> {QUEUE}"

    @property
    def mode(self) -> str:
        return "model" if self.metrics["used_model"] else "diversity" if self.metrics["diversity_only"] else "random"


def run_select(project: Project) -> SelectSummary:
    """Read the pool's predictions and embeddings, pick the batch, write the queue and metrics."""
    from ..active import resolve_strategy, select
    from ..active.strategy import NEEDS_EMBEDDINGS
    from ..active.verification import VERIFICATION_KEYS, verification_figures, verify_runs
    from ..labels import class_names

    params = project.params["active_learning"]
    classes = class_names(project.label_schema)
    # Only the fields used here are kept: millions of items and consensus records otherwise.
    item_ids = sorted(item["item_id"] for item in project.iter_items(ITEMS, fields=("item_id",)))
    labelled = {r["item_id"]: r.get("label") for r in _iter(project, CONSENSUS, ("item_id", "label"))}
    waiting = {r["item_id"] for r in _iter(project, REVIEW, ("item_id", "action")) if r.get("action") == "review"}
    pool = [i for i in item_ids if i not in labelled and i not in waiting]
    pool = sample_pool(pool, params["pool_size"], seed=params["seed"])
    k = min(params["query_batch_size"], len(pool))
    probabilities = _probabilities(project, pool, classes)
    embeddings, row_of = _embeddings(project)
    pool_embeddings = _rows(embeddings, row_of, pool)

    if probabilities is not None:
        mode = "model"
        # auto starts cold (typiclust) while the model has seen few labels per class or batch
        strategy = resolve_strategy(params["strategy"], k=k, pool_size=len(pool),
                                    uncertainty_measure=params["uncertainty_measure"],
                                    committee_measure=params["committee_measure"],
                                    diversity_method=params["diversity_method"],
                                    n_labeled=len(labelled), n_classes=len(classes))
    else:
        mode = "diversity" if pool_embeddings is not None else "random"
        strategy = params["diversity_method"] if mode == "diversity" else "random"
        probabilities = np.full((len(pool), max(len(classes), 2)), 1.0 / max(len(classes), 2))
    if strategy in NEEDS_EMBEDDINGS and pool_embeddings is None:
        strategy = "margin" if mode == "model" else "random"  # no embeddings: the nearest thing that needs none
    committee = labelled_embeddings = None
    if strategy in NEEDS_EMBEDDINGS or strategy in COMMITTEE:  # rows of every labelled item: only when used
        labelled_embeddings = _rows(embeddings, row_of, sorted(labelled))
    if strategy in COMMITTEE:
        committee = _committee(labelled, labelled_embeddings, pool_embeddings, classes, params)
        if committee is None:
            strategy = params["uncertainty_measure"]
    picks, scores = select(probabilities, k, strategy=strategy, embeddings=pool_embeddings,
                           labeled_embeddings=labelled_embeddings, committee_probabilities=committee,
                           seed=params["seed"], uncertainty_measure=params["uncertainty_measure"],
                           prefilter_factor=params["prefilter_factor"], return_scores=True)
    queue = [_record(pool[row], rank, strategy, {key: values[i] for key, values in scores.items()})
             for i, (rank, row) in enumerate(zip(range(1, k + 1), picks, strict=True))]
    verification = None
    if mode == "model":
        verification = verification_figures(probabilities, picks, params["confident_score"])
        for record, row in zip(queue, picks, strict=True):
            record["prelabel"] = classes[int(np.argmax(probabilities[row]))]
            record["prelabel_score"] = round(float(np.max(probabilities[row])), DECIMALS)
        if params["verify_runs"]:
            queue = verify_runs(queue, params["confident_score"], classes)
    from ..active import uncertainty

    pool_uncertainty = uncertainty(probabilities, measure=params["uncertainty_measure"]) if mode == "model" else None
    metrics = {
        "pool_size": len(pool),
        "batch_size": len(queue),
        "items_labelled": len(labelled),
        "items_waiting_for_review": len(waiting),
        "used_model": int(mode == "model"),
        "diversity_only": int(mode == "diversity"),
        "random_fallback": int(mode == "random"),
        "uncertainty_mean_batch": _mean(pool_uncertainty[picks]) if pool_uncertainty is not None and k else None,
        "uncertainty_mean_pool": _mean(pool_uncertainty) if pool_uncertainty is not None and len(pool) else None,
        "confident_score": params["confident_score"],
        **(verification or dict.fromkeys(VERIFICATION_KEYS)),
        "verify_runs": int(bool(params["verify_runs"]) and mode == "model"),
    }
    write_jsonl(project.path(QUEUE), queue, sort=False)
    write_json(project.path(METRICS), metrics)
    return SelectSummary(metrics, strategy)


def sample_pool(item_ids: list[str], pool_size: int | None, *, seed: int) -> list[str]:
    """At most ``pool_size`` ids: those with the smallest hash of (seed, id), so adding items moves few.

    >>> sample_pool(["a", "b", "c"], None, seed=0)
    ['a', 'b', 'c']
    >>> len(sample_pool(["a", "b", "c"], 2, seed=0))
    2
    """
    if pool_size is None or len(item_ids) <= pool_size:
        return list(item_ids)
    ranked = sorted(item_ids, key=lambda i: hashlib.sha256(f"{seed}:{i}".encode()).digest())
    return sorted(ranked[:pool_size])


def _iter(project: Project, relative: str, fields: tuple[str, ...]) -> Iterator[dict]:
    """The records of a stage output that may not exist yet, with only ``fields`` (millions of records)."""
    path = project.path(relative)
    return iter_records(path, display_path=relative, fields=fields) if path.exists() else iter(())


def _probabilities(project: Project, pool: list[str], classes: list[str]) -> np.ndarray | None:
    """Pool rows x schema classes; None when there are no class probabilities (no model yet, NER, boxes)."""
    if not pool:
        return None
    row_of = {item_id: row for row, item_id in enumerate(pool)}
    # An item the model never scored is as uncertain as it gets.
    matrix = np.full((len(pool), len(classes)), 1.0 / len(classes))
    scored = 0
    for record in _iter(project, PREDICTIONS, ("item_id", "probabilities")):
        probabilities = record.get("probabilities")
        if not probabilities:
            continue
        scored += 1
        row = row_of.get(record["item_id"])
        if row is not None:
            matrix[row] = [probabilities.get(c, 0.0) for c in classes]
    if not scored:
        return None
    return matrix / matrix.sum(axis=1, keepdims=True)


def _embeddings(project: Project) -> tuple[np.ndarray | None, dict[str, int]]:
    path, ids = project.path(EMBEDDINGS), project.path(EMBEDDING_IDS)
    if not path.exists() or not ids.exists():
        return None, {}
    item_ids = json.loads(ids.read_text("utf-8"))["item_ids"]
    matrix = np.load(path, mmap_mode="r")
    if len(item_ids) == 0:
        return None, {}
    return matrix, {item_id: row for row, item_id in enumerate(item_ids)}


def _rows(matrix: np.ndarray | None, row_of: dict[str, int], item_ids: list[str]) -> np.ndarray | None:
    if matrix is None or not item_ids or any(i not in row_of for i in item_ids):
        return None
    return np.asarray(matrix[[row_of[i] for i in item_ids]], dtype=np.float32)


def _committee(labelled: dict[str, str | None], labelled_embeddings, pool_embeddings, classes: list[str],
               params: dict):
    """A bootstrap committee of logistic regressions over the embeddings, columns in schema class order."""
    from ..active import bootstrap_committee

    labels = [labelled[i] for i in sorted(labelled)]
    if labelled_embeddings is None or pool_embeddings is None or len(set(labels) - {None}) < 2:
        return None
    keep = [j for j, label in enumerate(labels) if label is not None]
    y = np.asarray([labels[j] for j in keep])
    votes = bootstrap_committee(labelled_embeddings[keep], y, pool_embeddings, n_members=params["committee_size"],
                                seed=params["seed"])
    out = np.zeros((votes.shape[0], votes.shape[1], len(classes)))
    for column, name in enumerate(np.unique(y)):
        out[:, :, classes.index(name)] = votes[:, :, column]
    return out


def _record(item_id: str, rank: int, strategy: str, scores: dict) -> dict:
    record = {"item_id": item_id, "rank": rank, "strategy": strategy}
    for key, value in sorted(scores.items()):
        value = float(value)
        if key == "cluster":
            if value >= 0:
                record[key] = int(value)
        elif math.isfinite(value):
            record[key] = round(value, DECIMALS)
    return record


def _mean(values: np.ndarray) -> float:
    return round(float(np.mean(values)), DECIMALS)
