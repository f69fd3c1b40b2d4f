"""The prelabel stage: a weak model proposes a label for every item, so annotators verify instead of create.

It runs after pull and before agree. It trains on the human consensus of accepted or
reviewed items, computed here by the agree stage's own function from human votes only:
the model never learns from its own votes, and the pipeline has no cycle (agree may then
count the model as one more voter).

Outputs: ``annotations/predictions.jsonl`` (label, score, probabilities over the schema's
classes), one float32 embedding per item (``annotations/embeddings.npy``, rows in the order
of ``annotations/embeddings.items.json``) for the select stage, the model under ``models/``
and ``metrics/prelabel.json``.

Deterministic: features, folds and models are seeded and rows sorted by item id. The saved
model (a DVC ``persist`` output) is reused until the consensus has grown by
``active_learning.retrain_every_n_labels`` or its params or schema changed; so the same inputs
and the same saved model give the same bytes, and a fresh clone trains the same model from the
same consensus.

The weak model trains and cross-validates on at most ``prelabel.max_train_labels`` consensus
labels, a sample stratified by class and drawn by item-id hash
(:func:`~data_labeling_pipeline.models.prelabel.cap_training_set`); it then predicts every item
``prelabel.batch_size`` at a time. A project below the cap trains on every label, as before.

Feature extraction, the expensive part on images, can run in hash shards: on a Dask cluster
(``prelabel.engine: dask``) or one shard at a time on any batch system (``dlp prelabel --shard
i/n``, then ``--merge``). The merged features equal a local run's, so every output does too.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DataError, ProjectError
from ..imagestore import is_uri
from ..imagestore import shown as shown_ref
from ..project import ANNOTATIONS, EMBEDDING_IDS, EMBEDDINGS, ITEMS, PREDICTIONS, PULLED_PREDICTIONS, Project
from ..records import atomic_write_text, write_json, write_jsonl

# models/prelabel/ is a DVC persist output: the saved model survives `dvc repro`.
MODEL = "models/prelabel/model.pkl"
MODEL_META = "models/prelabel/meta.json"
METRICS = "metrics/prelabel.json"
REPORT = "reports/prelabel.json"
SHARDS = "annotations/prelabel-shards"
TRAINED_STATUSES = ("accepted", "reviewed")
EMBEDDING_DIM = 64
DECIMALS = 6
NOT_IN_PROJECT = "not in the project"  # why a local image is left out: it is not fetched (dvc pull) or elsewhere


@dataclass
class PrelabelSummary:
    metrics: dict
    reason: str | None = None
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        m = self.metrics
        head = "; ".join(self.notes) + "\n" if self.notes else ""
        if self.reason:
            return head + f"prelabel: no pre-labels ({self.reason}); embeddings for {m['items_embedded']} items"
        return head + self._trained()

    def _trained(self) -> str:
        m = self.metrics
        if m.get("user_model") and not m.get("checkpoint_missing"):
            return f"prelabel: your model (model_checkpoint) pre-labelled {m['items_predicted']} items -> {PREDICTIONS}"
        cv = m.get("cv_accuracy")
        shown = "" if cv is None else f", cross-validated accuracy {cv:.3f} +/- {m['cv_accuracy_std']:.3f}"
        how = "trained" if m["trained"] else "reused"
        on = f"{m['n_labels']} consensus labels"
        if m.get("n_labels_used", 0) < m.get("n_labels_at_training", 0):
            on = (f"a stratified sample of {m['n_labels_used']} of {on} (prelabel.max_train_labels: "
                  f"{m['max_train_labels']})")
        return f"prelabel: model {how} on {on}{shown}; {m['items_predicted']} items pre-labelled -> {PREDICTIONS}"


@dataclass
class Features:
    """What the model reads of the items it can read: rows in the order of ``items``.

    Attributes:
        items: the items with features (every item for texts; for images those whose file
            could be read), in item id order.
        values: float32 rows (images) or the texts.
        unreachable: item_id -> why its image could not be read (missing file, HTTP 404, no
            credentials, the protocol's library not installed).
    """

    items: list[dict]
    values: np.ndarray | list[str]
    unreachable: dict[str, str] = field(default_factory=dict)


def run_prelabel(project: Project, *, shard: tuple[int, int] | None = None, merge: bool = False,
                 progress=None) -> PrelabelSummary:
    """Train or reuse the weak model, predict every item, write predictions, embeddings and metrics.

    Args:
        project: the labeling project.
        shard: ``(i, n)``: only compute the features of shard ``i`` of ``n`` into ``annotations/prelabel-shards``.
        merge: build the outputs from the shard files instead of computing features here.
        progress: a progress-bar wrapper (``progress(iterable, description)``) or None.
    """
    params = project.params
    options = params["prelabel"]
    schema = project.label_schema
    items = sorted(project.read_items(ITEMS), key=lambda item: item["item_id"])
    kind = feature_kind(schema["task_type"])
    if shard is not None:
        return _write_shard(project, items, kind, shard, options, progress)
    if merge:
        features = _merge_shards(project, items, kind)
    else:
        features = reachable_features(project, items, kind, options, progress=progress)
    if schema["task_type"] == "text_classification":
        # The texts are the features now; nothing after this reads an item's data (NER still checks spans
        # against it), and a dict per item is ~200 bytes held beside its text.
        for item in items:
            item.pop("data", None)
    return _finish(project, items, kind, features)


def feature_kind(task_type: str) -> str:
    """What the default model reads: ``image`` pixels or ``text``."""
    return "image" if task_type in ("image_classification", "bbox") else "text"


def shard_of(item_id: str, n_shards: int) -> int:
    """The shard of an item: a hash of its id, so adding items never moves the others."""
    return int.from_bytes(hashlib.sha256(item_id.encode()).digest()[:8], "big") % n_shards


def featurize(kind: str, values: list[str]) -> np.ndarray | list[str]:
    """Image paths or URIs -> float32 feature rows (the expensive part); texts pass through."""
    if kind == "text":
        return list(values)
    from ..models.features import HOG_SIZE, image_features, load_gray

    return image_features([load_gray(path, size=HOG_SIZE) for path in values])


def featurize_reachable(values: list[str]) -> tuple[np.ndarray, dict[int, str]]:
    """Image paths or URIs -> float32 feature rows, and position -> reason of those that cannot be read.

    The row of an image that cannot be read is zeros (the caller drops it). An image that is
    read but cannot be decoded is an error, as in :func:`featurize`: that file needs fixing.
    """
    from ..imagestore import ImageUnreachable
    from ..models.features import HOG_SIZE, image_features, load_gray

    grays, failed = [], {}
    for position, value in enumerate(values):
        try:
            grays.append(load_gray(value, size=HOG_SIZE))
        except ImageUnreachable as exc:
            failed[position] = exc.reason
            grays.append(np.zeros((HOG_SIZE, HOG_SIZE), dtype=np.uint8))
    return image_features(grays), failed


def reachable_features(project: Project, items: list[dict], kind: str, options: dict, *,
                       progress=None) -> Features:
    """Features of every item whose image can be read, locally in batches or on a Dask cluster (same result).

    Images may be files in the project or URIs (``s3://``, ``gs://``, ``https://``; see
    :mod:`data_labeling_pipeline.imagestore`). One that cannot be read (not fetched yet, HTTP 404, no credentials,
    s3fs not installed) is left out with its reason, so the stage still pre-labels the rest.
    """
    if kind == "text":
        return Features(list(items), [item["data"]["text"] for item in items])
    unreachable: dict[str, str] = {}
    wanted: list[int] = []
    for row, item in enumerate(items):
        path = _local_path(project, item)
        if path is not None and not path.is_file():  # no need to try: say so without opening it
            remote = is_uri(item["data"]["image"])
            unreachable[item["item_id"]] = "image file not found" if remote else NOT_IN_PROJECT
        else:
            wanted.append(row)
    values = [_location(project, items[row]) for row in wanted]
    from ..models.features import feature_dim

    if options["engine"] == "dask":
        matrix, failed = _dask_features(values, [items[row]["item_id"] for row in wanted], options)
    else:
        from ..models.feature_cache import cache_key, cached_rows
        from ..models.features import HOG_SIZE

        def compute() -> tuple[np.ndarray, dict[int, str]]:
            size = max(1, options["batch_size"])
            starts = range(0, len(values), size)
            rows = np.zeros((len(values), feature_dim()), dtype=np.float32)
            bad_rows: dict[int, str] = {}
            for start in progress(starts, "prelabel") if progress else starts:
                part, bad = featurize_reachable(values[start:start + size])
                rows[start:start + len(part)] = part
                bad_rows.update({start + k: why for k, why in bad.items()})
            return rows, bad_rows

        key = cache_key([items[row] for row in wanted], {"hog_size": HOG_SIZE, "dim": feature_dim()})
        matrix, failed = cached_rows(project.root, key, compute)
    for position, why in failed.items():
        unreachable[items[wanted[position]]["item_id"]] = why
    keep = [k for k in range(len(wanted)) if k not in failed]
    return Features([items[wanted[k]] for k in keep], matrix[keep], unreachable)


def compute_features(project: Project, items: list[dict], kind: str, options: dict, *, progress=None):
    """Features of every item (image rows or texts), or None when some image cannot be read.

    See :func:`reachable_features` for the features of the items that can be read.
    """
    features = reachable_features(project, items, kind, options, progress=progress)
    return None if features.unreachable else features.values


def missing_images(project: Project, items: list[dict]) -> list[str]:
    """Image paths of items that are not files in the project (data not fetched, or a path elsewhere).

    Images behind URIs (``s3://``, ``https://``) are not listed: whether they can be read is
    known only by reading them (:func:`reachable_features`).
    """
    return [item["data"]["image"] for item in items
            if (path := _local_path(project, item)) is not None and not path.is_file()]


def _local_path(project: Project, item: dict) -> Path | None:
    from ..imagestore import locate

    return locate(item["data"]["image"], project.root)


def _location(project: Project, item: dict) -> str:
    """Where an image is read from: its local path, or its URI."""
    path = _local_path(project, item)
    return str(path) if path is not None else item["data"]["image"]


def _inputs(project: Project, items: list[dict], kind: str) -> list[str]:
    if kind == "text":
        return [item["data"]["text"] for item in items]
    paths = []
    for item in items:
        path = _local_path(project, item)
        if path is not None and not path.is_file():
            raise DataError.single(ITEMS, None, f"item {item['item_id']!r}",
                                   f"image {item['data']['image']} is not in the project; run dvc pull (or dvc "
                                   "checkout) to fetch the data, or dlp ingest it")
        paths.append(_location(project, item))
    return paths


def _dask_features(paths: list[str], item_ids: list[str], options: dict) -> tuple[np.ndarray, dict[int, str]]:
    """Features of hash shards on a dask.distributed cluster, put back in item order, and the unreadable rows."""
    from ..cluster import dask_client

    shards = [[row for row, item_id in enumerate(item_ids) if shard_of(item_id, options["shards"]) == s]
              for s in range(options["shards"])]
    with dask_client(options["scheduler"]) as client:
        futures = [client.submit(featurize_reachable, [paths[r] for r in rows], pure=False)
                   for rows in shards if rows]
        results = client.gather(futures)
    from ..models.features import feature_dim

    out = np.zeros((len(paths), feature_dim()), dtype=np.float32)
    failed: dict[int, str] = {}
    for rows, (part, bad) in zip([r for r in shards if r], results, strict=True):
        out[rows] = part
        failed.update({rows[k]: why for k, why in bad.items()})
    return out, failed


def _write_shard(project: Project, items: list[dict], kind: str, shard: tuple[int, int], options: dict,
                 progress) -> PrelabelSummary:
    index, n_shards = shard
    if not 0 <= index < n_shards:
        raise DataError.single("<arguments>", None, "--shard", f"expected i/n with 0 <= i < n, got {index}/{n_shards}")
    mine = [item for item in items if shard_of(item["item_id"], n_shards) == index]
    features = reachable_features(project, mine, kind, {**options, "engine": "local"}, progress=progress)
    folder = project.path(SHARDS)
    folder.mkdir(parents=True, exist_ok=True)
    ids = [item["item_id"] for item in features.items]
    missing = sorted(features.unreachable)
    target = folder / f"shard-{index:04d}-of-{n_shards:04d}.npz"
    tmp = folder / f".{target.name}.tmp.npz"
    np.savez(tmp, item_ids=np.asarray(ids, dtype=object).astype(str),
             features=np.asarray(features.values if kind == "image" else np.zeros((len(ids), 0), np.float32)),
             unreachable_ids=np.asarray(missing, dtype=object).astype(str),
             unreachable_reasons=np.asarray([features.unreachable[i] for i in missing], dtype=object).astype(str))
    tmp.replace(target)
    return PrelabelSummary({"items_embedded": len(ids), "items_missing_image": len(missing), "shard": index,
                            "shards": n_shards},
                           reason=f"shard {index}/{n_shards} featurized into {project.rel(target)}")


def _merge_shards(project: Project, items: list[dict], kind: str) -> Features:
    if kind == "text":
        return Features(list(items), [item["data"]["text"] for item in items])
    files = sorted(project.path(SHARDS).glob("shard-*-of-*.npz"))
    if not files:
        raise ProjectError(f"no shard files in {SHARDS}/; run dlp prelabel --shard i/n for every i first")
    counts = {f.name.split("-of-")[1] for f in files}
    if len(counts) != 1 or len(files) != int(next(iter(counts)).split(".")[0]):
        raise ProjectError(f"{SHARDS}/ holds {len(files)} shard files of different runs or an incomplete set "
                           f"({', '.join(f.name for f in files)}); run every shard of one --shard i/n split")
    row_of = {item["item_id"]: row for row, item in enumerate(items)}
    from ..models.features import feature_dim

    out = np.zeros((len(items), feature_dim()), dtype=np.float32)
    found: set[int] = set()
    unreachable: dict[str, str] = {}
    for path in files:
        with np.load(path, allow_pickle=False) as data:
            pairs = list(zip(data["item_ids"].tolist(), data["features"], strict=True))
            if "unreachable_ids" in data.files:
                unreachable.update(zip(data["unreachable_ids"].tolist(), data["unreachable_reasons"].tolist(),
                                       strict=True))
        for item_id, row in pairs:
            if item_id not in row_of:
                raise ProjectError(f"{project.rel(path)} holds item {item_id!r}, which is no longer in {ITEMS}; "
                                   "run the shards again")
            out[row_of[item_id]] = row
            found.add(row_of[item_id])
    seen = len(found) + len(set(unreachable) & set(row_of))
    if seen != len(items) or not set(unreachable) <= set(row_of):
        raise ProjectError(f"the shards hold {seen} of {len(items)} items; items changed since they ran: "
                           "run them again")
    rows = sorted(found)
    return Features([items[r] for r in rows], out[rows], unreachable)


def human_consensus(project: Project, items: list[dict], annotations: list[dict]) -> list[dict]:
    """The consensus of human annotations (and review decisions), as the agree stage computes it."""
    from ..quality.agree import agree
    from .agree import agree_options, review_decisions

    by_id = {item["item_id"]: item for item in items}
    decisions = review_decisions(project, annotations, by_id)
    options = agree_options(project.params, project.label_schema)
    from dataclasses import replace

    result = agree(annotations, item_ids=by_id, decisions=decisions, options=replace(options, n_resamples=0))
    # What training and acceptance read; the rest of each record (votes, reasons, ...) is ~300 bytes an item.
    return [{k: r[k] for k in CONSENSUS_FIELDS if k in r} for r in result.consensus]


CONSENSUS_FIELDS = ("item_id", "status", "label", "labels", "spans", "boxes")


def _finish(project: Project, items: list[dict], kind: str, features: Features) -> PrelabelSummary:
    """Train or reuse, predict and write every output; ``features`` may cover only the items that can be read."""
    from ..labels import class_names
    from ..models import prelabel as glue

    params, schema = project.params, project.label_schema
    options, checkpoint = params["prelabel"], params["active_learning"]["model_checkpoint"]
    task, classes = schema["task_type"], class_names(schema)
    from .agree import read_agree_annotations

    annotations = read_agree_annotations(project, {item["item_id"]: item for item in items},
                                         extra_fields=VERIFICATION_FIELDS)
    consensus = human_consensus(project, items, annotations)
    key = PAYLOAD[task] if not schema.get("multi_label") else "labels"
    featured = features.items
    reached = {item["item_id"] for item in featured}
    # A label of an item whose image cannot be read teaches nothing: no pixels.
    training = {k: v for k, v in glue.training_set(consensus, key=key) if k in reached}
    metrics: dict = {"items": len(items), "items_embedded": len(featured), "n_labels": len(training), "trained": 0,
                     "items_predicted": 0, "min_labels": options["min_labels"], "skipped_too_few_labels": 0,
                     "no_model_for_task": 0, "user_model": int(bool(checkpoint)), "cv_accuracy": None,
                     "cv_accuracy_std": None, "n_labels_used": 0, "max_train_labels": options["max_train_labels"]}
    report: dict = {"task_type": task, "model": None, "reason": None, "retrain": None}
    predictions: list[dict] = []
    reason = None
    metrics["items_missing_image"] = len(features.unreachable)
    notes = []
    if features.unreachable:
        report["unreachable"] = {shown_ref(image): why for image, why in sorted(_unreachable_images(items, features))}
    if checkpoint and not _checkpoint_path(project, checkpoint).exists():
        # The seed's config names a checkpoint that may come later: the default model serves until then.
        report["checkpoint_missing"] = (f"active_learning.model_checkpoint {checkpoint} does not exist yet; the "
                                        "default weak model pre-labels until it does (then run dlp init --force "
                                        "so dvc tracks it)")
        metrics["checkpoint_missing"] = 1
        checkpoint = None
    if features.unreachable and featured:
        notes.append(f"prelabel: {len(features.unreachable)} of {len(items)} images get no pre-label or embedding: "
                     f"{unreachable_summary(items, features)}; each image and why: {REPORT}")
    if features.unreachable and not featured:
        reason = (f"no image can be read: {unreachable_summary(items, features)}: no pixels to learn from; run dvc "
                  f"pull (or dlp ingest the images) for image pre-labels and embeddings; each image and why: {REPORT}")
    elif checkpoint:
        predictions = _user_model(project, task, classes, featured, checkpoint, training, metrics, report)
    elif task == "bbox":
        reason = ("bounding boxes are pre-labelled only by a detection model: set active_learning.model_checkpoint "
                  "to a TorchScript detector (boxes, labels, scores)")
        metrics["no_model_for_task"] = 1
    else:
        reason = glue.skip_reason(list(training.values()), min_labels=options["min_labels"],
                                  classification=task != "ner")
        if reason:
            metrics["skipped_too_few_labels"] = 1
        else:
            predictions = _weak_model(project, task, kind, classes, featured, features.values, training, metrics,
                                      report)
    seen_predictions = _read(project, PULLED_PREDICTIONS)
    accepted = glue.acceptance_rate(seen_predictions, consensus, _kept_or_created(project, annotations))
    metrics.update(glue.lead_times(seen_predictions, _kept_or_created(project, annotations)))
    for name, share in accepted.items():
        metrics[f"acceptance_{name}_n"] = share["n"]
        metrics[f"acceptance_{name}_rate"] = share["rate"]
        if share["rate"] is None:
            report[f"acceptance_{name}"] = share.get("reason")
    metrics["items_predicted"] = len(predictions)
    report["reason"] = reason
    # Made while written, in item order (already the file's order).
    write_jsonl(project.path(PREDICTIONS), predictions, sort=not isinstance(predictions, glue.PredictionRecords))
    if kind == "image" and not featured:
        _write_embeddings(project, [], np.zeros((0, EMBEDDING_DIM), dtype=np.float32))
    else:
        _write_embeddings(project, [item["item_id"] for item in featured], _embed(kind, features.values,
                                                                                  options["seed"]))
    if not project.path(MODEL_META).exists():  # the stage's persisted output exists even before a first model
        write_json(project.path(MODEL_META), {"model_version": None, "reason": reason})
    write_json(project.path(METRICS), _rounded(metrics))
    write_json(project.path(REPORT), report)
    if "checkpoint_missing" in report:
        notes.insert(0, report["checkpoint_missing"])
    return PrelabelSummary(_rounded(metrics), reason, notes)


# What says whether an annotation kept its pre-label, and how long it took.
VERIFICATION_FIELDS = ("item_id", "label", "labels", "spans", "boxes", "parent_prediction", "prediction_accepted",
                       "lead_time")


def _kept_or_created(project: Project, annotations):
    """The annotations' pre-label and lead-time fields: the records, or (columns) one streamed pass over the
    file, already validated by the columns' reader."""
    from ..columns import AnnotationColumns
    from ..records import iter_records

    if not isinstance(annotations, AnnotationColumns):
        return annotations
    return iter_records(project.path(ANNOTATIONS), display_path=ANNOTATIONS, fields=VERIFICATION_FIELDS)


def _unreachable_images(items: list[dict], features: Features) -> list[tuple[str, str]]:
    """(image, reason) of the items whose image cannot be read, in item id order."""
    return [(item["data"]["image"], features.unreachable[item["item_id"]]) for item in items
            if item["item_id"] in features.unreachable]


def unreachable_summary(items: list[dict], features: Features, *, groups: int = 3) -> str:
    """The images that cannot be read, by reason (most common first), each with its first image.

    >>> items = [{"item_id": i, "data": {"image": i}} for i in ("images/a.png", "s3://b/c.png")]
    >>> unreachable_summary(items, Features([], [], {"images/a.png": NOT_IN_PROJECT, "s3://b/c.png": "HTTP 403"}))
    '1 image cannot be read: HTTP 403 (first: s3://b/c.png); 1 image is not in the project (first: images/a.png)'
    """
    by_reason: dict[str, list[str]] = {}
    for image, why in _unreachable_images(items, features):
        by_reason.setdefault(why, []).append(shown_ref(image))
    ordered = sorted(by_reason.items(), key=lambda pair: (-len(pair[1]), pair[0]))
    parts = []
    for why, images in ordered[:groups]:
        count = f"{len(images)} image is" if len(images) == 1 else f"{len(images)} images are"
        if why == NOT_IN_PROJECT:
            parts.append(f"{count} not in the project (first: {images[0]})")
        else:
            count = f"{len(images)} image" + ("" if len(images) == 1 else "s")
            parts.append(f"{count} cannot be read: {why} (first: {images[0]})")
    if len(ordered) > groups:
        parts.append(f"{sum(len(v) for _, v in ordered[groups:])} more for {len(ordered) - groups} other reasons")
    return "; ".join(parts)


PAYLOAD = {"image_classification": "label", "text_classification": "label", "ner": "spans", "bbox": "boxes"}


def _weak_model(project, task, kind, classes, items, features, training, metrics, report):
    """Train (or reuse) the default weak model on the consensus (a capped sample of it) and predict every item."""
    from ..models import prelabel as glue
    from ..models.persist import load_model, save_model

    params, schema = project.params, project.label_schema
    options, al = params["prelabel"], params["active_learning"]
    multi = bool(schema.get("multi_label"))
    labelled = [i for i, item in enumerate(items) if item["item_id"] in training]
    cap = options["max_train_labels"]
    capped = cap is not None and len(labelled) > cap
    model_params = {"task_type": task, "classes": classes, "multi_label": multi, "seed": options["seed"],
                    "schema_version": schema["schema_version"], "model": "gazetteer" if task == "ner" else kind}
    if capped:  # only a cap that bites is part of the model: below it, versions and outputs stay as they were
        model_params["max_train_labels"] = cap
    params_version = glue.digest(model_params)
    meta = _read_meta(project)
    retrain, why = glue.should_retrain(meta, n_labels=len(labelled), params_version=params_version,
                                       retrain_every=al["retrain_every_n_labels"])
    if retrain:
        pairs = [(items[i]["item_id"], training[items[i]["item_id"]]) for i in labelled]
        sample = {item_id for item_id, _ in glue.cap_training_set(pairs, max_labels=cap, seed=options["seed"])}
        rows = [i for i in labelled if items[i]["item_id"] in sample]
        y = [training[items[i]["item_id"]] for i in rows]
        X_train = [features[i] for i in rows] if kind == "text" else features[rows]
        model = _new_model(task, kind, classes, multi, options["seed"])
        model.fit(X_train, y)
        cv = model.cross_validate(X_train, y, folds=options["cv_folds"], seed=options["seed"])
        version = glue.model_version([(items[i]["item_id"], y[j]) for j, i in enumerate(rows)], model_params)
        extra = {"n_labels_used": len(rows)} if capped else {}
        meta = glue.model_meta(model_version=version, n_labels=len(labelled), params_version=params_version,
                               cv_metric=cv["metric"], cv_accuracy=cv["mean"], cv_accuracy_std=cv["std"],
                               cv_folds=cv["n_folds"], **extra)
        save_model(model, project.path(MODEL))
        write_json(project.path(MODEL_META), _rounded(meta))
        metrics["trained"] = 1
    else:
        model = load_model(project.path(MODEL))
    report.update(retrain=why, model=meta["model_version"], cv_metric=meta.get("cv_metric"))
    metrics["cv_accuracy"], metrics["cv_accuracy_std"] = meta["cv_accuracy"], meta["cv_accuracy_std"]
    metrics["n_labels_at_training"] = meta["n_labels"]
    metrics["n_labels_used"] = meta.get("n_labels_used", meta["n_labels"])  # a model saved uncapped used them all
    item_ids = [item["item_id"] for item in items]
    if task == "ner":  # the gazetteer reads one text at a time already
        return glue.predictions_from_spans(item_ids, model.predict(features), model_version=meta["model_version"])
    probabilities = _predict_proba(model, features, len(classes), max(1, options["batch_size"]))
    return glue.PredictionRecords(item_ids, probabilities, classes, model_version=meta["model_version"],
                                  multi_label=multi)


def _predict_proba(model, features, n_classes: int, size: int) -> np.ndarray:
    """Probabilities of every item, ``size`` items at a time: the TF-IDF rows of a batch, never of all items."""
    from ..models.threads import one_blas_thread

    @one_blas_thread  # once around the batches, not once per batch
    def predict() -> np.ndarray:
        out = np.zeros((len(features), n_classes))
        for lo in range(0, len(features), size):
            out[lo : lo + size] = model.predict_proba(features[lo : lo + size])
        return out

    return predict()


def _new_model(task: str, kind: str, classes: list[str], multi: bool, seed: int):
    if task == "ner":
        from ..models.gazetteer import Gazetteer

        return Gazetteer(classes=classes)
    from ..models.classifier import WeakClassifier

    return WeakClassifier(kind, classes=classes, multi_label=multi, seed=seed)


def _user_model(project, task, classes, items, checkpoint, training, metrics, report) -> list[dict]:
    """Predict with the user's model (a TorchScript / torch.export file, or a spaCy pipeline for NER)."""
    from ..models import prelabel as glue

    path = _checkpoint_path(project, checkpoint)
    shown = checkpoint
    item_ids = [item["item_id"] for item in items]
    version = "user-" + _file_digest(path)
    report["model"] = version
    options = project.params["prelabel"]
    if task == "ner":
        from ..models.spacy_model import spacy_ner

        spans = spacy_ner(path).predict([item["data"]["text"] for item in items])
        records = glue.predictions_from_spans(item_ids, spans, model_version=version)
    elif task == "text_classification":
        raise DataError.single("params.yaml", None, "$.active_learning.model_checkpoint",
                               "a torch checkpoint cannot read raw text here (no tokenizer contract); set it to null "
                               "to use the default TF-IDF model, or pre-label with your own tool and import "
                               "predictions into Label Studio")
    else:
        from ..models.torch_model import ImageBatches, load_checkpoint, model_input_size, predict_torch_classifier

        model = load_checkpoint(path, trust=options["trust_checkpoint"])
        paths = _inputs(project, items, "image")
        if task == "image_classification":
            shape = model_input_size(model)
            probabilities = predict_torch_classifier(model, ImageBatches(paths, shape=shape,
                                                                         batch_size=options["batch_size"]),
                                                     n_classes=len(classes), path=shown,
                                                     multi_label=bool(project.label_schema.get("multi_label")))
            records = glue.predictions_from_probabilities(item_ids, probabilities, classes, model_version=version,
                                                          multi_label=bool(project.label_schema.get("multi_label")))
        else:
            from ..models.torch_detector import predict_torch_detector

            # torchvision-style detectors number classes from 1 (0 = background): the schema's ids.
            names = {c["id"]: c["name"] for c in project.label_schema["classes"]}
            boxes = predict_torch_detector(model, paths, class_names=names,
                                           batch_size=max(1, options["batch_size"] // 32), path=shown)
            records = glue.predictions_from_boxes(item_ids, boxes, model_version=version)
    scored = [r for r in records if r["item_id"] in training]
    if scored and task != "bbox":
        agree = sum(glue.same_payload(r, {PAYLOAD[task]: training[r["item_id"]]}) for r in scored)
        metrics["accuracy_vs_consensus"] = agree / len(scored)
    return records


def _checkpoint_path(project: Project, checkpoint: str) -> Path:
    return Path(checkpoint) if Path(checkpoint).is_absolute() else project.path(checkpoint)


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def _embed(kind: str, features, seed: int) -> np.ndarray:
    from ..models.embeddings import image_embeddings, text_embeddings

    if kind == "text":
        return text_embeddings(features, dim=EMBEDDING_DIM, seed=seed)
    return image_embeddings(features, dim=EMBEDDING_DIM, seed=seed)


def _write_embeddings(project: Project, item_ids: list[str], embeddings: np.ndarray) -> None:
    target = project.path(EMBEDDINGS)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp.npy")
    np.save(tmp, np.ascontiguousarray(embeddings, dtype=np.float32))
    tmp.replace(target)
    atomic_write_text(project.path(EMBEDDING_IDS), json.dumps({"item_ids": item_ids}, ensure_ascii=False) + "\n")


def _read_meta(project: Project) -> dict | None:
    path = project.path(MODEL_META)
    if not path.exists() or not project.path(MODEL).exists():
        return None
    meta = json.loads(path.read_text("utf-8"))
    return meta if meta.get("model_version") else None


def _read(project: Project, relative: str) -> list[dict]:
    from ..records import read_records

    path = project.path(relative)
    return read_records(path, display_path=relative) if path.exists() else []


def _rounded(values: dict) -> dict:
    return {k: round(v, DECIMALS) if isinstance(v, float) else v for k, v in values.items()}


def parse_shard(text: str) -> tuple[int, int]:
    """``"3/8"`` -> ``(3, 8)``.

    >>> parse_shard("3/8")
    (3, 8)
    """
    try:
        index, total = (int(part) for part in text.split("/"))
    except ValueError:
        raise DataError.single("<arguments>", None, "--shard", f"expected i/n such as 0/8, got {text!r}") from None
    if total < 1 or not 0 <= index < total:
        raise DataError.single("<arguments>", None, "--shard", f"expected 0 <= i < n, got {text!r}")
    return index, total
