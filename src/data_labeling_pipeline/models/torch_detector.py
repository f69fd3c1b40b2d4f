"""A user's torch detection model as the box pre-labeller (torch is imported only here).

The model takes a list of CHW float tensors in [0, 1], one per image at its own size (the
torchvision detection convention), and returns ``boxes`` as x1, y1, x2, y2 in input pixels,
integer ``labels`` and ``scores``; :func:`predict_torch_detector` turns them into our box payload.
Without such a model the prelabel stage writes no box pre-labels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from os import PathLike
from typing import Any

import numpy as np

from data_labeling_pipeline.errors import DataError, require
from data_labeling_pipeline.models.features import load_image
from data_labeling_pipeline.models.torch_model import FIELD, Progress, resolve_device


def predict_torch_detector(model: Any, images: Sequence[Any], *, class_names: Mapping[int, str] | Sequence[str],
                           batch_size: int = 8, min_score: float = 0.0, device: str | None = None,
                           progress: Progress | None = None, path: str = "<model>") -> list[list[dict]]:
    """Boxes ``{"x", "y", "w", "h", "label", "score"}`` (input pixels) per image from a detection model.

    Args:
        images: gray ``(h, w)`` or colour ``(h, w, 3)`` uint8 arrays, or image file paths (read one
            batch at a time, upright, as RGB: the whole set is never in memory), fed at their own
            size as a list of CHW float tensors in [0, 1] (the torchvision detection convention).
        class_names: the model's integer labels to class names: a mapping (e.g. schema id ->
            name, as torchvision's 1-based labels with 0 = background) or a sequence (index -> name).

    The model may return a list of dicts per image (``boxes`` as x1, y1, x2, y2, ``labels``,
    ``scores``), a scripted torchvision model's ``(losses, detections)`` tuple, or a
    ``(boxes, labels, scores)`` tuple for a batch of one. Boxes are clipped to the image;
    empty ones and those scoring below ``min_score`` are dropped.

    Example:
        >>> import torch
        >>> class OneBox(torch.nn.Module):
        ...     def forward(self, images):
        ...         return [{"boxes": torch.tensor([[1.0, 2.0, 5.0, 6.0]]), "labels": torch.tensor([1]),
        ...                  "scores": torch.tensor([0.5])} for _ in images]
        >>> predict_torch_detector(OneBox(), [np.zeros((8, 8), np.uint8)], class_names={1: "car"}, device="cpu")
        [[{'x': 1.0, 'y': 2.0, 'w': 4.0, 'h': 4.0, 'label': 'car', 'score': 0.5}]]
    """
    torch = require("torch", "torch")
    names = dict(class_names) if isinstance(class_names, Mapping) else dict(enumerate(class_names))
    dev = resolve_device(device)
    if hasattr(model, "to"):
        model = model.to(dev)
    groups = [list(images[lo : lo + batch_size]) for lo in range(0, len(images), batch_size)]
    out: list[list[dict]] = []
    with torch.inference_mode():
        for group in progress(groups, "detecting") if progress is not None else groups:
            group = [load_image(x, mode="RGB") if isinstance(x, str | PathLike) else x for x in group]
            tensors = [torch.as_tensor(_chw(image)).to(dev) for image in group]
            try:
                result = model(tensors)
            except Exception as exc:
                raise DataError.single(path, None, FIELD, f"the detection model failed ({type(exc).__name__}: {exc}); "
                                       "expected a model taking a list of CHW float tensors in [0, 1]") from None
            for image, (boxes, labels, scores) in zip(group, _detections(result, len(group), path), strict=True):
                out.append(_boxes(boxes, labels, scores, names, np.asarray(image).shape[:2], min_score, path))
    return out


def _detections(result: Any, n: int, path: str) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], list):
        result = result[1]  # torch.jit.script(torchvision detector) returns (losses, detections)
    if isinstance(result, Mapping):
        result = [result]
    if isinstance(result, tuple | list) and len(result) == 3 and n == 1 and not isinstance(result[0], Mapping):
        result = [dict(zip(("boxes", "labels", "scores"), result, strict=True))]
    if not isinstance(result, list) or len(result) != n or not all(isinstance(r, Mapping) for r in result):
        raise DataError.single(path, None, FIELD, f"expected one dict of boxes, labels and scores per image "
                               f"({n} images), got {type(result).__name__}")
    rows = []
    for r in result:
        if not {"boxes", "labels", "scores"} <= set(r):
            raise DataError.single(path, None, FIELD, f"expected keys boxes, labels, scores, got {sorted(r)}")
        rows.append(tuple(np.asarray(r[k].detach().cpu().numpy() if hasattr(r[k], "detach") else r[k])
                          for k in ("boxes", "labels", "scores")))
    return rows


def _boxes(boxes, labels, scores, names, hw, min_score, path) -> list[dict]:
    height, width = hw
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    out = []
    for (x1, y1, x2, y2), label, score in zip(boxes, np.ravel(labels), np.ravel(scores), strict=True):
        if score < min_score:
            continue
        if isinstance(label, str | np.str_):
            name = str(label) if str(label) in names.values() else None
        else:
            name = names.get(int(label))
        if name is None:
            shown = repr(str(label)) if isinstance(label, str | np.str_) else int(label)
            raise DataError.single(path, None, FIELD, f"the model predicts class {shown}, expected one of "
                                   f"{sorted(names)} ({sorted(names.values())}): the model's classes do not "
                                   "match schema/labels.yaml")
        x1, x2 = np.clip([x1, x2], 0, width)
        y1, y2 = np.clip([y1, y2], 0, height)
        if x2 > x1 and y2 > y1:
            out.append({"x": round(float(x1), 3), "y": round(float(y1), 3), "w": round(float(x2 - x1), 3),
                        "h": round(float(y2 - y1), 3), "label": name, "score": round(float(score), 6)})
    return out


def _chw(image: Any) -> np.ndarray:
    arr = np.asarray(image)
    arr = arr.astype(np.float32) / np.float32(255) if arr.dtype == np.uint8 else arr.astype(np.float32)
    return np.ascontiguousarray(arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1))
