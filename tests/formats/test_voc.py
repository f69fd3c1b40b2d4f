"""Pascal VOC writer and reader: golden files, rounding policy, escaping, crowd, paths."""

from __future__ import annotations

import re
from xml.etree import ElementTree

import pytest
from fmt_golden import ASSETS, check_json, check_tree, load_case

from data_labeling_pipeline.errors import DataError
from data_labeling_pipeline.formats import LossReport, from_voc, make_dataset, read_voc, to_voc, write_voc
from data_labeling_pipeline.formats.verify import verify_voc

SCHEMA = {"task_type": "bbox", "schema_version": 1, "multi_label": False, "classes": [{"id": 1, "name": "a"}]}


def _one_box(x, y, w, h, width=100, height=100):
    items = [{"item_id": "i", "data": {"image": "images/i.png", "width": width, "height": height}}]
    return make_dataset(items, {"i": {"boxes": [{"x": x, "y": y, "w": w, "h": h, "label": "a"}]}}, SCHEMA)


def _edges(files):
    return [int(v) for v in re.findall(r"<(?:xmin|ymin|xmax|ymax)>(\d+)<", files["Annotations/i.xml"])]


def test_voc_golden(tmp_path):
    report = write_voc(load_case("bbox"), tmp_path / "out")
    check_tree(tmp_path / "out", "voc", "bbox")
    check_json(report.as_dict(), "voc", "bbox", "report.json")
    assert verify_voc(tmp_path / "out") == []


@pytest.mark.parametrize(("box", "edges"), [
    ((0, 0, 3, 4), [1, 1, 3, 4]),             # integer edges: exact
    ((10.4, 10.6, 5, 5), [11, 12, 15, 16]),   # each edge to the nearest pixel boundary
    ((2.5, 3.5, 1, 1), [3, 5, 4, 5]),         # half to even: 2.5 -> 2, 3.5 -> 4
    ((5.2, 5, 0.1, 1), [6, 6, 6, 6]),         # thinner than a pixel: widened to one
    ((99.9, 0, 0.1, 1), [100, 1, 100, 1]),    # widened inside the image at the border
])
def test_voc_rounding_policy(box, edges):
    assert _edges(to_voc(_one_box(*box))) == edges


def test_voc_reports_max_rounding_error():
    report = LossReport()
    to_voc(_one_box(10.4, 10.75, 5, 5), report=report)
    assert report.max_rounding_error == pytest.approx(0.4)


def test_voc_names_are_xml_escaped_and_parse_back(tmp_path):
    ds = load_case("bbox")
    write_voc(ds, tmp_path)
    root = ElementTree.parse(tmp_path / "Annotations" / "street.xml").getroot()
    assert "bike & <trike>" in [o.findtext("name") for o in root.iter("object")]
    back = read_voc(tmp_path, label_schema=ds.label_schema)
    assert {i["item_id"]: i["data"]["image"] for i in back.items}["café 日本"] == "images/café 日本.png"
    assert back.split["café 日本"] == "val"


def test_voc_image_without_boxes_gets_an_annotation_without_objects():
    files = to_voc(load_case("bbox"))
    root = ElementTree.fromstring(files["Annotations/empty.xml"])
    assert root.findtext("size/width") == "320" and list(root.iter("object")) == []
    assert "empty\n" in files["ImageSets/Main/train.txt"]


def test_voc_crowd_as_difficult_reads_back_as_crowd():
    ds = load_case("bbox", crowd="difficult")
    files = to_voc(ds)
    back = from_voc({k[len("Annotations/"):-4]: v for k, v in files.items() if k.endswith(".xml")},
                    label_schema=ds.label_schema)
    crowd = [b for b in back.labels["street"]["boxes"] if b.get("iscrowd")]
    assert [b["label"] for b in crowd] == ["person"]


def test_voc_clipped_box_is_marked_truncated():
    root = ElementTree.fromstring(to_voc(load_case("bbox"))["Annotations/sub/border.xml"])
    assert [o.findtext("truncated") for o in root.iter("object")] == ["1"]


def test_voc_reader_refuses_filename_escaping_the_root():
    xml = "<annotation><filename>../../x.png</filename><size><width>3</width><height>3</height></size></annotation>"
    with pytest.raises(DataError, match="escapes the image folder"):
        from_voc({"x": xml})


def test_voc_reader_reads_label_studio_zero_based_files():
    texts = {p.stem: p.read_text("utf-8") for p in sorted((ASSETS / "labelstudio_voc").glob("*.xml"))}
    ds = from_voc(texts, one_based=False)
    box = ds.labels["f0b4c0da__a-box-05"]["boxes"][0]
    # truth: car at 10,10,30,20 px; Label Studio truncates 9.999... to 9
    assert box["label"] == "car" and abs(box["x"] - 10) <= 1 and abs(box["y"] - 10) <= 1
