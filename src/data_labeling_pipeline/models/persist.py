"""Save and load a trained weak model (pickle protocol 5, written atomically).

A pickle runs code when loaded: load only files the prelabel stage wrote itself (the stage
retrains in seconds, so a file of unknown origin can always be replaced by retraining).
The bytes are the same for the same training data and options, in any process: the fitted
state holds only arrays, lists and dicts filled in data order (no sets, no timestamps);
``tests/models`` checks it across two interpreters with different hash seeds.
"""

from __future__ import annotations

import io
import os
import pickle
import tempfile
from os import PathLike
from pathlib import Path
from typing import Any

from data_labeling_pipeline.errors import DataError

PROTOCOL = 5
MAGIC = b"dlp-weak-model\n"


# Attributes that hold a memory address (scikit-learn's TfidfVectorizer caches id(stop_words) to
# skip a check): different in every process, recomputed when needed, so left out of the bytes.
VOLATILE = frozenset({"_stop_words_id"})


class _Pickler(pickle.Pickler):
    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, type) or not VOLATILE & set(getattr(obj, "__dict__", ())):
            return NotImplemented
        reduced = obj.__reduce_ex__(PROTOCOL)
        if len(reduced) < 3 or not isinstance(reduced[2], dict):
            return NotImplemented
        state = {k: v for k, v in reduced[2].items() if k not in VOLATILE}
        return (reduced[0], reduced[1], state, *reduced[3:])


def dumps_model(model: Any) -> bytes:
    """The model as bytes: a short header, then the pickle.

    Example:
        >>> dumps_model({"a": 1})[:15]
        b'dlp-weak-model\\n'
    """
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=PROTOCOL).dump(model)
    return MAGIC + buffer.getvalue()


def save_model(model: Any, path: str | PathLike) -> None:
    """Write :func:`dumps_model` to ``path`` atomically (readers see the old file or the new one)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(dumps_model(model))
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_model(path: str | PathLike) -> Any:
    """Read a model that :func:`save_model` wrote.

    Raises:
        DataError: missing file, or not a file ``save_model`` wrote (no header), or a broken one.
    """
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise DataError.single(str(path), None, "", "saved model not found; expected the file the prelabel stage "
                               "writes (run `dvc repro prelabel` to train it)") from None
    if not data.startswith(MAGIC):
        raise DataError.single(str(path), None, "", "not a model saved by the prelabel stage (header missing); "
                               "delete it and run `dvc repro prelabel` to retrain")
    try:
        return pickle.loads(data[len(MAGIC):])
    except Exception as exc:  # truncated or from an incompatible scikit-learn: retraining fixes both
        raise DataError.single(str(path), None, "", f"cannot read the saved model ({type(exc).__name__}: {exc}); "
                               "delete it and run `dvc repro prelabel` to retrain") from None
