"""The bundled demo: scikit-learn's digits as images, and simulated annotators of known accuracy.

Pure: builds pixel arrays and annotation records; `stages.quickstart` writes them.
"""

from __future__ import annotations

import numpy as np

DIGIT_CLASSES = [str(d) for d in range(10)]
# Three annotators of known accuracy, and the share of items each one labels.
ANNOTATORS = (
    ("ann1@example.com", 0.95, 1.00),
    ("ann2@example.com", 0.85, 0.80),
    ("ann3@example.com", 0.70, 0.70),
)
START = np.datetime64("2026-01-05T09:00:00")


def digit_images(n_items: int, *, scale: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n_items`` digits as uint8 images (n, 8*scale, 8*scale) and their true labels."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    n = min(n_items, len(digits.images))
    pixels = (digits.images[:n] * (255.0 / 16.0)).round().astype(np.uint8)
    upscaled = pixels.repeat(scale, axis=1).repeat(scale, axis=2)
    return upscaled, digits.target[:n].astype(int)


def simulate_annotations(
    item_ids: list[str],
    truth: np.ndarray,
    *,
    classes: list[str] = DIGIT_CLASSES,
    annotators=ANNOTATORS,
    seed: int = 0,
    ground_truth_every: int = 25,
) -> list[dict]:
    """Annotation records from annotators who are right with a known probability.

    A wrong label is drawn uniformly from the other classes. Each annotator
    labels a seeded share of the items; the first annotator's label on every
    ``ground_truth_every``-th item is marked ground truth (a reviewed reference).
    """
    rng = np.random.default_rng(seed)
    records = []
    clock = 0
    for a, (email, accuracy, share) in enumerate(annotators):
        labels_item = rng.random(len(item_ids)) < share
        correct = rng.random(len(item_ids)) < accuracy
        offsets = rng.integers(1, len(classes), size=len(item_ids))
        lead_times = rng.gamma(4.0, 2.5, size=len(item_ids)).round(1)
        for i, item_id in enumerate(item_ids):
            if not labels_item[i]:
                continue
            true = int(truth[i])
            label = true if correct[i] else (true + int(offsets[i])) % len(classes)
            clock += int(lead_times[i]) + 1
            stamp = str(START + np.timedelta64(clock, "s")) + "Z"
            records.append({
                "item_id": item_id,
                "annotator": email,
                "label": classes[label],
                "lead_time": float(lead_times[i]),
                "created_at": stamp,
                "updated_at": stamp,
                "ground_truth": a == 0 and i % ground_truth_every == 0 and label == true,
            })
    return records
