"""The NER gazetteer (longest match, case-folded, token-boundary aware) and the spaCy wrapper."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from data_labeling_pipeline.errors import DataError
from data_labeling_pipeline.models import Gazetteer, spacy_ner, span_f1


def _span(text: str, surface: str, label: str, nth: int = 0) -> dict:
    start = -1
    for _ in range(nth + 1):
        start = text.index(surface, start + 1)
    return {"start": start, "end": start + len(surface), "label": label}


def test_models_gazetteer_longest_match_wins():
    text = "New York and New York City"
    g = Gazetteer().fit([text], [[_span(text, "New York", "CITY"), _span(text, "New York City", "CITY", 0)]])
    query = "I saw New York City, not New York."
    found = [query[s["start"]:s["end"]] for s in g.predict([query])[0]]
    assert found == ["New York City", "New York"]


def test_models_gazetteer_never_matches_inside_a_word():
    g = Gazetteer().fit(["Paris"], [[{"start": 0, "end": 5, "label": "LOC"}]])
    found = g.predict(["Parisian Paris, (Paris) Paris2 _Paris xParis"])[0]
    assert [(s["start"], s["end"]) for s in found] == [(9, 14), (17, 22)]


def test_models_gazetteer_forms_with_punctuation_edges():
    text = "I code C++ daily"
    g = Gazetteer().fit([text], [[_span(text, "C++", "LANG")]])
    assert g.predict(["c++, and xC++"])[0] == [{"start": 0, "end": 3, "label": "LANG", "score": 1.0}]


def test_models_gazetteer_case_folding_keeps_code_point_offsets():
    text = "Die Straße ist lang"
    g = Gazetteer().fit([text], [[_span(text, "Straße", "STREET")]])
    query = "In der STRASSE und 🙂 straße"
    spans = g.predict([query])[0]
    assert [query[s["start"]:s["end"]] for s in spans] == ["STRASSE", "straße"]
    exact = Gazetteer(case_sensitive=True).fit([text], [[_span(text, "Straße", "STREET")]])
    assert exact.predict([query, "🙂 Straße"]) == [[], [{"start": 2, "end": 8, "label": "STREET", "score": 1.0}]]


def test_models_gazetteer_majority_label_share_and_tie_breaking():
    texts = ["Jordan won", "Jordan won", "Jordan won", "Jordan is a country", "Amazon grew", "Amazon flows"]
    spans = [[{"start": 0, "end": 6, "label": "PER"}]] * 3 + [[{"start": 0, "end": 6, "label": "LOC"}]] + [
        [{"start": 0, "end": 6, "label": "ORG"}], [{"start": 0, "end": 6, "label": "LOC"}]]
    g = Gazetteer().fit(texts, spans)
    assert g.predict(["jordan"])[0] == [{"start": 0, "end": 6, "label": "PER", "score": 0.75}]
    assert g.predict(["Amazon"])[0][0]["label"] == "LOC"  # tie: alphabetical without classes
    ordered = Gazetteer(classes=["PER", "ORG", "LOC"]).fit(texts, spans)
    assert ordered.predict(["Amazon"])[0][0] == {"start": 0, "end": 6, "label": "ORG", "score": 0.5}


def test_models_gazetteer_min_precision_drops_common_words():
    texts = ["May I come", "may we go", "May Smith came", "it may rain"]
    spans = [[], [], [{"start": 0, "end": 3, "label": "PER"}], []]  # a name once, a verb three times
    assert Gazetteer().fit(texts, spans).predict(["May"])[0]
    assert Gazetteer(min_precision=0.5).fit(texts, spans).predict(["May"]) == [[]]


def test_models_gazetteer_strips_whitespace_around_annotated_spans():
    g = Gazetteer().fit(["Hi  Bob  !"], [[{"start": 3, "end": 8, "label": "PER"}, {"start": 0, "end": 1, "label": "X"}]])
    assert g.predict(["bob"])[0] == [{"start": 0, "end": 3, "label": "PER", "score": 1.0}]


def test_models_gazetteer_span_f1_and_cross_validate():
    assert span_f1([[]], [[]])["f1"] == 1.0
    assert span_f1([[{"start": 0, "end": 1, "label": "A"}]], [[]]) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    names = ["Alice", "Bob", "Carol", "Dave"]
    texts = [f"{n} met {m}" for n in names for m in names if n != m] * 2
    spans = [[_span(t, t.split()[0], "PER"), _span(t, t.split()[2], "PER")] for t in texts]
    result = Gazetteer().cross_validate(texts, spans, folds=3, seed=0)
    assert result["metric"] == "span_f1" and result["n_folds"] == 3 and result["mean"] == 1.0
    assert result == Gazetteer().cross_validate(texts, spans, folds=3, seed=0)


@pytest.mark.parametrize("bad", [{"start": 3, "end": 2, "label": "A"}, {"start": 0, "end": 99, "label": "A"},
                                 {"start": 0, "end": 1}, {"start": True, "end": 1, "label": "A"}])
def test_models_gazetteer_bad_span_is_a_data_error(bad):
    with pytest.raises(DataError, match=r"\$\.spans\[0\]"):
        Gazetteer().fit(["abc"], [[bad]])


WORDS = st.sampled_from(["Ada", "ada", "Lovelace", "ß", "SS", "x", "C++", "++", "-", " ", ",", "é", "İ", "_"])


@settings(max_examples=150, deadline=None)
@given(st.lists(WORDS, min_size=1, max_size=12).map("".join), st.lists(WORDS, max_size=20).map("".join))
def test_models_gazetteer_matches_are_known_forms_at_boundaries(train_text, query):
    spans = [{"start": 0, "end": len(train_text), "label": "E"}] if train_text.strip() else []
    g = Gazetteer().fit([train_text], [spans])
    found = g.predict([query])[0]
    last_end = 0
    for s in found:
        assert last_end <= s["start"] < s["end"] <= len(query)
        surface = query[s["start"]:s["end"]]
        assert "".join(c.casefold() for c in surface) in g.forms_
        for i in (s["start"], s["end"]):  # no word character on both sides of an edge
            assert not (0 < i < len(query) and query[i - 1].isalnum() | (query[i - 1] == "_")
                        and (query[i].isalnum() or query[i] == "_"))
        last_end = s["end"]


def test_models_spacy_ner_loads_a_saved_pipeline(tmp_path):
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("entity_ruler").add_patterns([{"label": "CITY", "pattern": "São Paulo"}])
    nlp.to_disk(tmp_path / "pipe")
    model = spacy_ner(tmp_path / "pipe")
    text = "🙂 São Paulo é grande"
    assert model.predict([text]) == [[{"start": 2, "end": 11, "label": "CITY", "score": None}]]
    assert model.labels == ("CITY",)
    model.check_labels(["CITY", "PER"])
    with pytest.raises(DataError, match=r"predicts \['CITY'\], not among the schema classes"):
        model.check_labels(["PER"])


def test_models_spacy_ner_missing_or_wrong_folder(tmp_path):
    with pytest.raises(DataError, match="nope.*not found"):
        spacy_ner(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="empty.*cannot load a spaCy pipeline"):
        spacy_ner(tmp_path / "empty")
