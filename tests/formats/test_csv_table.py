"""CSV writer: golden files, RFC 4180 round trip, formula injection neutralised."""

from __future__ import annotations

import csv
import io

import pytest
from fmt_golden import check_json, check_tree, load_case

from data_labeling_pipeline.formats import to_csv, write_csv
from data_labeling_pipeline.formats.csv_table import neutralise


@pytest.mark.parametrize("name", ["bbox", "imgcls", "textcls", "ner"])
def test_csv_table_golden(tmp_path, name):
    report = write_csv(load_case(name), tmp_path / "out")
    check_tree(tmp_path / "out", "csv", name)
    check_json(report.as_dict(), "csv", name, "report.json")


def test_csv_table_parses_back_with_the_same_text():
    text = to_csv(load_case("textcls"))["val"]
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[1][1] == 'plain, with "quotes" and a\nline break'
    assert text.endswith("\r\n")


@pytest.mark.parametrize("cell", ["=SUM(A1)", "+1", "-2+3", "@cmd", "\tx", "\rx"])
def test_csv_table_neutralises_formula_starts(cell):
    assert neutralise(cell) == "'" + cell


def test_csv_table_no_cell_starts_a_formula():
    for name in ("textcls", "imgcls"):
        for text in to_csv(load_case(name)).values():
            for row in csv.reader(io.StringIO(text, newline="")):
                assert not any(c.startswith(("=", "+", "-", "@", "\t", "\r")) for c in row)


def test_csv_table_keeps_negatives_as_a_row():
    rows = list(csv.reader(io.StringIO(to_csv(load_case("ner"))["val"], newline="")))
    assert ["n3", "", "", "", ""] in rows
    dropped = to_csv(load_case("ner", empty_images="drop"))["val"]
    assert "n3" not in dropped
