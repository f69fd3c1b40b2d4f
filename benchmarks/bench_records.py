"""Validate-and-load throughput of annotation JSONL: ours against per-record jsonschema.

Both sides read the same file of realistic bbox and classification records and
check them against the same project JSON Schema; jsonschema gets the validator
compiled once (the fair use of it), then validates record by record.

    python benchmarks/bench_records.py [n_records]
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from data_labeling_pipeline.checks import annotation_checker
from data_labeling_pipeline.labels import new_label_schema, record_schemas
from data_labeling_pipeline.records import Validator, read_records, write_jsonl


def make_records(task_type: str, n: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    records = []
    for i in range(n):
        record = {
            "item_id": f"images/img-{i // 3:07d}.png", "annotator": f"ann{i % 3}@example.com", "schema_version": 1,
            "created_at": "2026-11-28T13:12:12.162156Z", "updated_at": "2026-11-28T13:12:12.162156Z",
            "lead_time": round(float(rng.gamma(3, 4)), 1), "ground_truth": False, "parent_prediction": None,
            "source": {"kind": "label_studio", "file": "inbox/export-1.json", "project": 4, "task": i // 3,
                       "annotation": i},
        }
        if task_type == "bbox":
            # Pixel coordinates with 6 decimals, as the pull stage writes them.
            record["boxes"] = [{"x": round(float(rng.uniform(0, 300)), 6), "y": round(float(rng.uniform(0, 200)), 6),
                                "w": 40.5,
                                "h": 30.25, "label": ["car", "person"][j % 2]} for j in range(int(rng.integers(0, 4)))]
        else:
            record["label"] = ["cat", "dog", "bird"][i % 3]
        records.append(record)
    return records


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def bench(task_type: str, n: int, folder: Path) -> None:
    import jsonschema

    classes = ["car", "person"] if task_type == "bbox" else ["cat", "dog", "bird"]
    schema = record_schemas(new_label_schema(task_type, classes))["annotation"]
    path = folder / f"{task_type}.jsonl"
    write_jsonl(path, make_records(task_type, n))

    ours_s, ours = timed(lambda: read_records(path, Validator(schema), check=annotation_checker(None)))

    def peer():
        validator = jsonschema.Draft202012Validator(schema)
        out = []
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                record = json.loads(line)
                validator.validate(record)
                out.append(record)
        return out

    peer_s, theirs = timed(peer)
    if len(ours) != len(theirs) or ours != theirs:
        raise SystemExit("the two readers disagree")
    print(f"{task_type:22s} {n:>8d} records   ours {n / ours_s:>10,.0f} rec/s   "
          f"jsonschema {n / peer_s:>9,.0f} rec/s   ratio {peer_s / ours_s:5.1f}x")


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300_000
    with tempfile.TemporaryDirectory() as tmp:
        for task_type in ("image_classification", "bbox"):
            bench(task_type, n, Path(tmp))


if __name__ == "__main__":
    main()
