"""Multi-label agreement and consensus: hand-computed cases, the single-label primitives and scikit-learn as oracles."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from data_labeling_pipeline.errors import DataError
from data_labeling_pipeline.quality import cohens_kappa, krippendorff_alpha, percent_agreement
from data_labeling_pipeline.quality.agree import AgreeOptions, agree
from data_labeling_pipeline.quality.multilabel import (
    METRICS,
    annotator_figures,
    encode_multilabel,
    majority_sets,
    multilabel_agreement,
)
from data_labeling_pipeline.quality.result import EMPTY, NO_PAIRABLE, NO_VARIATION, SINGLE_ANNOTATOR

CLASSES = ["x", "y", "z"]
# 3 items x 2 annotators x 3 classes.
ITEMS = ["i1", "i1", "i2", "i2", "i3", "i3"]
WHO = ["a", "b"] * 3
SETS = [["x", "y"], ["x"], ["y"], ["y"], [], ["z"]]


def columns(rows):
    return [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]


def options(**kw):
    base = {"task_type": "text_classification", "classes": CLASSES, "n_resamples": 0, "spot_check_rate": 0.0,
            "review_budget": None}
    return AgreeOptions(**{**base, **kw})


def records(rows):
    return [{"item_id": i, "annotator": a, "labels": s} for i, a, s in rows]


def test_multilabel_hand_computed_per_class_and_macro_figures():
    s = multilabel_agreement(ITEMS, WHO, SETS, classes=CLASSES)
    alpha = s["krippendorff_alpha"].details["per_class"]
    kappa = s["cohens_kappa"].details["per_class"]
    agreement = s["percent_agreement"].details["per_class"]
    # x: both annotators chose it on i1 only: perfect.
    assert alpha["x"].value == pytest.approx(1.0) and kappa["x"].value == pytest.approx(1.0)
    # y: a = (1, 1, 0), b = (0, 1, 0): po 2/3, pe 4/9 -> kappa 0.4; D_o 1/3, D_e 0.6 -> alpha 4/9.
    assert kappa["y"].value == pytest.approx(0.4) and alpha["y"].value == pytest.approx(4 / 9)
    # z: a never, b on i3: po = pe = 2/3 -> kappa 0; D_o = D_e = 1/3 -> alpha 0.
    assert kappa["z"].value == pytest.approx(0.0) and alpha["z"].value == pytest.approx(0.0)
    assert [agreement[c].value for c in CLASSES] == pytest.approx([1.0, 2 / 3, 2 / 3])
    assert s["krippendorff_alpha"].value == pytest.approx((1 + 4 / 9 + 0) / 3)
    assert s["cohens_kappa"].value == pytest.approx((1 + 0.4 + 0) / 3)
    assert s["percent_agreement"].value == pytest.approx(7 / 9)
    # Jaccard: i1 {x, y} vs {x} 1/2, i2 1, i3 {} vs {z} 0; exact match on i2 only.
    assert s["jaccard_agreement"].value == pytest.approx(0.5)
    assert s["exact_match_agreement"].value == pytest.approx(1 / 3)
    assert s["n_items"] == 3 and s["n_annotations"] == 6 and s["n_annotators"] == 2


def test_multilabel_per_class_figures_equal_the_single_label_primitives_on_binary_columns():
    s = multilabel_agreement(ITEMS, WHO, SETS, classes=CLASSES)
    for c in CLASSES:
        a = ["yes" if c in SETS[k] else "no" for k in range(0, 6, 2)]
        b = ["yes" if c in SETS[k] else "no" for k in range(1, 6, 2)]
        counts = [[(u == "no") + (v == "no"), (u == "yes") + (v == "yes")] for u, v in zip(a, b, strict=True)]
        assert s["cohens_kappa"].details["per_class"][c].value == pytest.approx(cohens_kappa(a, b).value)
        assert s["krippendorff_alpha"].details["per_class"][c].value == pytest.approx(
            krippendorff_alpha([[u, v] for u, v in zip(a, b, strict=True)]).value)
        assert s["percent_agreement"].details["per_class"][c].value == pytest.approx(percent_agreement(counts).value)


label_sets = st.lists(st.sets(st.sampled_from(CLASSES)).map(sorted), min_size=8, max_size=8)


@settings(max_examples=40, deadline=None)
@given(label_sets, label_sets)
def test_multilabel_kappa_and_jaccard_equal_scikit_learn(sets_a, sets_b):
    from sklearn.metrics import cohen_kappa_score, jaccard_score
    from sklearn.preprocessing import MultiLabelBinarizer

    n = len(sets_a)
    items = [f"i{k}" for k in range(n) for _ in (0, 1)]
    who = ["a", "b"] * n
    sets = [s for pair in zip(sets_a, sets_b, strict=True) for s in pair]
    s = multilabel_agreement(items, who, sets, classes=CLASSES)
    binarize = MultiLabelBinarizer(classes=CLASSES)
    ya, yb = binarize.fit_transform(sets_a), binarize.transform(sets_b)
    expected = []
    for k, c in enumerate(CLASSES):
        got = s["cohens_kappa"].details["per_class"][c]
        if len(set(ya[:, k]) | set(yb[:, k])) > 1 and got.defined:
            assert got.value == pytest.approx(cohen_kappa_score(ya[:, k], yb[:, k]), abs=1e-9)
            expected.append(got.value)
    if expected:
        assert s["cohens_kappa"].value == pytest.approx(np.mean(expected))
    assert s["jaccard_agreement"].value == pytest.approx(
        jaccard_score(ya, yb, average="samples", zero_division=1.0), abs=1e-9)


def test_multilabel_perfect_agreement_is_one():
    rows = [(i, a, s) for i, s in [("i1", ["x"]), ("i2", ["y", "z"]), ("i3", []), ("i4", ["x", "z"])]
            for a in ("a", "b", "c")]
    s = multilabel_agreement(*columns(rows), classes=CLASSES)
    for name in (*METRICS, "jaccard_agreement", "exact_match_agreement"):
        assert s[name].value == pytest.approx(1.0), name


def test_multilabel_undefined_figures_are_none_with_the_reason():
    single = multilabel_agreement(["i1", "i2"], ["a", "a"], [["x"], ["y"]], classes=CLASSES)
    assert single["krippendorff_alpha"].value is None and single["krippendorff_alpha"].reason == NO_PAIRABLE
    assert single["cohens_kappa"].reason == SINGLE_ANNOTATOR
    assert single["jaccard_agreement"].reason == NO_PAIRABLE
    empty = multilabel_agreement([], [], [], classes=CLASSES)
    assert empty["krippendorff_alpha"].reason == EMPTY and empty["jaccard_agreement"].reason == EMPTY
    # z never chosen: undefined for that class (no variation) and left out of the macro mean.
    s = multilabel_agreement(["i1", "i1", "i2", "i2"], ["a", "b"] * 2, [["x"], ["x"], ["y"], ["y"]], classes=CLASSES)
    per_class = s["cohens_kappa"].details["per_class"]
    assert per_class["z"].value is None and per_class["z"].reason == NO_VARIATION
    assert s["krippendorff_alpha"].details["per_class"]["z"].reason == NO_VARIATION
    assert s["cohens_kappa"].value == pytest.approx(1.0) and s["cohens_kappa"].details["n_classes_defined"] == 2


def test_multilabel_agree_writes_undefined_reasons_to_the_report():
    result = agree(records([("i1", "a", ["x"]), ("i2", "a", ["y"])]), item_ids=["i1", "i2"], options=options())
    assert result.metrics["krippendorff_alpha"] is None and result.metrics["cohens_kappa"] is None
    assert result.report["undefined"]["krippendorff_alpha"] == NO_PAIRABLE
    assert result.report["undefined_per_class"]["krippendorff_alpha"]["z"] == NO_PAIRABLE
    assert result.metrics["passes"] == 0


def test_multilabel_consensus_is_the_strict_majority_per_class_and_ties_stay_out():
    rows = [("i1", "a", ["x", "y"]), ("i1", "b", ["x"]), ("i1", "c", ["x", "y"]),
            ("i2", "a", ["x"]), ("i2", "b", ["y"]), ("i2", "c", ["x", "y"]), ("i2", "d", []),
            ("i3", "a", [])]
    c = majority_sets(encode_multilabel(*columns(rows), classes=CLASSES))
    assert c.as_mapping() == {"i1": ["x", "y"], "i2": [], "i3": []}
    assert c.tied.tolist() == [[False, False, False], [True, True, False], [False, False, False]]
    assert c.confidence.tolist() == pytest.approx([2 / 3, 1 / 4, 1.0])
    assert c.records()[1]["tied_classes"] == ["x", "y"] and c.records()[1]["votes"] == {"x": 2, "y": 2}


def test_multilabel_agree_flags_ties_for_review_with_the_tied_classes():
    rows = [("i1", "a", ["x"]), ("i1", "b", ["x"]), ("i2", "a", ["x", "y"]), ("i2", "b", ["x"])]
    result = agree(records(rows), item_ids=["i1", "i2"], options=options(max_annotators=2))
    consensus = {r["item_id"]: r for r in result.consensus}
    assert consensus["i2"]["labels"] == ["x"] and consensus["i2"]["tied_classes"] == ["y"]
    assert "tie" in consensus["i2"]["reasons"] and consensus["i2"]["status"] == "flagged"
    assert consensus["i1"]["status"] == "accepted" and consensus["i1"]["tie"] is False
    review = {r["item_id"]: r for r in result.review}
    assert review["i2"]["action"] == "review" and "tie" in review["i2"]["reasons"]
    assert review["i2"]["tied_classes"] == ["y"] and review["i2"]["labels"] == ["x"]


def test_multilabel_review_decisions_win_in_schema_order():
    rows = [("i1", "a", ["x"]), ("i1", "b", ["y"]), ("i2", "a", ["x"]), ("i2", "b", ["x"])]
    decided = {"i1": {"item_id": "i1", "annotator": "lead", "labels": ["z", "x"]}}
    result = agree(records(rows), item_ids=["i1", "i2", "i3"], decisions=decided, options=options())
    consensus = {r["item_id"]: r for r in result.consensus}
    assert consensus["i1"]["labels"] == ["x", "z"] and consensus["i1"]["status"] == "reviewed"
    assert consensus["i1"]["confidence"] == 1.0 and consensus["i1"]["expected_error"] == 0.0
    assert "i1" not in {r["item_id"] for r in result.review}
    assert result.annotators["a"]["n_truth_items"] == 1 and result.annotators["a"]["jaccard_vs_truth"] == 0.5


def test_multilabel_annotator_figures_against_a_reference():
    mt = encode_multilabel(ITEMS, WHO, SETS, classes=CLASSES)
    reference = np.array([[True, True, False], [False, True, False], [False, False, False]])
    figures = annotator_figures(mt, reference)
    assert figures["a"]["jaccard"] == 1.0 and figures["a"]["f1"] == 1.0 and figures["a"]["kappa"] == 1.0
    # b: {x} vs {x, y} (1/2), {y} vs {y} (1), {z} vs {} (0); tp 2, fp 1, fn 1 -> micro F1 2/3.
    assert figures["b"]["jaccard"] == pytest.approx(0.5) and figures["b"]["f1"] == pytest.approx(2 / 3)
    assert figures["b"]["per_class"]["z"] == {"f1": 0.0, "kappa": 0.0}  # po = pe = 2/3
    assert figures["a"]["per_class"]["z"] == {"f1": None, "kappa": None}  # neither ever has z: undefined
    assert figures["b"]["per_class"]["y"]["kappa"] == pytest.approx(
        cohens_kappa(["no", "yes", "no"], ["yes", "yes", "no"]).value)


def test_multilabel_agree_metrics_use_the_single_label_names_and_are_deterministic():
    rows = [(f"i{k}", a, s) for k, sets in enumerate([(["x"], ["x"]), (["x", "y"], ["y"]), ([], []),
                                                      (["z"], ["y", "z"]), (["y"], ["y"])])
            for a, s in zip(("a", "b"), sets, strict=True)]
    first = agree(records(rows), item_ids=[f"i{k}" for k in range(6)], options=options())
    again = agree(list(reversed(records(rows))), item_ids=[f"i{k}" for k in range(6)], options=options())
    assert first == again
    m = first.metrics
    for name in (*METRICS, "jaccard_agreement", "exact_match_agreement"):
        assert isinstance(m[name], float), name
    assert set(m["per_class"]) == set(METRICS) and list(m["per_class"]) == sorted(m["per_class"])
    assert first.plots["confusion/a.json"][0] == {"class": "x", "consensus": "x", "item_id": "i0", "label": "x"}
    assert set(first.annotators["a"]) >= {"kappa_vs_consensus", "jaccard_vs_consensus", "f1_vs_consensus"}


def test_multilabel_records_without_labels_or_with_unknown_classes_are_data_errors():
    mixed = records([("i1", "a", ["x"])]) + [{"item_id": "i1", "annotator": "b", "label": "x"}]
    with pytest.raises(DataError, match=r"\$.labels: a multi-label project needs 'labels'.*\('i1', 'b'\)"):
        agree(mixed, item_ids=["i1"], options=options())
    with pytest.raises(DataError, match=r"'w' is not one of \['x', 'y', 'z'\]"):
        encode_multilabel(["i1"], ["a"], [["w"]], classes=CLASSES)


def test_multilabel_low_kappa_annotator_is_flagged_and_marks_the_items_their_vote_decides():
    rows = []
    for k in range(24):
        truth = [CLASSES[k % 3]]
        wrong = [CLASSES[(k + 1) % 3]]
        rows += [(f"i{k:02d}", "a", truth), (f"i{k:02d}", "c", wrong)]
        if k < 20:  # a third annotator settles these: c's vote decides nothing there
            rows.append((f"i{k:02d}", "b", truth))
    result = agree(records(rows), item_ids=[f"i{k:02d}" for k in range(24)], options=options())
    assert result.annotators["c"]["flags"] == {"low_kappa": 1} and result.annotators["a"]["flags"] == {}
    assert result.annotators["c"]["n_dependent_items"] == 4
    consensus = {r["item_id"]: r for r in result.consensus}
    assert [i for i, r in consensus.items() if "outlier_annotator" in r["reasons"]] == ["i20", "i21", "i22", "i23"]
