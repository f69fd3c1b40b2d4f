"""A user's torch model (``active_learning.model_checkpoint``) as a pre-labeller; torch is imported only here.

Checkpoint formats, told apart by the file's content (not its name):

- a TorchScript archive (``torch.jit.script(model).save(path)`` or ``torch.jit.trace``);
- a ``torch.export`` program (``torch.export.save(torch.export.export(model, (example,)), path)``);
  export it with a dynamic batch dimension, or every batch must have the example's size;
- a pickled ``nn.Module`` (``torch.save(model, path)``): unpickling runs arbitrary code, so it
  is refused unless the user sets ``prelabel.trust_checkpoint: true``;
- a ``state_dict`` alone is refused: it has no architecture to run.

Inputs are float32 NCHW batches with values in [0, 1] (:class:`ImageBatches` makes them from
image files); any normalisation the model needs belongs inside the saved model. Outputs:
classifiers return one row of logits or probabilities per item (which one is detected,
:func:`to_probabilities`); detectors return torchvision-style ``boxes`` (x1, y1, x2, y2 in
input pixels), ``labels`` and ``scores`` (:func:`~data_labeling_pipeline.models.torch_detector.predict_torch_detector`).
"""

from __future__ import annotations

import math
import warnings
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from data_labeling_pipeline.errors import DataError, require
from data_labeling_pipeline.models.features import load_image

FIELD = "active_learning.model_checkpoint"
# Sizes tried in this order when nothing in the model says what it wants: ImageNet first, then
# CIFAR / MNIST-style small inputs, then other common ones.
COMMON_SIZES = (224, 32, 28, 64, 96, 128, 256, 299, 16, 8)
CONVERT_HINT = (
    "convert it once to TorchScript or torch.export, where its class is importable:\n"
    "    torch.jit.script(model).save('weak_classifier.pt')   # or torch.jit.trace(model, example).save(...)\n"
    "    torch.export.save(torch.export.export(model.eval(), (example,)), 'weak_classifier.pt2')"
)

Progress = Callable[[Iterable[Any], str], Iterable[Any]]


def checkpoint_format(path: str | PathLike) -> str:
    """``"torchscript"``, ``"export"``, ``"pickle"`` (a ``torch.save`` file) or ``"unknown"``, by content.

    Example:
        >>> import tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "weights.pt")
        >>> with open(path, "wb") as fh:
        ...     _ = fh.write(b"not a zip")
        >>> checkpoint_format(path)
        'pickle'
    """
    if not zipfile.is_zipfile(path):
        return "pickle"  # the legacy torch.save format (or not a checkpoint at all)
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    if any(name.endswith("archive_format") for name in names):
        return "export"
    if any(name.endswith("constants.pkl") for name in names):
        return "torchscript"
    if any(name.endswith("data.pkl") for name in names):
        return "pickle"
    return "unknown"


def load_checkpoint(path: str | PathLike, *, trust: bool = False) -> Any:
    """Load a model file as a callable torch module in eval mode, on the CPU.

    Args:
        path: TorchScript, ``torch.export`` program, or (only with ``trust``) a pickled module.
        trust: allow ``torch.load(path, weights_only=False)``, which can run arbitrary code.

    Raises:
        MissingExtraError: torch is not installed.
        DataError: the file is missing, broken, a bare ``state_dict``, or a pickle without ``trust``.

    Example:
        >>> import torch, tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "m.pt")
        >>> torch.jit.trace(torch.nn.Linear(4, 2), torch.zeros(1, 4)).save(path)
        >>> load_checkpoint(path)(torch.zeros(3, 4)).shape
        torch.Size([3, 2])
    """
    torch = require("torch", "torch")
    name = str(path)
    if not Path(path).is_file():
        raise DataError.single(name, None, FIELD, "model file not found; expected a TorchScript or torch.export "
                               "file (run `dvc pull` if it lives in a remote, or set the option to null to use "
                               "the default weak model)")
    kind = checkpoint_format(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.jit.* is deprecated in torch 2.9+, yet still the common format
            if kind == "torchscript":
                model = torch.jit.load(name, map_location="cpu")
            elif kind == "export":
                with open(path, "rb") as fh:  # a file object: torch.export.load wants a .pt2 suffix on paths
                    program = torch.export.load(fh)
                model = program.module()
                _remember_example_shape(model, program)
            elif kind == "pickle":
                model = _load_pickle(torch, path, trust=trust)
            else:
                raise _broken(name, "a zip archive that is no torch checkpoint")
    except DataError:
        raise
    except Exception as exc:  # torch raises RuntimeError, EOFError, UnpicklingError, BadZipFile...
        raise _broken(name, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None
    if not callable(model):
        raise DataError.single(name, None, FIELD, f"expected a model, got a {type(model).__name__}; {CONVERT_HINT}")
    try:
        model.eval()
    except (AttributeError, NotImplementedError):  # exported programs are already in inference form
        pass
    return model


def resolve_device(device: str | None = None) -> str:
    """``device`` as given, or ``"cuda"`` when available, else ``"cpu"``.

    Example:
        >>> resolve_device("cpu")
        'cpu'
    """
    torch = require("torch", "torch")
    if device is not None:
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"


def model_input_size(model: Any, *, sizes: Sequence[int] = COMMON_SIZES, channels: Sequence[int] = (3, 1)) -> tuple:
    """The ``(channels, height, width)`` of one input image the model accepts.

    Looked up in this order:

    1. an ``input_size`` / ``input_shape`` / ``image_size`` attribute of the model (an int, or a
       tuple ``(h, w)``, ``(c, h, w)`` or ``(n, c, h, w)``); a ``torch.export`` program's example
       input is recorded there by :func:`load_checkpoint`;
    2. the first parameter: a 4-D convolution weight gives the channels; a 2-D linear weight
       with ``in_features = c * s * s`` gives the whole shape;
    3. a probe: a zero batch of each channel count in ``channels`` and each side in ``sizes``,
       until the model accepts one.

    Raises:
        DataError: no candidate works; save the size in the model (``model.input_size = (3, 224, 224)``).

    Example:
        >>> import torch
        >>> model_input_size(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10)))
        (1, 8, 8)
    """
    torch = require("torch", "torch")
    for attr in ("input_size", "input_shape", "image_size"):
        shape = _shape_attr(getattr(model, attr, None), channels)
        if shape is not None:
            return shape
    first = next(iter(model.parameters()), None) if hasattr(model, "parameters") else None
    known_channels = list(channels)
    if first is not None and first.ndim == 4:
        known_channels = [int(first.shape[1])]
    elif first is not None and first.ndim == 2:
        features = int(first.shape[1])
        for c in channels:
            side = math.isqrt(features // c)
            if c * side * side == features:
                return (c, side, side)
    with torch.inference_mode():
        for c in known_channels:
            for side in sizes:
                try:
                    model(torch.zeros(1, c, side, side))
                except Exception:  # the probe's job: any failure means "not this size"
                    continue
                return (c, side, side)
    raise DataError.single("<model>", None, FIELD,
                           f"cannot find the input size the model wants (tried channels {known_channels} x sizes "
                           f"{list(sizes)}); set it on the model before saving: model.input_size = (3, 224, 224)")


class ImageBatches:
    """A lazy, sized sequence of float32 NCHW batches in [0, 1] read from image files (EXIF-upright).

    Sized, so a progress bar knows the total without decoding everything first.

    Example:
        >>> import tempfile, os
        >>> from PIL import Image
        >>> path = os.path.join(tempfile.mkdtemp(), "a.png")
        >>> Image.new("RGB", (9, 7), "white").save(path)
        >>> batches = ImageBatches([path] * 3, shape=(1, 8, 8), batch_size=2)
        >>> len(batches), [b.shape for b in batches]
        (2, [(2, 1, 8, 8), (1, 1, 8, 8)])
    """

    def __init__(self, paths: Sequence[str | PathLike], *, shape: tuple[int, int, int], batch_size: int = 256):
        self.paths = list(paths)
        self.shape = shape
        self.batch_size = batch_size

    def __len__(self) -> int:
        return -(-len(self.paths) // self.batch_size)

    def __iter__(self):
        c, h, w = self.shape
        if h != w:
            raise DataError.single("<ImageBatches>", None, "shape", f"expected a square input, got {h}x{w}")
        mode = "L" if c == 1 else "RGB"
        for lo in range(0, len(self.paths), self.batch_size):
            images = [load_image(p, size=h, mode=mode) for p in self.paths[lo : lo + self.batch_size]]
            batch = np.stack(images).astype(np.float32) / np.float32(255)
            yield batch[:, None] if c == 1 else batch.transpose(0, 3, 1, 2)


def torch_outputs(model: Any, batches: Iterable[Any], *, device: str | None = None,
                  progress: Progress | None = None, path: str = "<model>") -> np.ndarray:
    """The model's raw output rows (float32 ``(n, d)``) over all batches, under ``torch.inference_mode()``.

    Tuple outputs use their first element, dict outputs their ``"logits"`` entry. Use it for
    embeddings from a feature extractor; :func:`predict_torch_classifier` for class probabilities.

    Example:
        >>> import torch
        >>> torch_outputs(torch.nn.Flatten(), [np.ones((2, 1, 2, 2), np.float32)], device="cpu").tolist()
        [[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0]]
    """
    torch = require("torch", "torch")
    dev = resolve_device(device)
    if hasattr(model, "to"):
        model = model.to(dev)
    rows = []
    items = progress(batches, "pre-labelling") if progress is not None else batches
    with torch.inference_mode():
        for batch in items:
            x = torch.as_tensor(np.ascontiguousarray(batch, dtype=np.float32)).to(dev)
            try:
                y = model(x)
            except Exception as exc:
                raise DataError.single(path, None, FIELD,
                                       f"the model failed on a batch of shape {tuple(x.shape)} ({type(exc).__name__}: "
                                       f"{str(exc).splitlines()[0] if str(exc) else ''}); expected float32 NCHW images "
                                       "in [0, 1] (see model_input_size); a torch.export program needs a dynamic "
                                       "batch dimension: export(..., dynamic_shapes=({0: torch.export.Dim('batch')},))"
                                       ) from None
            if isinstance(y, tuple | list):
                y = y[0]
            elif isinstance(y, Mapping):
                y = y["logits"] if "logits" in y else next(iter(y.values()))
            rows.append(y.detach().float().reshape(len(x), -1).cpu().numpy())
    return np.concatenate(rows) if rows else np.zeros((0, 0), dtype=np.float32)


def predict_torch_classifier(model: Any, batches: Iterable[Any], *, n_classes: int, multi_label: bool = False,
                             device: str | None = None, progress: Progress | None = None,
                             path: str = "<model>") -> np.ndarray:
    """Class probabilities ``(n, n_classes)`` from a user's classifier, whether it returns logits or probabilities.

    Raises:
        DataError: the model returns another number of columns than ``n_classes``, or NaN.

    Example:
        >>> import torch
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
        >>> p = predict_torch_classifier(model, [np.zeros((2, 1, 2, 2), np.float32)], n_classes=3, device="cpu")
        >>> p.shape, bool(np.allclose(p.sum(axis=1), 1))
        ((2, 3), True)
    """
    raw = torch_outputs(model, batches, device=device, progress=progress, path=path)
    if len(raw) and raw.shape[1] != n_classes:
        raise DataError.single(path, None, FIELD,
                               f"the model returns {raw.shape[1]} scores per item, expected {n_classes}: one per "
                               "schema class, in schema order (schema/labels.yaml); retrain or re-export the model "
                               "for these classes")
    if not np.isfinite(raw).all():
        raise DataError.single(path, None, FIELD, "the model returned NaN or infinite scores; check the checkpoint")
    return to_probabilities(raw.reshape(len(raw), n_classes), multi_label=multi_label)


def to_probabilities(scores: Any, *, multi_label: bool = False, atol: float = 1e-4) -> np.ndarray:
    """Model outputs as probabilities: kept when they already are, else softmax (sigmoid when multi-label).

    Single-label outputs are probabilities when every value is >= 0 and every row sums to 1
    within ``atol`` (then renormalised exactly); multi-label outputs when all lie in [0, 1].

    Example:
        >>> to_probabilities([[2.0, 0.0]]).round(3).tolist(), to_probabilities([[0.25, 0.75]]).tolist()
        ([[0.881, 0.119]], [[0.25, 0.75]])
    """
    x = np.asarray(scores, dtype=np.float64)
    if x.size == 0:
        return x.reshape(x.shape[0], -1)
    if multi_label:
        if ((x >= 0) & (x <= 1)).all():
            return x
        return 1.0 / (1.0 + np.exp(-x))
    sums = x.sum(axis=1, keepdims=True)
    if (x >= 0).all() and np.abs(sums - 1).max() <= atol:
        return x / sums
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _load_pickle(torch: Any, path: str | PathLike, *, trust: bool) -> Any:
    import pickle

    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "Unsupported global" not in str(exc):
            raise
        if not trust:
            raise DataError.single(str(path), None, FIELD,
                                   "a pickled nn.Module: loading it runs arbitrary code, so it is refused; "
                                   f"{CONVERT_HINT}\nor, if you trust the file, set prelabel.trust_checkpoint: true "
                                   "(the model's class must be importable)") from None
        return torch.load(path, map_location="cpu", weights_only=False)
    if isinstance(obj, torch.nn.Module):
        return obj
    raise DataError.single(str(path), None, FIELD,
                           f"the file holds weights only (a {type(obj).__name__}, e.g. a state_dict), not a model "
                           f"that can run; load them into the model, then {CONVERT_HINT}")


def _broken(name: str, detail: str) -> DataError:
    return DataError.single(name, None, FIELD, f"cannot load the model ({detail}); expected a TorchScript or "
                            "torch.export file: re-save it, or check it was not truncated in transfer")


def _remember_example_shape(model: Any, program: Any) -> None:
    """Record an exported program's example input shape, the size it was traced at."""
    example = getattr(program, "example_inputs", None)
    try:
        shape = tuple(int(d) for d in example[0][0].shape)
    except (TypeError, IndexError, AttributeError):
        return
    if len(shape) == 4 and getattr(model, "input_shape", None) is None:
        model.input_shape = shape


def _shape_attr(value: Any, channels: Sequence[int]) -> tuple[int, int, int] | None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return (channels[0], value, value)
    if isinstance(value, tuple | list) and all(isinstance(v, int) for v in value):
        dims = tuple(int(v) for v in value)
        if len(dims) == 2:
            return (channels[0], *dims)
        if len(dims) in (3, 4):
            return dims[-3:]
    return None


def __getattr__(name: str) -> Any:
    # predict_torch_detector lives in torch_detector now; the old import path keeps working.
    if name == "predict_torch_detector":
        from data_labeling_pipeline.models.torch_detector import predict_torch_detector

        return predict_torch_detector
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
