"""Spot checks chosen jointly over annotators: each gets ``rate`` of their labels, the union stays small.

Independent per-annotator samples (:func:`.flags.spot_check`) cost many items when
annotators overlap: with 5 annotators per item and a 10% rate, ``1 - 0.9**5`` = 41% of the
items hold a sampled label. Here every item gets one blake2b hash of (seed, item id), and
the items are walked in hash order; an item is taken while some annotator on it has fewer
than ``ceil(rate * n_labels)`` sampled labels, and a taken item audits every label on it.

An annotator's count only grows while they still need labels, so the rule is the same as:
take an item when it is among the first ``ceil(rate * n_a)`` items, in hash order, of at
least one of its annotators. That needs no sequential walk (one sort), and it shows what
each annotator's sample is: their first ``ceil(rate * n_a)`` items in a random order fixed
by the seed (a uniform random sample of their labels, blind to the labels themselves),
plus the items taken for the annotators they share items with. The union is close to
``rate`` of the items when every annotator labels a similar share of them.

The hash does not depend on the other items, so adding items moves the quotas a little but
never reshuffles the order: most of an earlier sample stays sampled.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from data_labeling_pipeline.errors import DataError
from data_labeling_pipeline.quality.encoding import factorize

_WHERE = "<spot check>"


def item_hash(item_ids: Any, *, seed: int = 0) -> np.ndarray:
    """``blake2b(seed, item_id)`` of each item as an unsigned 64-bit integer (the walk order).

    Example:
        >>> h = item_hash(["a", "b"], seed=1)
        >>> h.dtype.name, bool(h[0] != h[1]), bool((h == item_hash(["a", "b"], seed=1)).all())
        ('uint64', True, True)
    """
    prefix = f"{seed}\x1f".encode()
    values = [
        int.from_bytes(hashlib.blake2b(prefix + str(item).encode(), digest_size=8).digest(), "big")
        for item in np.asarray(item_ids, dtype=object).tolist()
    ]
    return np.array(values, dtype=np.uint64)


def _is_nested(annotators: Any) -> bool:
    for value in annotators:
        return not isinstance(value, (str, bytes)) and isinstance(value, Iterable)
    return False


def _str_codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(values.astype(str), return_inverse=True)``, without a fixed-width copy of every value
    when they are strings already (one per annotation: the copy and its sort were most of the memory).

    >>> [a.tolist() for a in _str_codes(np.array(["b", "a", "b"], dtype=object))]
    [['a', 'b'], [1, 0, 1]]
    """
    if len(values) and all(type(v) is str for v in values.tolist()):
        return factorize(values)
    return np.unique(values.astype(str), return_inverse=True)


def _long_columns(item_ids: Any, annotators: Any) -> tuple[np.ndarray, np.ndarray]:
    """The (item, annotator) pairs as two columns, from the long table or from annotators per item."""
    items = np.asarray(item_ids, dtype=object)
    if items.ndim != 1:
        raise DataError.single(_WHERE, None, "item_ids", f"expected a 1-D column, got shape {items.shape}")
    annotators = list(annotators) if not isinstance(annotators, np.ndarray) else annotators
    if len(annotators) != len(items):
        raise DataError.single(_WHERE, None, "annotators",
                               f"expected one entry per item id ({len(items)}), got {len(annotators)}")
    if _is_nested(annotators):
        per_item = [list(a) for a in annotators]
        rep = np.repeat(items, [len(a) for a in per_item])
        flat = [a for group in per_item for a in group]
        return rep, np.array(flat, dtype=object)
    return items, np.asarray(annotators, dtype=object)


def spot_check_sample(item_ids: Any, annotators: Any, *, rate: float = 0.1, seed: int = 0) -> np.ndarray:
    """Items whose labels a reviewer checks, so that every annotator gets ``rate`` of their labels checked.

    Args:
        item_ids: Either one id per item, with ``annotators`` a list of each item's annotators,
            or the long table's item column (one id per annotation), with ``annotators`` the
            annotator column.
        annotators: Annotators per item (lists), or the annotator of each annotation.
        rate: Share of each annotator's labels to check (``quality.spot_check_rate``).
        seed: Seed of the hash order (``quality.seed``).

    Returns:
        The sampled item ids, sorted.

    Raises:
        DataError: ``rate`` is not a share between 0 and 1, or the columns do not line up.

    Example:
        >>> items = [f"i{n:04d}" for n in range(3000)]
        >>> who = [[f"a{(n + j) % 8}" for j in range(3)] for n in range(3000)]
        >>> picked = spot_check_sample(items, who, rate=0.1, seed=0)
        >>> bool(0.09 < len(picked) / 3000 < 0.13), picked[0] < picked[-1]
        (True, True)
    """
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate <= 1:
        raise DataError.single(_WHERE, None, "rate", f"expected a share between 0 and 1, got {rate!r}")
    items, anns = _long_columns(item_ids, annotators)
    if len(items) == 0 or rate == 0:
        return np.array([], dtype=object)
    uniq, item_code = _str_codes(items)
    # Keep the caller's ids (ints stay ints) for the returned sample.
    first = np.zeros(len(uniq), dtype=np.int64)
    first[item_code[::-1]] = np.arange(len(items))[::-1]
    ids = items[first]
    names, ann_code = _str_codes(anns)
    hashes = item_hash(ids, seed=seed)
    # Position of each item in the walk: hash order, ties (never seen in practice) by item id.
    walk = np.lexsort((np.arange(len(uniq)), hashes))
    position = np.empty(len(uniq), dtype=np.int64)
    position[walk] = np.arange(len(uniq))
    pair = np.unique(ann_code * len(uniq) + item_code)  # one row per (annotator, item)
    ann_of, item_of = pair // len(uniq), pair % len(uniq)
    by = np.lexsort((position[item_of], ann_of))
    ann_sorted = ann_of[by]
    starts = np.searchsorted(ann_sorted, np.arange(len(names)))
    rank = np.arange(len(by)) - starts[ann_sorted]  # 0-based rank of the item in its annotator's walk
    n_labels = np.bincount(ann_of, minlength=len(names))
    quota = np.array([math.ceil(rate * n - 1e-9) for n in n_labels.tolist()], dtype=np.int64)
    demanded = rank < quota[ann_sorted]
    taken = np.zeros(len(uniq), dtype=bool)
    taken[item_of[by][demanded]] = True
    return np.sort(ids[taken])


def spot_check_coverage(item_ids: Any, annotators: Any, sampled: Any) -> dict[str, Any]:
    """How much of each annotator's work, and of the items, a spot-check sample covers.

    Args:
        item_ids: As in :func:`spot_check_sample` (per item with lists, or the long table).
        annotators: As in :func:`spot_check_sample`.
        sampled: The sampled item ids.

    Returns:
        Numbers only: ``n_items``, ``n_sampled``, ``item_share``, ``min_annotator_share``,
        ``max_annotator_share`` and ``annotator_share`` (``annotator -> share of their labels``).

    Example:
        >>> cov = spot_check_coverage(["a", "a", "b"], ["x", "y", "x"], ["a"])
        >>> cov["item_share"], cov["annotator_share"]
        (0.5, {'x': 0.5, 'y': 1.0})
    """
    items, anns = _long_columns(item_ids, annotators)
    uniq, item_code = _str_codes(items)
    chosen = {str(i) for i in sampled}
    # A set lookup per item: isin on fixed-width copies of millions of ids and their sort was ~600 MB at 10M.
    picked_item = np.fromiter((str(u) in chosen for u in uniq.tolist()), dtype=bool, count=len(uniq))
    picked = picked_item[item_code]
    names, code = _str_codes(anns)
    n = np.bincount(code, minlength=len(names))
    hit = np.bincount(code, weights=picked.astype(float), minlength=len(names))
    share = {name: float(hit[a] / n[a]) for a, name in enumerate(names.tolist())}
    n_items = len(uniq)
    n_sampled = int(picked_item.sum())
    return {
        "n_items": n_items,
        "n_sampled": n_sampled,
        "item_share": n_sampled / n_items if n_items else 0.0,
        "min_annotator_share": min(share.values()) if share else 0.0,
        "max_annotator_share": max(share.values()) if share else 0.0,
        "annotator_share": share,
    }
