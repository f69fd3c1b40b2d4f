"""The default weak classifier of the pre-label stage: features + logistic regression (scikit-learn, CPU).

- ``kind="image"``: ``X`` is a float matrix, one row per item: the
  :func:`~data_labeling_pipeline.models.features.image_features` rows, or the outputs of a
  user's torch feature extractor. Columns are standardised, then logistic regression.
- ``kind="text"``: ``X`` is a sequence of strings. Sublinear TF-IDF of word 1-2-grams (words,
  one-letter words and punctuation marks are tokens) and of character 2-5-grams inside word
  boundaries, then logistic regression.

Probabilities always have one column per schema class, in schema order. A class absent from
the training labels gets probability 0 (single-label) or the constant its column had
(multi-label: 0 when never present, 1 when always present); single-label rows sum to 1.

Measured (``benchmarks/bench_prelabel.py``): digits 0.94 / 0.96 / 0.98 accuracy after 100 /
200 / 500 labels; the tweets 0.77 / 0.79 / 0.82.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from data_labeling_pipeline.errors import DataError
from data_labeling_pipeline.models.folds import cross_validate_with
from data_labeling_pipeline.models.threads import one_blas_thread

KINDS = ("image", "text")
DEFAULT_C = {"image": 1.0, "text": 10.0}
# Words (one-letter ones too) and single punctuation marks: "!!" and "@" are signals in short texts.
TOKEN_PATTERN = r"(?u)\b\w+\b|[^\w\s]"




class WeakClassifier:
    """Logistic regression over image features or text TF-IDF, with probabilities over all schema classes.

    Args:
        kind: ``"image"`` (``X`` a float matrix) or ``"text"`` (``X`` strings).
        classes: the schema's class names, in schema order: the columns of :meth:`predict_proba`.
        C: inverse regularisation strength of the logistic regression; ``None`` takes the kind's
            default (1.0 for images, 10.0 for text: measured best on the benchmark data).
        multi_label: ``y`` holds lists of class names; one binary model per class.
        class_weight: passed to ``LogisticRegression`` (``None`` or ``"balanced"``).
        max_iter: iterations of the lbfgs solver.
        seed: seeds everything random (cross-validation folds).

    Example:
        >>> clf = WeakClassifier("text", classes=["neg", "pos", "other"])
        >>> _ = clf.fit(["good", "great", "bad", "awful"], ["pos", "pos", "neg", "neg"])
        >>> p = clf.predict_proba(["great good"])
        >>> p.shape, float(p[0, 2]), clf.predict(["great good"])
        ((1, 3), 0.0, ['pos'])
    """

    def __init__(
        self,
        kind: str = "image",
        *,
        classes: Sequence[str],
        C: float | None = None,
        multi_label: bool = False,
        class_weight: str | None = None,
        max_iter: int = 1000,
        seed: int = 0,
    ):
        self.kind = kind
        self.classes = classes
        self.C = C
        self.multi_label = multi_label
        self.class_weight = class_weight
        self.max_iter = max_iter
        self.seed = seed

    def get_params(self, deep: bool = False) -> dict[str, Any]:
        """The constructor options (scikit-learn's ``clone`` and ``model_version`` read them)."""
        return {"kind": self.kind, "classes": self.classes, "C": self.C, "multi_label": self.multi_label,
                "class_weight": self.class_weight, "max_iter": self.max_iter, "seed": self.seed}

    def set_params(self, **params: Any) -> WeakClassifier:
        for key, value in params.items():
            if key not in self.get_params():
                raise DataError.single("<WeakClassifier>", None, key,
                                       f"unknown option; expected one of {sorted(self.get_params())}")
            setattr(self, key, value)
        return self

    @one_blas_thread
    def fit(self, X: Any, y: Sequence[Any]) -> WeakClassifier:
        """Learn the features and the logistic regression from labelled items; returns self."""
        self._check_options()
        classes = list(self.classes)
        X = self._inputs(X)
        if len(X) != len(y) or len(y) == 0:
            raise DataError.single("<WeakClassifier.fit>", None, "y",
                                   f"expected one label per item and at least one item, got {len(X)} items "
                                   f"and {len(y)} labels")
        target = self._encode(y, classes)
        self.features_ = self._feature_pipeline()
        try:
            Z = self.features_.fit_transform(X)
        except ValueError as exc:  # e.g. TF-IDF: no token at all in the training texts
            raise DataError.single("<WeakClassifier.fit>", None, "X",
                                   f"cannot build features from the training items ({exc}); "
                                   "expected texts with at least one word or character") from None
        if self.multi_label:
            self.estimators_ = [self._fit_column(Z, target[:, k]) for k in range(len(classes))]
        else:
            self.estimators_ = [self._fit_column(Z, target)]
        self.classes_ = np.asarray(classes, dtype=object)
        self.n_train_ = len(target)
        return self

    @one_blas_thread
    def predict_proba(self, X: Any) -> np.ndarray:
        """Probabilities ``(n, len(classes))`` in schema order (float64)."""
        self._check_fitted()
        X = self._inputs(X)
        n, k = len(X), len(self.classes_)
        if n == 0:
            return np.zeros((0, k))
        Z = self.features_.transform(X)
        out = np.zeros((n, k))
        if self.multi_label:
            for column, fitted in enumerate(self.estimators_):
                out[:, column] = _column_proba(fitted, Z)
            return out
        fitted = self.estimators_[0]
        if isinstance(fitted, int):  # one class only in training
            out[:, fitted] = 1.0
        else:
            out[:, fitted.classes_] = fitted.predict_proba(Z)
        return out

    def predict(self, X: Any, *, threshold: float = 0.5) -> list:
        """Class names (argmax, ties to the lower schema index), or lists of them when multi-label."""
        proba = self.predict_proba(X)
        if self.multi_label:
            return [[str(c) for c in self.classes_[row >= threshold]] for row in proba]
        return [str(self.classes_[i]) for i in np.argmax(proba, axis=1)]

    @one_blas_thread
    def cross_validate(self, X: Any, y: Sequence[Any], *, folds: int = 5, seed: int | None = None) -> dict[str, Any]:
        """Accuracy of fresh copies of this model over stratified folds (subset accuracy when multi-label).

        Folds are dealt per label (the label set when multi-label) by
        :func:`~data_labeling_pipeline.models.folds.stratified_folds`, so classes with fewer
        members than folds are fine. ``seed=None`` uses the model's seed. Leaves this model unfitted
        by it (copies are fitted).

        Returns:
            ``{"metric": "accuracy", "mean", "std", "folds", "n", "n_folds"}``.
        """
        self._check_options()
        X = self._inputs(X)
        y = list(y)
        if len(X) != len(y):
            raise DataError.single("<WeakClassifier.cross_validate>", None, "y",
                                   f"expected one label per item, got {len(X)} items and {len(y)} labels")
        strata = [tuple(sorted(v)) if self.multi_label else v for v in y]

        def fit_score(train: np.ndarray, test: np.ndarray) -> float:
            model = WeakClassifier(**self.get_params()).fit(_take(X, train), [y[i] for i in train])
            predicted = model.predict(_take(X, test))
            return float(np.mean([_same(p, y[i], self.multi_label) for p, i in zip(predicted, test, strict=True)]))

        return cross_validate_with(fit_score, strata, folds=folds, seed=self.seed if seed is None else seed)

    # -- internals -----------------------------------------------------------------------

    def _check_options(self) -> None:
        if self.kind not in KINDS:
            raise DataError.single("<WeakClassifier>", None, "kind",
                                   f"expected one of {list(KINDS)}, got {self.kind!r}")
        classes = list(self.classes)
        if not classes or len(set(classes)) != len(classes) or not all(isinstance(c, str) for c in classes):
            raise DataError.single("<WeakClassifier>", None, "classes",
                                   f"expected distinct class names in schema order, got {classes!r}")
        if self.C is not None and not (isinstance(self.C, int | float) and self.C > 0):
            raise DataError.single("<WeakClassifier>", None, "C", f"expected a positive number or None, got {self.C!r}")

    def _check_fitted(self) -> None:
        if not hasattr(self, "estimators_"):
            raise DataError.single("<WeakClassifier>", None, "", "the model is not fitted yet; call fit(X, y) first")

    def _inputs(self, X: Any) -> Any:
        if self.kind == "text":
            texts = list(X)
            for i, text in enumerate(texts):
                if not isinstance(text, str):
                    raise DataError.single(f"<X[{i}]>", None, "data.text",
                                           f"expected a string, got {type(text).__name__}")
            return texts
        matrix = np.asarray(X, dtype=np.float64)
        if matrix.ndim != 2 or not np.isfinite(matrix).all():
            raise DataError.single("<X>", None, "features",
                                   f"expected a finite 2-D feature matrix (one row per item), got shape {matrix.shape}")
        return matrix

    def _encode(self, y: Sequence[Any], classes: list[str]) -> np.ndarray:
        index = {name: i for i, name in enumerate(classes)}
        if not self.multi_label:
            unknown = sorted({repr(v) for v in y if not isinstance(v, str) or v not in index})
            if unknown:
                raise DataError.single("<WeakClassifier.fit>", None, "label",
                                       f"{', '.join(unknown[:5])} not among the schema classes {classes}")
            return np.asarray([index[v] for v in y], dtype=np.int64)
        out = np.zeros((len(y), len(classes)), dtype=np.int64)
        for row, labels in enumerate(y):
            if isinstance(labels, str) or any(not isinstance(v, str) or v not in index for v in labels):
                raise DataError.single("<WeakClassifier.fit>", None, "labels",
                                       f"expected a list of schema classes {classes}, got {labels!r}")
            out[row, [index[v] for v in labels]] = 1
        return out

    def _feature_pipeline(self) -> Any:
        if self.kind == "image":
            from sklearn.preprocessing import StandardScaler

            return StandardScaler()
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.pipeline import FeatureUnion

        return FeatureUnion([
            ("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, token_pattern=TOKEN_PATTERN,
                                      dtype=np.float64)),
            ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, dtype=np.float64)),
        ])

    def _fit_column(self, Z: Any, target: np.ndarray) -> Any:
        """A fitted LogisticRegression, or the int/float constant when the target has one value."""
        from sklearn.linear_model import LogisticRegression

        values = np.unique(target)
        if len(values) == 1:
            return int(values[0]) if not self.multi_label else float(values[0])
        C = DEFAULT_C[self.kind] if self.C is None else float(self.C)
        model = LogisticRegression(C=C, class_weight=self.class_weight, max_iter=self.max_iter, random_state=self.seed)
        return model.fit(Z, target)


def _column_proba(fitted: Any, Z: Any) -> np.ndarray:
    if isinstance(fitted, float):
        return np.full(Z.shape[0], fitted)
    return fitted.predict_proba(Z)[:, 1]


def _take(X: Any, rows: np.ndarray) -> Any:
    return X[rows] if isinstance(X, np.ndarray) else [X[i] for i in rows]


def _same(predicted: Any, truth: Any, multi_label: bool) -> bool:
    return set(predicted) == set(truth) if multi_label else predicted == truth
