"""The default weak NER model: a gazetteer of the surface forms annotators marked, matched longest first.

Fitting collects every consensus span's text (stripped of surrounding whitespace; case-folded
unless ``case_sensitive``) with its labels. Each surface form takes its most frequent label;
a tie goes to the label that comes first in ``classes`` (schema order), or to the
alphabetically first without ``classes``. Its score is that label's share of the form's
annotations.

Prediction scans each text left to right and, at every position where a token may start,
takes the longest known form that also ends at a token boundary: a match never starts or
ends inside a word ("Paris" is found in "Paris," but not in "Parisian"). A boundary is any
place where a word character (letter, digit, underscore) does not touch another one, so
forms like "C++" or "e-mail" work. Matches do not overlap. Offsets are code points of the
original text, whatever case folding does to lengths ("ß" folds to "ss").
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from data_labeling_pipeline.errors import DataError
from data_labeling_pipeline.models.folds import cross_validate_with

_END = ""  # trie key of "a form ends here"; no folded character is the empty string


class Gazetteer:
    """Longest-match, token-boundary-aware dictionary NER learnt from consensus spans.

    Args:
        case_sensitive: match the case annotators used; default: case-folded matching.
        classes: the schema's entity labels in schema order (for tie-breaking only).
        min_count: forms annotated fewer times than this are left out.
        min_precision: leave out forms that, matched over the training texts themselves, are
            an annotated span less often than this share (e.g. a name that is also a common
            word). 0 keeps every form.

    Example:
        >>> g = Gazetteer().fit(["Ada Lovelace met Babbage."],
        ...                     [[{"start": 0, "end": 12, "label": "PER"}, {"start": 17, "end": 24, "label": "PER"}]])
        >>> g.predict(["babbage and ADA LOVELACE; Babbages"])
        [[{'start': 0, 'end': 7, 'label': 'PER', 'score': 1.0}, {'start': 12, 'end': 24, 'label': 'PER', 'score': 1.0}]]
    """

    def __init__(
        self,
        *,
        case_sensitive: bool = False,
        classes: Sequence[str] | None = None,
        min_count: int = 1,
        min_precision: float = 0.0,
    ):
        self.case_sensitive = case_sensitive
        self.classes = classes
        self.min_count = min_count
        self.min_precision = min_precision

    def get_params(self, deep: bool = False) -> dict[str, Any]:
        return {"case_sensitive": self.case_sensitive, "classes": self.classes,
                "min_count": self.min_count, "min_precision": self.min_precision}

    def fit(self, texts: Sequence[str], spans: Sequence[Sequence[dict]]) -> Gazetteer:
        """Learn surface forms from texts and their consensus spans; returns self."""
        texts, spans = _check_pairs(texts, spans)
        order = {name: i for i, name in enumerate(self.classes or [])}
        counts: dict[str, Counter] = {}
        for text, item_spans in zip(texts, spans, strict=True):
            for span in _stripped(text, item_spans):
                counts.setdefault(self._fold(text[span[0]:span[1]]), Counter())[span[2]] += 1
        forms: dict[str, tuple[str, float]] = {}
        for key in sorted(counts):
            tally = counts[key]
            total = sum(tally.values())
            if total < self.min_count:
                continue
            label = min(tally, key=lambda lab: (-tally[lab], order.get(lab, len(order)), lab))
            forms[key] = (label, tally[label] / total)
        self.forms_ = forms
        self.trie_ = _build_trie(forms)
        if self.min_precision > 0:
            self._drop_imprecise(texts, spans)
        return self

    def predict(self, texts: Sequence[str]) -> list[list[dict]]:
        """Spans ``{"start", "end", "label", "score"}`` per text, in text order."""
        if not hasattr(self, "trie_"):
            raise DataError.single("<Gazetteer>", None, "",
                                   "the gazetteer is not fitted yet; call fit(texts, spans) first")
        out = []
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise DataError.single(f"<texts[{i}]>", None, "data.text",
                                       f"expected a string, got {type(text).__name__}")
            out.append([{"start": s, "end": e, "label": self.forms_[k][0], "score": round(self.forms_[k][1], 6)}
                        for s, e, k in self._matches(text)])
        return out

    def cross_validate(
        self, texts: Sequence[str], spans: Sequence[Sequence[dict]], *, folds: int = 5, seed: int = 0
    ) -> dict[str, Any]:
        """Exact span F1 (micro over the fold's spans) of fresh gazetteers over seeded folds.

        Folds are stratified by whether a text has any span. Gold spans are stripped of
        surrounding whitespace first, as fitting does.

        Returns:
            ``{"metric": "span_f1", "mean", "std", "folds", "n", "n_folds"}``.
        """
        texts, spans = _check_pairs(texts, spans)

        def fit_score(train: np.ndarray, test: np.ndarray) -> float:
            model = Gazetteer(**self.get_params()).fit([texts[i] for i in train], [spans[i] for i in train])
            predicted = model.predict([texts[i] for i in test])
            gold = [[{"start": s, "end": e, "label": lab} for s, e, lab in _stripped(texts[i], spans[i])] for i in test]
            return span_f1(gold, predicted)["f1"]

        return cross_validate_with(fit_score, [bool(s) for s in spans], folds=folds, seed=seed, metric="span_f1")

    # -- internals -----------------------------------------------------------------------

    def _fold(self, text: str) -> str:
        return text if self.case_sensitive else "".join(c.casefold() for c in text)

    def _matches(self, text: str) -> list[tuple[int, int, str]]:
        found = []
        n, pos = len(text), 0
        while pos < n:
            if text[pos].isspace() or not _boundary(text, pos):
                pos += 1
                continue
            node, best = self.trie_, None
            for end in range(pos, n):
                char = text[end] if self.case_sensitive else text[end].casefold()
                for c in char:
                    node = node.get(c)
                    if node is None:
                        break
                if node is None:
                    break
                if _END in node and _boundary(text, end + 1):
                    best = (end + 1, node[_END])
            if best is None:
                pos += 1
            else:
                found.append((pos, best[0], best[1]))
                pos = best[0]
        return found

    def _drop_imprecise(self, texts: list[str], spans: list[list[dict]]) -> None:
        hits: Counter = Counter()
        seen: Counter = Counter()
        for text, item_spans in zip(texts, spans, strict=True):
            gold = {(s, e) for s, e, _ in _stripped(text, item_spans)}
            for s, e, key in self._matches(text):
                seen[key] += 1
                hits[key] += (s, e) in gold
        self.forms_ = {k: v for k, v in self.forms_.items() if seen[k] and hits[k] / seen[k] >= self.min_precision}
        self.trie_ = _build_trie(self.forms_)


def span_f1(gold: Sequence[Sequence[dict]], predicted: Sequence[Sequence[dict]]) -> dict[str, float]:
    """Micro precision, recall and F1 of exact (start, end, label) matches over all items.

    Nothing to find and nothing found counts as perfect (1.0).

    Example:
        >>> span_f1([[{"start": 0, "end": 3, "label": "PER"}]],
        ...         [[{"start": 0, "end": 3, "label": "PER"}, {"start": 4, "end": 6, "label": "ORG"}]])
        {'precision': 0.5, 'recall': 1.0, 'f1': 0.6666666666666666}
    """
    if len(gold) != len(predicted):
        raise DataError.single("<span_f1>", None, "predicted",
                               f"expected one span list per item, got {len(gold)} gold and {len(predicted)} predicted")
    tp = n_gold = n_pred = 0
    for g, p in zip(gold, predicted, strict=True):
        g_set = {(s["start"], s["end"], s["label"]) for s in g}
        p_set = {(s["start"], s["end"], s["label"]) for s in p}
        tp += len(g_set & p_set)
        n_gold += len(g_set)
        n_pred += len(p_set)
    precision = tp / n_pred if n_pred else 1.0 if not n_gold else 0.0
    recall = tp / n_gold if n_gold else 1.0 if not n_pred else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def _is_word(c: str) -> bool:
    return c.isalnum() or c == "_"


def _boundary(text: str, i: int) -> bool:
    """May a token start or end between text[i-1] and text[i]?"""
    return i == 0 or i == len(text) or not (_is_word(text[i - 1]) and _is_word(text[i]))


def _build_trie(forms: dict[str, tuple[str, float]]) -> dict:
    root: dict = {}
    for key in forms:
        node = root
        for c in key:
            node = node.setdefault(c, {})
        node[_END] = key
    return root


def _stripped(text: str, spans: Sequence[dict]) -> list[tuple[int, int, str]]:
    """(start, end, label) with surrounding whitespace cut off; spans of whitespace only are dropped."""
    out = []
    for span in spans:
        start, end = span["start"], span["end"]
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if start < end:
            out.append((start, end, span["label"]))
    return out


def _check_pairs(texts: Sequence[str], spans: Sequence[Sequence[dict]]) -> tuple[list[str], list[list[dict]]]:
    texts, spans = list(texts), [list(s) for s in spans]
    if len(texts) != len(spans):
        raise DataError.single("<Gazetteer>", None, "spans",
                               f"expected one span list per text, got {len(texts)} texts and {len(spans)} span lists")
    for i, (text, item_spans) in enumerate(zip(texts, spans, strict=True)):
        if not isinstance(text, str):
            raise DataError.single(f"<texts[{i}]>", None, "data.text", f"expected a string, got {type(text).__name__}")
        for j, span in enumerate(item_spans):
            ok = (isinstance(span, dict) and isinstance(span.get("label"), str)
                  and all(isinstance(span.get(k), int) and not isinstance(span.get(k), bool) for k in ("start", "end"))
                  and 0 <= span["start"] < span["end"] <= len(text))
            if not ok:
                raise DataError.single(f"<spans[{i}]>", None, f"$.spans[{j}]",
                                       f"expected {{start, end, label}} with 0 <= start < end <= {len(text)} "
                                       f"(code points of the text), got {span!r}")
    return texts, spans
