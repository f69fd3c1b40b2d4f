"""The seed's public facades, kept working: `QualityAssurance` (and, later, `ActiveLearner`).

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
