"""The seed's public facades, kept working: `QualityAssurance` and `ActiveLearner`.

Also runnable as a script (``python src/data_labeling_pipeline/core.py init --config
config.example.yaml``), the seed's quick-start form: it runs the `dlp` command line.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

if __name__ == "__main__":  # the seed's script form: put src/ on the path, then run the CLI
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from data_labeling_pipeline.cli import main

    main()
    raise SystemExit(0)

import numpy as np  # noqa: E402

from data_labeling_pipeline.errors import DataError, Problem  # noqa: E402


class QualityAssurance:
    """Agreement between annotators and a review queue, for scripts and notebooks.

    Args:
        classes: The schema's classes in order (kappa counts unused classes too); ``None``
            uses the labels seen.
        review_queue: The JSONL file `flag_for_review` appends to.

    Example:
        >>> qa = QualityAssurance()
        >>> a = [{"item_id": "1", "label": "cat"}, {"item_id": "2", "label": "dog"}]
        >>> b = [{"item_id": "1", "label": "cat"}, {"item_id": "2", "label": "cat"}]
        >>> result = qa.compute_agreement(a, b)
        >>> result["percent_agreement"], result["disagreements"]
        (0.5, [{'item_id': '2', 'label_a': 'dog', 'label_b': 'cat'}])
    """

    def __init__(self, *, classes: Sequence[str] | None = None, review_queue: str | Path = "review_queue.jsonl"):
        self.classes = list(classes) if classes is not None else None
        self.review_queue = Path(review_queue)

    def load_annotations(self, path: str | Path, *, label_config: str | Path | None = None) -> list[dict]:
        """Annotation records from our JSONL, or from a Label Studio JSON export.

        A Label Studio export is read as the pull stage reads it: through its label config
        (``label_config``, else a ``label_config.xml`` beside the export), else with the
        control and data key inferred from the export; every problem is raised at once.
        """
        path = Path(path)
        if path.suffix == ".jsonl":
            from data_labeling_pipeline.records import read_records

            return read_records(path)
        from data_labeling_pipeline.labelstudio.exports import guess_task_type, parse_export
        from data_labeling_pipeline.labelstudio.files import read_export_file

        document, config = read_export_file(path, label_config=label_config)
        parsed = parse_export(document, task_type=guess_task_type(document, label_config=config),
                              classes=self.classes, source_file=str(path), label_config=config)
        if parsed.problems:
            raise DataError(list(parsed.problems))
        return parsed.annotations

    def compute_agreement(self, annotations_a: Iterable[Mapping], annotations_b: Iterable[Mapping]) -> dict[str, Any]:
        """Cohen's kappa and percent agreement of two annotators on the items both labelled.

        Returns:
            ``cohens_kappa`` (None when undefined, with ``reason``), ``percent_agreement``,
            ``n_items`` (shared items) and ``disagreements``: ``[{item_id, label_a, label_b}]``
            sorted by item id.
        """
        from data_labeling_pipeline.quality import cohens_kappa

        a = {r["item_id"]: r.get("label") for r in annotations_a}
        b = {r["item_id"]: r.get("label") for r in annotations_b}
        shared = sorted(k for k in a.keys() & b.keys() if a[k] is not None and b[k] is not None)
        labels_a, labels_b = [a[k] for k in shared], [b[k] for k in shared]
        kappa = cohens_kappa(labels_a, labels_b, labels=self.classes)
        agreeing = sum(x == y for x, y in zip(labels_a, labels_b, strict=True))
        return {
            "cohens_kappa": kappa.value,
            "reason": kappa.reason,
            "percent_agreement": agreeing / len(shared) if shared else None,
            "n_items": len(shared),
            "disagreements": [{"item_id": k, "label_a": a[k], "label_b": b[k]} for k in shared if a[k] != b[k]],
        }

    def flag_for_review(self, disagreements: Iterable[Mapping], reason: str = "disagreement") -> int:
        """Append items to the review queue (once per item and reason); return how many were added."""
        from data_labeling_pipeline.records import atomic_write_text, canonical_line

        queue = self.review_queue
        existing = queue.read_text("utf-8").splitlines() if queue.exists() else []
        seen = set()
        for line in existing:
            record = json.loads(line)
            seen.add((record["item_id"], tuple(record.get("reasons", ()))))
        added = []
        for entry in disagreements:
            if "item_id" not in entry:
                raise DataError([Problem(str(queue), None, "$.item_id", f"missing in {dict(entry)!r}")])
            key = (entry["item_id"], (reason,))
            if key not in seen:
                seen.add(key)
                added.append(canonical_line({**entry, "reasons": [reason], "action": "review"}))
        if added:
            atomic_write_text(queue, "".join(line + "\n" for line in existing + added))
        return len(added)


class ActiveLearner:
    """Which items to label next, for scripts and notebooks: the select stage around your own model.

    Args:
        model: a torch module in eval mode (what ``torch.load`` of your file returns; with torch
            >= 2.6 a full-module file loads only with ``weights_only=False``, your choice for your
            own file), a TorchScript module, a fitted scikit-learn classifier with
            ``predict_proba``, or a path to a TorchScript / ``torch.export`` file (loaded the safe
            way: a pickled module is refused unless ``trust_checkpoint=True``).
        strategy: ``uncertainty`` (margin), ``margin``, ``least_confidence``, ``entropy``,
            ``diversity``, ``hybrid``, ``random`` or ``auto`` (``active_learning.strategy``).
        pool_size: at most this many pool items are scored (a seeded sample by item-id hash).
        pool: the pool, explicitly: item ids of the project, or model inputs (an array, a tensor,
            a list of strings); default: the project's items with fewer annotations than
            ``quality.min_annotators_per_sample`` (and no review decision).
        project: the labeling project's folder (default: the one containing the working directory).
        seed: seed of the sample and of the strategy's random parts.

    Images become model inputs as documented in :mod:`data_labeling_pipeline.models.torch_model`:
    decoded upright, resized to the input size the model wants (found by a probe), scaled to [0, 1].
    A scikit-learn model gets flattened gray pixels at its ``n_features_in_`` size, or the raw
    strings of a text project (for pipelines that vectorise text themselves).

    Example:
        >>> from sklearn.linear_model import LogisticRegression
        >>> import numpy as np
        >>> X = np.random.default_rng(0).normal(size=(40, 3))
        >>> model = LogisticRegression().fit(X, X[:, 0] > 0)
        >>> learner = ActiveLearner(model=model, strategy="uncertainty", pool=X)
        >>> picks = learner.query(n_instances=5)
        >>> len(picks), 0 <= learner.last_uncertainty_mean <= 1
        (5, True)
    """

    def __init__(self, *, model: Any, strategy: str = "uncertainty", pool_size: int | None = 10000,
                 pool: Any = None, project: str | Path | None = None, seed: int = 0, trust_checkpoint: bool = False):
        self.model = model
        self.strategy = strategy
        self.pool_size = pool_size
        self.pool = pool
        self.project = project
        self.seed = seed
        self.trust_checkpoint = trust_checkpoint
        self.pool_items: list[str] = []
        self.last_uncertainty_mean: float | None = None
        self.last_push = None  # what export_to_label_studio pushed, when a server is configured
        self.last_scores_: dict | None = None

    def query(self, n_instances: int = 100) -> list[int]:
        """Positions in :attr:`pool_items` (or in the ``pool`` given) of the next ``n_instances`` to label."""
        from data_labeling_pipeline.active import select, uncertainty

        inputs = self._inputs()
        probabilities = self._probabilities(inputs)
        n = min(int(n_instances), len(probabilities))
        embeddings = self._embeddings(inputs, probabilities) if self.strategy in (
            "diversity", "hybrid", "auto", "kcenter", "kmeans_pp") else None
        picks, scores = select(probabilities, n, strategy=self.strategy, embeddings=embeddings, seed=self.seed,
                               return_scores=True)
        self.last_scores_ = scores
        chosen = uncertainty(probabilities, measure="margin")[picks]
        self.last_uncertainty_mean = float(chosen.mean()) if len(chosen) else None
        self._last_probabilities = probabilities
        return [int(i) for i in picks]

    def export_to_label_studio(self, indices: Iterable[int], project_id: str | int) -> Path:
        """Write a Label Studio tasks file of these pool items, with the model's pre-labels as predictions.

        The file is ``queue/<project_id>.tasks.json`` in the project: import it in Label Studio
        (Data Manager > Import). With a server configured (``pull.source: label_studio``) the
        items are also pushed to the project's Label Studio project(s) as ``dlp push`` does
        (routing, idempotence), and ``last_push`` holds what was sent. Returns the file's path.
        """
        from data_labeling_pipeline.labels import class_names
        from data_labeling_pipeline.labelstudio.tasks import to_label_studio_tasks
        from data_labeling_pipeline.models.prelabel import predictions_from_probabilities
        from data_labeling_pipeline.records import atomic_write_text

        if not self.pool_items:
            raise DataError.single("<ActiveLearner>", None, "pool",
                                   "export_to_label_studio needs a pool of project items; query() first, with the "
                                   "default pool or pool= item ids")
        project = self._project()
        schema = project.label_schema
        chosen = [int(i) for i in indices]
        by_id = _project_items(project)
        ids = [self.pool_items[i] for i in chosen]
        classes = class_names(schema)
        predictions = []
        probabilities = getattr(self, "_last_probabilities", None)
        if probabilities is not None and probabilities.shape[1] == len(classes):
            predictions = predictions_from_probabilities(ids, probabilities[chosen], classes,
                                                         model_version=f"active-learner-{self.strategy}")
        tasks = to_label_studio_tasks([by_id[i] for i in ids], (), predictions, task_type=schema["task_type"],
                                      classes=classes, multi_label=schema.get("multi_label", False))
        name = "".join(c if c.isalnum() or c in "-_." else "_" for c in str(project_id)) or "tasks"
        target = project.path(f"queue/{name}.tasks.json")
        atomic_write_text(target, json.dumps(tasks, indent=1, ensure_ascii=False) + "\n")
        if project.params["pull"]["source"] == "label_studio":
            from data_labeling_pipeline.stages.push import run_push

            self.last_push = run_push(project, item_ids=ids, predictions=predictions)
        return target

    # -- the pool and the model's view of it -------------------------------------------------

    def _project(self):
        from data_labeling_pipeline.project import Project

        return Project.find(self.project)

    def _inputs(self) -> Any:
        if self.pool is not None and not _are_item_ids(self.pool):
            self.pool_items = []
            return self.pool
        from data_labeling_pipeline.stages.select import sample_pool

        project = self._project()
        items = _project_items(project)
        ids = sorted(self.pool) if self.pool is not None else _unlabelled(project, items)
        unknown = [i for i in ids if i not in items]
        if unknown:
            raise DataError.single("<ActiveLearner>", None, "pool", f"unknown item ids, e.g. {unknown[:3]}")
        self.pool_items = sample_pool(ids, self.pool_size, seed=self.seed)
        chosen = [items[i] for i in self.pool_items]
        if chosen and "text" in chosen[0]["data"]:
            return [item["data"]["text"] for item in chosen]
        return [str(project.path(item["data"]["image"])) for item in chosen]

    def _probabilities(self, inputs: Any) -> np.ndarray:
        model = self.model
        if isinstance(model, str | Path):
            from data_labeling_pipeline.models.torch_model import load_checkpoint

            model = self.model = load_checkpoint(model, trust=self.trust_checkpoint)
        if hasattr(model, "predict_proba"):
            return np.asarray(model.predict_proba(_sklearn_inputs(model, inputs)), dtype=np.float64)
        from data_labeling_pipeline.models.torch_model import (
            ImageBatches,
            model_input_size,
            predict_torch_classifier,
            torch_outputs,
        )

        if _are_paths(inputs):
            batches = ImageBatches(inputs, shape=model_input_size(model))
        else:
            array = inputs.detach().cpu().numpy() if hasattr(inputs, "detach") else np.asarray(inputs, np.float32)
            batches = [array[i:i + 256] for i in range(0, len(array), 256)]
        width = torch_outputs(model, [next(iter(batches))[:1]]).shape[1] if len(batches) else 0
        return predict_torch_classifier(model, batches, n_classes=width)

    def _embeddings(self, inputs: Any, probabilities: np.ndarray) -> np.ndarray:
        from data_labeling_pipeline.models.embeddings import image_embeddings, text_embeddings

        if _are_paths(inputs):
            from data_labeling_pipeline.models.features import image_features, load_gray

            return image_embeddings(image_features([load_gray(p) for p in inputs]), seed=self.seed)
        if isinstance(inputs, list) and inputs and isinstance(inputs[0], str):
            return text_embeddings(inputs, seed=self.seed)
        array = inputs.detach().cpu().numpy() if hasattr(inputs, "detach") else np.asarray(inputs, np.float32)
        return np.ascontiguousarray(array.reshape(len(array), -1), dtype=np.float32)


def _are_item_ids(pool: Any) -> bool:
    """A list of strings is taken as item ids of the project; raw texts go in a numpy array."""
    return isinstance(pool, list | tuple) and bool(pool) and all(isinstance(p, str) for p in pool)


def _are_paths(inputs: Any) -> bool:
    return isinstance(inputs, list) and bool(inputs) and all(isinstance(p, str) for p in inputs) and Path(
        inputs[0]).suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def _sklearn_inputs(model: Any, inputs: Any) -> Any:
    """Image paths -> flattened gray pixels at the model's input size; anything else as given."""
    if not _are_paths(inputs):
        return inputs
    import math

    from data_labeling_pipeline.models.features import load_gray

    side = math.isqrt(int(getattr(model, "n_features_in_", 64)))
    return np.stack([load_gray(p, size=side).reshape(-1) / 255.0 for p in inputs])


def _project_items(project) -> dict[str, dict]:
    """item_id -> item: those pull wrote, and those ingested since (not pulled yet, but labelable)."""
    from data_labeling_pipeline.project import INGESTED, ITEMS

    return {item["item_id"]: item for name in (INGESTED, ITEMS) for item in project.read_items(name, missing_ok=True)}


def _unlabelled(project, items: dict[str, dict]) -> list[str]:
    """Items with fewer annotations than quality.min_annotators_per_sample and no review decision."""
    from collections import Counter

    from data_labeling_pipeline.project import ANNOTATIONS
    from data_labeling_pipeline.records import read_records

    counts: Counter = Counter()
    decided: set[str] = set()
    path = project.path(ANNOTATIONS)
    if path.exists():
        for record in read_records(path):
            counts[record["item_id"]] += 1
            if record.get("ground_truth"):
                decided.add(record["item_id"])
    needed = project.params["quality"]["min_annotators_per_sample"]
    return [i for i in sorted(items) if counts[i] < needed and i not in decided]
