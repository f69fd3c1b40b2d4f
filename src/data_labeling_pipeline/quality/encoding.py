"""The long table ``item, annotator, label`` as integer codes: the columnar view every metric uses.

Encoding once (:func:`factorize` on each column, one sort by item then annotator)
lets all metrics run as ``bincount`` / ``reduceat`` passes over integer arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from data_labeling_pipeline.errors import DataError

_WHERE = "<long table>"


@dataclass(frozen=True)
class LongTable:
    """Integer-coded annotations, sorted by item code then annotator code.

    Attributes:
        item: Item code per annotation (index into ``items``).
        annotator: Annotator code per annotation (index into ``annotators``).
        label: Class index per annotation (index into ``classes``, schema order).
        items: Item ids, sorted.
        annotators: Annotator names, sorted.
        classes: Class names in schema order (or sorted observed labels when no schema is given).
        order: Position of each row in the caller's input (rows with a missing label dropped).
    """

    item: np.ndarray
    annotator: np.ndarray
    label: np.ndarray
    items: np.ndarray
    annotators: np.ndarray
    classes: list
    order: np.ndarray

    @property
    def n_items(self) -> int:
        return len(self.items)

    @property
    def n_annotators(self) -> int:
        return len(self.annotators)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def __len__(self) -> int:
        return len(self.item)


def is_missing(values: np.ndarray) -> np.ndarray:
    """Mask of ``None`` / NaN entries of a 1-D column."""
    if values.dtype.kind == "f":
        return np.isnan(values)
    if values.dtype.kind == "O":  # elementwise in C: None, or NaN (the one value unequal to itself)
        try:
            return np.asarray((values == None) | (values != values), dtype=bool)  # noqa: E711
        except (ValueError, TypeError):  # elements that compare as arrays
            return np.fromiter((v is None or (isinstance(v, float) and v != v) for v in values), bool, len(values))
    return np.zeros(len(values), bool)


def _column(values: Any, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise DataError.single(_WHERE, None, name, f"expected a 1-D column, got shape {arr.shape}")
    return arr


def _trim(arr: np.ndarray) -> np.ndarray:
    """The same strings in the narrowest dtype whose width is a multiple of 8 bytes."""
    longest = int(np.strings.str_len(arr).max()) if len(arr) else 0
    if arr.dtype.kind == "U":
        dtype = np.dtype(f"U{max(longest + longest % 2, 2)}")  # two UCS-4 characters per word
    else:
        dtype = np.dtype(f"S{max(8 * -(-longest // 8), 8)}")
    return arr if dtype == arr.dtype else arr.astype(dtype)


def _string_hash(arr: np.ndarray) -> np.ndarray:
    """64-bit FNV-style hash of each string of a trimmed array (one pass per 8 bytes)."""
    words = np.ascontiguousarray(arr).view(np.uint64).reshape(len(arr), -1)
    out = np.full(len(arr), 14695981039346656037, dtype=np.uint64)
    prime, shift = np.uint64(1099511628211), np.uint64(29)
    for j in range(words.shape[1]):
        out ^= words[:, j]
        out *= prime
        out ^= out >> shift
    return out


def _is_sorted(arr: np.ndarray) -> bool:
    head = arr[:1024]
    if not np.all(head[1:] >= head[:-1]):  # cheap early exit for unsorted columns
        return False
    return bool(np.all(arr[1:] >= arr[:-1]))


def _small_vocabulary(arr: np.ndarray, *, sample: int = 4096, max_size: int = 256):
    """Factorise a column with few distinct values (annotators, labels) by binary search.

    The vocabulary is guessed from a sample; if any value is not in it, give up (None).
    """
    vocab = np.unique(arr[:sample])
    if len(vocab) > max_size:
        return None
    codes = np.searchsorted(vocab, arr)
    if not np.array_equal(np.searchsorted(vocab, arr, side="right"), codes + 1):
        return None  # some value is not in the sampled vocabulary
    return vocab, codes.astype(np.int64)  # every sampled value occurs, so no code is unused


def factorize(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique values and the code of each value, like ``np.unique(return_inverse=True)``.

    Faster on the inputs this package sees: an already sorted column (canonical JSONL is sorted
    by item, then annotator) takes one linear pass; other string columns are hashed, the hashes
    factorised, and every value checked against its group's representative (a hash collision
    falls back to ``np.unique``); small-range integers use ``bincount``.

    Example:
        >>> uniq, codes = factorize(np.array(["b", "a", "b", "c"]))
        >>> uniq.tolist(), codes.tolist()
        (['a', 'b', 'c'], [1, 0, 1, 2])
    """
    arr = np.asarray(values)
    n = len(arr)
    if n == 0:
        return arr[:0], np.zeros(0, dtype=np.int64)
    if arr.dtype.kind == "O":
        return _unique_objects(arr)
    if arr.dtype.kind in "biuUS" and _is_sorted(arr):
        change = arr[1:] != arr[:-1]
        codes = np.concatenate([[0], np.cumsum(change, dtype=np.int64)])
        return arr[np.concatenate([[True], change])], codes
    if arr.dtype.kind in "US":
        small = _small_vocabulary(arr)
        if small is not None:
            return small
        arr = _trim(arr)
        hashes = _string_hash(arr)
        by_hash = np.argsort(hashes)  # any order within equal hashes: one representative is enough
        sorted_hashes = hashes[by_hash]
        new_group = np.concatenate([[True], sorted_hashes[1:] != sorted_hashes[:-1]])
        inverse = np.empty(n, dtype=np.int64)
        inverse[by_hash] = np.cumsum(new_group) - 1
        reps = arr[by_hash[new_group]]
        if not np.array_equal(reps[inverse], arr):
            return _unique(arr)  # a hash collision: exact but slower path
        order = np.argsort(reps, kind="stable")
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order))
        return reps[order], rank[inverse.reshape(-1)]
    if arr.dtype.kind in "iu":
        lo, hi = int(arr.min()), int(arr.max())
        if hi - lo <= 4 * n:
            present = np.bincount(arr - lo, minlength=hi - lo + 1) > 0
            lookup = np.cumsum(present, dtype=np.int64) - 1
            return (np.flatnonzero(present) + lo).astype(arr.dtype), lookup[arr - lo]
    return _unique(arr)


def _unique_objects(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``_unique`` of an object column; of strings by hashing (np.unique sorts n Python objects)."""
    values = arr.tolist()
    if set(map(type, values)) != {str}:
        return _unique(arr)
    if len(arr) > 1 and bool(np.all(arr[1:] >= arr[:-1])):  # item ids of a canonical file: one linear pass
        change = arr[1:] != arr[:-1]
        codes = np.concatenate([[0], np.cumsum(change, dtype=np.int64)])
        return arr[np.concatenate([[True], change])], codes
    vocab = sorted(set(values))
    index = {v: i for i, v in enumerate(vocab)}
    uniq = np.empty(len(vocab), dtype=object)
    uniq[:] = vocab
    return uniq, np.fromiter(map(index.__getitem__, values), dtype=np.int64, count=len(values))


def _unique(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    uniq, inverse = np.unique(arr, return_inverse=True)
    return uniq, inverse.reshape(-1).astype(np.int64)


def encode_labels(labels: np.ndarray, classes: Sequence | None) -> tuple[np.ndarray, list]:
    """Map labels to class indexes (schema order when ``classes`` is given, else sorted observed).

    Raises:
        DataError: A label is not one of ``classes``.
    """
    uniq, inverse = factorize(labels)
    if classes is None:
        return inverse, uniq.tolist()
    classes = list(classes)
    position = {c: i for i, c in enumerate(classes)}
    unknown = [u for u in uniq.tolist() if u not in position]
    if unknown:
        raise DataError.single(
            _WHERE, None, "label", f"{unknown[:5]!r} not among the schema classes {classes!r}; "
            "fix the annotations or add the class to schema/labels.yaml"
        )
    lookup = np.array([position[u] for u in uniq.tolist()], dtype=np.int64)
    return lookup[inverse.reshape(-1)], classes


def _sort_permutation(key: np.ndarray, key_range: int) -> np.ndarray:
    """Stable sorting permutation of non-negative integer keys; a counting sort when the range is small."""
    if key_range > 4 * len(key):
        return np.argsort(key, kind="stable")
    counts = np.bincount(key, minlength=key_range)
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    if counts.max() <= 1:
        perm = np.empty(len(key), dtype=np.int64)
        perm[start[key]] = np.arange(len(key))
        return perm
    return np.argsort(key, kind="stable")  # duplicates: reported by the caller, keep it simple


def encode_long(item_ids: Any, annotators: Any, labels: Any, *, classes: Sequence | None = None) -> LongTable:
    """Encode three parallel columns as a :class:`LongTable`.

    Rows whose label is ``None`` or NaN are dropped (an annotator who skipped the item).

    Args:
        item_ids: Item id per annotation.
        annotators: Annotator per annotation.
        labels: Label per annotation.
        classes: The schema's classes in schema order; ``None`` uses the sorted observed labels.

    Returns:
        The encoded table, rows sorted by (item, annotator).

    Raises:
        DataError: Columns of different lengths, an unknown label, or one annotator labelling
            the same item twice.

    Example:
        >>> t = encode_long(["b", "a", "a"], ["x", "x", "y"], ["cat", "dog", "dog"], classes=["dog", "cat"])
        >>> t.items.tolist(), t.item.tolist(), t.label.tolist()
        (['a', 'b'], [0, 0, 1], [0, 0, 1])
    """
    items_col = _column(item_ids, "item_id")
    ann_col = _column(annotators, "annotator")
    lab_col = _column(labels, "label")
    if not (len(items_col) == len(ann_col) == len(lab_col)):
        raise DataError.single(
            _WHERE, None, "columns",
            f"item_ids, annotators and labels must have the same length, got "
            f"{len(items_col)}, {len(ann_col)}, {len(lab_col)}",
        )
    order = np.arange(len(lab_col))
    missing = is_missing(lab_col)
    if missing.any():
        keep = ~missing
        items_col, ann_col, lab_col, order = items_col[keep], ann_col[keep], lab_col[keep], order[keep]
    if lab_col.dtype.kind == "O" and len(lab_col):
        lab_col = np.array(lab_col.tolist())
    items, item = factorize(items_col)
    anns, ann = factorize(ann_col)
    label, class_list = encode_labels(lab_col, classes)
    key = item * max(len(anns), 1) + ann
    if len(key) and not np.all(key[1:] > key[:-1]):
        perm = _sort_permutation(key, len(items) * max(len(anns), 1))
        item, ann, label, order, key = item[perm], ann[perm], label[perm], order[perm], key[perm]
    dup = np.flatnonzero(key[1:] == key[:-1]) if len(key) else np.array([], int)
    if len(dup):
        shown = [(items[item[i]], anns[ann[i]]) for i in dup[:5]]
        raise DataError.single(
            _WHERE, None, "annotator",
            f"{len(dup)} duplicate (item, annotator) pairs, e.g. {shown!r}; keep one annotation "
            "per annotator and item (the latest)",
        )
    return LongTable(item, ann, label, items, anns, class_list, order)


def category_counts(table: LongTable) -> np.ndarray:
    """Items x classes matrix: how many annotators gave each class to each item.

    Example:
        >>> category_counts(encode_long([1, 1, 2], ["a", "b", "a"], ["x", "y", "y"])).tolist()
        [[1, 1], [0, 1]]
    """
    k = table.n_classes
    flat = np.bincount(table.item * k + table.label, minlength=table.n_items * k)
    return flat.reshape(table.n_items, k)


def item_bounds(table: LongTable) -> np.ndarray:
    """Start offset of each item's rows (rows are sorted by item; every item has >= 1 row)."""
    return np.searchsorted(table.item, np.arange(table.n_items))


def ratings_to_counts(ratings: Any, *, values: Sequence | None = None) -> tuple[np.ndarray, list]:
    """Items x annotators ratings (``None``/NaN missing) to an items x values count matrix.

    A numeric matrix (integers, or floats with NaN for missing) takes one vectorised pass:
    each rating becomes ``item * n_values + code`` and one ``bincount`` counts them all;
    other inputs (strings, ``None``) go through object arrays.

    Example:
        >>> counts, vals = ratings_to_counts([[1, 1, None], [2, 1, 2]])
        >>> counts.tolist(), vals
        ([[2, 0], [1, 2]], [1, 2])
        >>> counts, vals = ratings_to_counts(np.array([[1.0, 1.0, np.nan], [2.0, 1.0, 2.0]]))
        >>> counts.tolist(), vals
        ([[2, 0], [1, 2]], [1.0, 2.0])
    """
    arr = ratings if isinstance(ratings, np.ndarray) and ratings.dtype.kind in "biuf" else None
    if arr is None:
        arr = np.asarray(ratings, dtype=object)
    if arr.ndim != 2:
        raise DataError.single(_WHERE, None, "ratings", f"expected items x annotators, got shape {arr.shape}")
    n_items = arr.shape[0]
    flat = arr.reshape(-1)
    if arr.dtype.kind == "f":
        keep = ~np.isnan(flat)
        rows = np.flatnonzero(keep) // max(arr.shape[1], 1)
        observed = flat[keep]
    elif arr.dtype.kind in "biu":
        rows, observed = None, flat  # nothing can be missing in an integer matrix
    else:
        keep = ~is_missing(flat)
        rows = np.flatnonzero(keep) // max(arr.shape[1], 1)
        observed = np.array(flat[keep].tolist())
    if len(observed) == 0:
        k = 0 if values is None else len(values)
        return np.zeros((n_items, k), dtype=np.int64), ([] if values is None else list(values))
    codes, value_list = _encode_values(observed, values)
    k = len(value_list)
    if rows is None:
        key = (np.arange(n_items, dtype=np.int64) * k)[:, None] + codes.reshape(arr.shape)
    else:
        key = rows * k + codes
    counts = np.bincount(key.reshape(-1), minlength=n_items * k).reshape(n_items, k)
    return counts, value_list


def _encode_values(observed: np.ndarray, values: Sequence | None) -> tuple[np.ndarray, list]:
    """Codes of observed ratings: floats holding whole numbers take the integer ``bincount`` path."""
    if observed.dtype.kind == "f" and values is None:
        as_int = observed.astype(np.int64)
        if np.array_equal(as_int, observed):
            codes, value_list = encode_labels(as_int, None)
            return codes, [float(v) for v in value_list]
    return encode_labels(observed, values)
