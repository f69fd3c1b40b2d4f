"""The confusion plot rows agree makes for each annotator (plots/confusion/<annotator>.json)."""

from __future__ import annotations

from data_labeling_pipeline.quality.agree import AgreeOptions, agree


def _options():
    return AgreeOptions(task_type="text_classification", classes=["x", "y"], n_resamples=0, spot_check_rate=0.0,
                        review_budget=None, consensus_method="majority_vote")


def test_confusion_rows_by_annotator_then_item_and_shared_safe_file_names_concatenate():
    votes = {"i2": {"a b": "x", "a_b": "x", "c": "y"}, "i1": {"a b": "y", "a_b": "y", "c": "y"},
             "i3": {"c": "x", "a_b": "x"}}
    annotations = [{"item_id": i, "annotator": a, "label": lab} for i, per in votes.items() for a, lab in per.items()]
    result = agree(annotations, item_ids=sorted(votes), options=_options())
    plots = result.plots
    assert sorted(plots) == ["agreement_trend.json", "confusion/a_b.json", "confusion/c.json"]
    consensus = {r["item_id"]: r["label"] for r in result.consensus}
    # "a b" and "a_b" have one safe file name: "a b"'s rows, then "a_b"'s, each by item id.
    expected = [{"item_id": i, "consensus": consensus[i], "label": votes[i][a]}
                for a in ("a b", "a_b") for i in sorted(votes) if a in votes[i]]
    assert list(plots["confusion/a_b.json"]) == expected
    assert plots["confusion/a_b.json"] == expected and len(plots["confusion/a_b.json"]) == 5
    assert plots["confusion/a_b.json"][0] == expected[0] and plots["confusion/a_b.json"][-2:] == expected[-2:]
    assert [r["item_id"] for r in plots["confusion/c.json"]] == ["i1", "i2", "i3"]
    again = agree(list(reversed(annotations)), item_ids=sorted(votes), options=_options())
    assert again.plots == plots
