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
import itertools
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

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
    labelled = _labelled(project, item_ids)
    waiting = {r["item_id"] for r in _iter(project, REVIEW, ("item_id", "action")) if r.get("action") == "review"}
    pool = [i for i, done in zip(item_ids, labelled.mask.tolist(), strict=True) if not done and i not in waiting]
    pool = sample_pool(pool, params["pool_size"], seed=params["seed"])
    k = min(params["query_batch_size"], len(pool))
    probabilities = _probabilities(project, pool, classes)
    embeddings = _EmbeddingFile.of(project)
    pool_embeddings = embeddings.rows(pool) if embeddings else None

    if probabilities is not None:
        mode = "model"
        # auto starts cold (typiclust) while the model has seen few labels per class or batch
        strategy = resolve_strategy(params["strategy"], k=k, pool_size=len(pool),
                                    uncertainty_measure=params["uncertainty_measure"],
                                    committee_measure=params["committee_measure"],
                                    diversity_method=params["diversity_method"],
                                    n_labeled=labelled.n, n_classes=len(classes))
    else:
        mode = "diversity" if pool_embeddings is not None else "random"
        strategy = params["diversity_method"] if mode == "diversity" else "random"
        probabilities = np.full((len(pool), max(len(classes), 2)), 1.0 / max(len(classes), 2))
    if strategy in NEEDS_EMBEDDINGS and pool_embeddings is None:
        strategy = "margin" if mode == "model" else "random"  # no embeddings: the nearest thing that needs none
    committee = labelled_embeddings = None
    if strategy in NEEDS_EMBEDDINGS or strategy in COMMITTEE:  # rows of every labelled item: only when used
        labelled_embeddings = embeddings.rows(labelled.ids()) if embeddings else None
    if strategy in COMMITTEE:
        committee = _committee(labelled.labels(), labelled_embeddings, pool_embeddings, classes, params)
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
        "items_labelled": labelled.n,
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


@dataclass
class _Labelled:
    """The items with a consensus record: ``mask`` over the sorted item ids, ``n`` records in all."""

    project: Project
    item_ids: list[str]
    mask: np.ndarray
    n: int
    outside: tuple[str, ...] = ()  # consensus ids that are not items (a hand-edited file): they have no rows

    def ids(self) -> list[str]:
        inside = [self.item_ids[j] for j in np.flatnonzero(self.mask).tolist()]
        return sorted(inside + list(self.outside)) if self.outside else inside

    def labels(self) -> dict[str, str | None]:
        """item_id -> consensus label (read again: only the committee strategies ask)."""
        return {r["item_id"]: r.get("label") for r in _iter(self.project, CONSENSUS, ("item_id", "label"))}


def _labelled(project: Project, item_ids: list[str]) -> _Labelled:
    """Which items have a consensus record, from one pass merging the consensus with the sorted item ids
    (the agree stage writes it sorted): a flag per item, not a dict of millions of ids and labels.

    A consensus out of order or naming an item that is not in items (a hand-edited file) is read into a
    dict instead, and an id outside items then leaves the labelled embeddings out, as it always did.
    """
    mask = np.zeros(len(item_ids), dtype=bool)
    n, at, previous = 0, 0, None
    for record in _iter(project, CONSENSUS, ("item_id",)):
        item_id = record["item_id"]
        if previous is not None and item_id <= previous:
            break
        previous, n = item_id, n + 1
        while at < len(item_ids) and item_ids[at] < item_id:
            at += 1
        if at == len(item_ids) or item_ids[at] != item_id:
            break
        mask[at] = True
    else:
        return _Labelled(project, item_ids, mask, n)
    ids = {r["item_id"] for r in _iter(project, CONSENSUS, ("item_id",))}
    mask = np.array([i in ids for i in item_ids], dtype=bool)
    return _Labelled(project, item_ids, mask, len(ids), tuple(sorted(ids.difference(item_ids))))


@dataclass
class _EmbeddingFile:
    """``annotations/embeddings.npy`` and its item ids; rows are read from the file a block at a time
    (a memory map would count every page touched: the whole file for a pool spread over it)."""

    path: Path
    item_ids: list[str]
    sorted_ids: np.ndarray | None  # for a binary search when the ids are sorted (prelabel writes them so)

    BLOCK_ROWS = 1 << 16

    @classmethod
    def of(cls, project: Project) -> _EmbeddingFile | None:
        path, ids = project.path(EMBEDDINGS), project.path(EMBEDDING_IDS)
        if not path.exists() or not ids.exists():
            return None
        item_ids = json.loads(ids.read_text("utf-8"))["item_ids"]
        if len(item_ids) == 0:
            return None
        ascending = all(a < b for a, b in itertools.pairwise(item_ids))
        return cls(path, item_ids, np.array(item_ids, dtype=str) if ascending else None)

    def positions(self, wanted: list[str]) -> np.ndarray | None:
        """Row of each wanted id; None when one has no row."""
        if self.sorted_ids is not None:
            keys = np.array(wanted, dtype=str)
            at = np.searchsorted(self.sorted_ids, keys)
            if (at == len(self.sorted_ids)).any() or not (self.sorted_ids[at] == keys).all():
                return None
            return at
        row_of = {item_id: row for row, item_id in enumerate(self.item_ids)}
        if any(i not in row_of for i in wanted):
            return None
        return np.array([row_of[i] for i in wanted], dtype=np.int64)

    def rows(self, wanted: list[str]) -> np.ndarray | None:
        """The float32 rows of ``wanted`` (in that order); None when there are none or one has no row."""
        at = self.positions(wanted) if wanted else None
        if at is None:
            return None
        fmt = np.lib.format
        with open(self.path, "rb") as fh:
            read_header = {(1, 0): fmt.read_array_header_1_0, (2, 0): fmt.read_array_header_2_0}.get(
                fmt.read_magic(fh))
            shape, fortran, dtype = read_header(fh) if read_header else ((), True, None)
            if fortran or len(shape) != 2 or dtype.hasobject:  # not as prelabel writes it: numpy reads it
                return np.asarray(np.load(self.path)[at], dtype=np.float32)
            start, width = fh.tell(), shape[1]
            out = np.empty((len(at), width), dtype=np.float32)
            order = np.argsort(at, kind="stable")
            sorted_at = at[order]
            block_of = sorted_at // self.BLOCK_ROWS
            edges = np.searchsorted(block_of, np.unique(block_of), side="left").tolist() + [len(sorted_at)]
            for lo, hi in itertools.pairwise(edges):
                first = int(block_of[lo]) * self.BLOCK_ROWS
                n_rows = min(self.BLOCK_ROWS, shape[0] - first)
                fh.seek(start + first * width * dtype.itemsize)
                data = np.fromfile(fh, dtype=dtype, count=n_rows * width).reshape(n_rows, width)
                out[order[lo:hi]] = data[sorted_at[lo:hi] - first]
        return out


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
