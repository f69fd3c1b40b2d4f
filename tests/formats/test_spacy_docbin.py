"""spaCy DocBin writer: golden content, DocBin loads, alignment policies, cats."""

from __future__ import annotations

import pytest
from fmt_golden import check_json, load_case

from data_labeling_pipeline.errors import DataError
from data_labeling_pipeline.formats import LossReport, to_spacy, write_spacy
from data_labeling_pipeline.formats.verify import verify_spacy


def _docs(path):
    import spacy
    from spacy.tokens import DocBin

    return list(DocBin().from_disk(path).get_docs(spacy.blank("xx").vocab))


def _dump(docs):
    return [{"item_id": d.user_data["item_id"], "text": d.text, "tokens": [t.text for t in d],
             "ents": [[e.start_char, e.end_char, e.label_] for e in d.ents],
             "spans": [[s.start_char, s.end_char, s.label_] for s in d.spans.get("sc", [])],
             "cats": d.cats} for d in docs]


@pytest.mark.parametrize("name", ["ner", "textcls"])
def test_spacy_docbin_golden(tmp_path, name):
    report = write_spacy(load_case(name), tmp_path)
    check_json({s: _dump(_docs(tmp_path / f"{s}.spacy")) for s in ("train", "val")}, "spacy", name, "docs.json")
    check_json(report.as_dict(), "spacy", name, "report.json")


def test_spacy_docbin_loads_with_expected_entity_counts(tmp_path):
    write_spacy(load_case("ner"), tmp_path)
    # train: PER + LOC in n1, ORG (LOC nested inside dropped from ents) + PER in n2; val: the
    # partial-word span does not align strictly.
    assert verify_spacy(tmp_path / "train.spacy", expected_entities=4, expected_docs=2) == []
    assert verify_spacy(tmp_path / "val.spacy", expected_entities=0, expected_docs=2) == []


def test_spacy_docbin_span_after_emoji_keeps_code_point_offsets(tmp_path):
    write_spacy(load_case("ner"), tmp_path)
    doc = _docs(tmp_path / "train.spacy")[0]
    assert [(e.text, e.label_) for e in doc.ents] == [("Angela Merkel", "PER"), ("Oslo", "LOC")]


def test_spacy_docbin_overlapping_spans_stay_in_span_group():
    report = LossReport()
    bins = to_spacy(load_case("ner"), report=report)
    import spacy

    doc = list(bins["train"].get_docs(spacy.blank("xx").vocab))[1]
    assert [e.label_ for e in doc.ents] == ["ORG", "PER"]
    assert sorted(s.label_ for s in doc.spans["sc"]) == ["LOC", "ORG", "PER"]
    assert report.lost() == {"spans_not_aligned": 1, "spans_overlapping": 1}


@pytest.mark.parametrize(("mode", "ents"), [("strict", []), ("contract", []), ("expand", ["Osloians"])])
def test_spacy_docbin_alignment_policy(mode, ents):
    import spacy

    bins = to_spacy(load_case("ner", span_alignment=mode))
    doc = [d for d in bins["val"].get_docs(spacy.blank("xx").vocab) if d.user_data["item_id"] == "n4"][0]
    assert [e.text for e in doc.ents] == ents


def test_spacy_docbin_cats_hold_every_class():
    import spacy

    doc = list(to_spacy(load_case("textcls"))["train"].get_docs(spacy.blank("xx").vocab))[0]
    assert doc.cats == {"toxic": 1.0, "spam": 1.0, "-neutral": 0.0}


def test_spacy_docbin_bytes_are_deterministic(tmp_path):
    write_spacy(load_case("ner"), tmp_path / "a")
    write_spacy(load_case("ner"), tmp_path / "b")
    assert (tmp_path / "a/train.spacy").read_bytes() == (tmp_path / "b/train.spacy").read_bytes()


def test_spacy_docbin_refuses_image_tasks():
    with pytest.raises(DataError, match="spaCy export supports"):
        to_spacy(load_case("bbox"))
