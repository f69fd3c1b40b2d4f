"""The weak classifier: image features and text TF-IDF + logistic regression over the schema's classes."""

from __future__ import annotations

import numpy as np
import pytest

from data_labeling_pipeline.errors import DataError
from data_labeling_pipeline.models import WeakClassifier, image_features, stratified_folds

DIGITS = [str(d) for d in range(10)]


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    data = load_digits()
    images = [(im * 255 / 16).round().astype(np.uint8) for im in data.images]
    return image_features(images), np.array([str(t) for t in data.target], dtype=object)


def test_models_classifier_digits_learns_from_features(digits):
    X, y = digits
    clf = WeakClassifier("image", classes=DIGITS).fit(X[:500], list(y[:500]))
    accuracy = np.mean(np.array(clf.predict(X[500:1000])) == y[500:1000])
    assert accuracy >= 0.9


def test_models_classifier_columns_follow_schema_order_and_unseen_classes_are_zero(digits):
    X, y = digits
    mask = np.isin(y, ["1", "7", "3"])
    schema = ["7", "extra", "1", "3"]
    clf = WeakClassifier("image", classes=schema).fit(X[mask][:150], list(y[mask][:150]))
    p = clf.predict_proba(X[mask][150:200])
    assert p.shape == (50, 4)
    assert np.allclose(p.sum(axis=1), 1)
    assert np.all(p[:, 1] == 0)  # "extra" never appeared in training
    predicted = [schema[i] for i in p.argmax(axis=1)]
    assert predicted == clf.predict(X[mask][150:200])
    assert np.mean(np.array(predicted) == y[mask][150:200]) > 0.9


def test_models_classifier_one_class_in_training_is_certain():
    clf = WeakClassifier("text", classes=["a", "b"]).fit(["x", "y z"], ["b", "b"])
    assert clf.predict_proba(["anything"]).tolist() == [[0.0, 1.0]]


def test_models_classifier_text_kind():
    texts = ["I love this", "love it so much", "great, love", "I hate this", "hate it!!", "awful, hate"] * 3
    labels = ["pos", "pos", "pos", "neg", "neg", "neg"] * 3
    clf = WeakClassifier("text", classes=["neg", "pos"]).fit(texts, labels)
    assert clf.predict(["love love", "hate, awful"]) == ["pos", "neg"]


def test_models_classifier_multi_label_columns_are_independent():
    texts = ["red round", "red long", "blue round", "blue long"] * 5
    labels = [["red", "round"], ["red"], ["round"], []] * 5
    clf = WeakClassifier("text", classes=["red", "round", "never"], multi_label=True).fit(texts, labels)
    p = clf.predict_proba(["red round", "blue long"])
    assert p.shape == (2, 3) and np.all(p[:, 2] == 0)
    assert clf.predict(["red round", "blue long"]) == [["red", "round"], []]
    cv = clf.cross_validate(texts, labels, folds=4)
    assert cv["mean"] == 1.0 and cv["n_folds"] == 4


def test_models_classifier_options_stored_unchanged_and_clone_works():
    from sklearn.base import clone

    clf = WeakClassifier("text", classes=("b", "a"), C=None, seed=3)
    assert clf.C is None and clf.classes == ("b", "a") and clf.seed == 3
    copy = clone(clf)
    assert copy.get_params() == clf.get_params()
    assert clf.fit(["x", "y"], ["a", "b"]) is clf
    assert hasattr(clf, "estimators_") and not hasattr(copy, "estimators_")


def test_models_classifier_cross_validate_survives_rare_classes(digits):
    X, y = digits
    labels = list(y[:60])
    labels[0] = "rare"  # a class with one member: fewer than the folds
    result = WeakClassifier("image", classes=[*DIGITS, "rare"]).cross_validate(X[:60], labels, folds=5, seed=1)
    assert result["metric"] == "accuracy" and result["n_folds"] == 5 and len(result["folds"]) == 5
    assert 0.5 < result["mean"] <= 1 and result["std"] == pytest.approx(np.std(result["folds"]))
    assert result == WeakClassifier("image", classes=[*DIGITS, "rare"]).cross_validate(X[:60], labels, seed=1)
    tiny = WeakClassifier("text", classes=["a"]).cross_validate(["x"], ["a"])
    assert tiny["mean"] is None and "at least 2" in tiny["reason"]


def test_models_classifier_folds_are_stratified_and_balanced():
    strata = ["a"] * 50 + ["b"] * 20 + ["c"] * 3
    folds = stratified_folds(strata, folds=5, seed=0)
    counts = np.bincount(folds)
    assert counts.max() - counts.min() <= 1
    for label, per_fold in (("a", 10), ("b", 4)):
        rows = np.array(strata) == label
        assert np.bincount(folds[rows], minlength=5).tolist() == [per_fold] * 5
    assert len(set(folds[np.array(strata) == "c"])) == 3  # three members, three different folds
    assert stratified_folds(strata, folds=5, seed=0).tolist() == folds.tolist()


@pytest.mark.parametrize(("kwargs", "fit_args", "message"), [
    ({"kind": "audio", "classes": ["a"]}, ([[0.0]], ["a"]), "kind"),
    ({"kind": "image", "classes": ["a", "a"]}, ([[0.0]], ["a"]), "distinct class names"),
    ({"kind": "image", "classes": ["a"]}, ([[0.0]], ["cow"]), "'cow' not among the schema classes"),
    ({"kind": "image", "classes": ["a"]}, ([[0.0], [1.0]], ["a"]), "one label per item"),
    ({"kind": "image", "classes": ["a"]}, ([[np.nan]], ["a"]), "finite 2-D feature matrix"),
    ({"kind": "text", "classes": ["a"]}, ([3], ["a"]), "expected a string"),
    ({"kind": "text", "classes": ["a"], "C": -1}, (["x"], ["a"]), "positive number"),
])
def test_models_classifier_bad_input_is_a_data_error(kwargs, fit_args, message):
    with pytest.raises(DataError, match=message):
        WeakClassifier(**kwargs).fit(*fit_args)


def test_models_classifier_predict_before_fit_says_so():
    with pytest.raises(DataError, match="not fitted"):
        WeakClassifier("text", classes=["a"]).predict_proba(["x"])


def test_models_one_blas_thread_sets_the_limit_once_for_nested_calls(monkeypatch):
    import threadpoolctl

    from data_labeling_pipeline.models.threads import one_blas_thread

    entered = []
    real = threadpoolctl.threadpool_limits

    def counting(*args, **kwargs):
        entered.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(threadpoolctl, "threadpool_limits", counting)

    @one_blas_thread
    def inner(x):
        return x + 1

    @one_blas_thread
    def outer():
        return [inner(i) for i in range(5)]

    assert outer() == [1, 2, 3, 4, 5]
    assert entered == [{"limits": 1, "user_api": "blas"}]  # once, around the outer call
    assert inner(1) == 2 and len(entered) == 2  # outside it, each call sets it again
