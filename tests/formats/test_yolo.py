"""YOLO writer and reader: golden files, Ultralytics layout rules, links, floats, sizes."""

from __future__ import annotations

import os

import pytest
from fmt_golden import check_json, check_tree, load_case

from data_labeling_pipeline.errors import DataError
from data_labeling_pipeline.formats import from_yolo, read_yolo, to_yolo, write_yolo
from data_labeling_pipeline.formats.verify import verify_yolo
from data_labeling_pipeline.media import image_size


def _images(root, ds):
    from PIL import Image

    for item in ds.items:
        path = root / item["data"]["image"]
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (item["data"]["width"], item["data"]["height"])).save(path)


def test_yolo_golden(tmp_path):
    report = write_yolo(load_case("bbox"), tmp_path / "out", link="none")
    check_tree(tmp_path / "out", "yolo", "bbox")
    check_json(report.as_dict(), "yolo", "bbox", "report.json")


def test_yolo_layout_passes_ultralytics_rules_with_symlinked_images(tmp_path):
    ds = load_case("bbox")
    _images(tmp_path / "proj", ds)
    report = write_yolo(ds, tmp_path / "out", images_root=tmp_path / "proj")
    assert verify_yolo(tmp_path / "out") == []
    link = tmp_path / "out" / "images" / "train" / "street.png"
    assert link.is_symlink() and not os.path.isabs(os.readlink(link))
    assert link.resolve() == (tmp_path / "proj" / "images" / "street.png").resolve()
    assert report.lost()["images_linked"] == 5


def test_yolo_copy_mode_copies_bytes(tmp_path):
    ds = load_case("bbox")
    _images(tmp_path / "proj", ds)
    write_yolo(ds, tmp_path / "out", images_root=tmp_path / "proj", link="copy")
    copied = tmp_path / "out" / "images" / "val" / "café 日本.png"
    assert not copied.is_symlink()
    assert copied.read_bytes() == (tmp_path / "proj" / "images" / "café 日本.png").read_bytes()


def test_yolo_missing_image_is_a_data_error(tmp_path):
    # One summary line (how many, the first, the fix), not one line per image.
    with pytest.raises(DataError, match=r"^5 images are missing in .* \(first: images/café 日本.png\); pass "
                       r"images_root=.*link='none'") as caught:
        write_yolo(load_case("bbox"), tmp_path / "out", images_root=tmp_path)
    assert "\n" not in str(caught.value) and len(caught.value.missing) == 5
    assert not (tmp_path / "out").exists()


def test_yolo_background_image_gets_an_empty_label_file():
    assert to_yolo(load_case("bbox")).files["labels/train/empty.txt"] == ""


def test_yolo_class_index_is_schema_position_not_category_id():
    files = to_yolo(load_case("bbox")).files
    assert files["labels/val/café 日本.txt"].split()[0] == "2"  # id 42, third class
    assert "names:\n  0: car\n  1: person\n  2: bike & <trike>\n" in files["data.yaml"]


def test_yolo_floats_are_shortest_round_trip_text():
    line = to_yolo(load_case("bbox")).files["labels/train/street.txt"].splitlines()[1]
    cx = float(line.split()[1])
    assert cx == (300.25 + 60.1 / 2) / 640 and line.split()[1] == repr(cx)


def test_yolo_crowd_policies():
    keep = to_yolo(load_case("bbox", crowd="keep")).files["labels/train/street.txt"]
    drop = to_yolo(load_case("bbox", crowd="difficult")).files["labels/train/street.txt"]
    assert len(keep.splitlines()) == 3 and len(drop.splitlines()) == 2


def test_yolo_refuses_colliding_label_stems():
    from data_labeling_pipeline.formats import make_dataset

    schema = {"task_type": "bbox", "schema_version": 1, "multi_label": False, "classes": [{"id": 1, "name": "a"}]}
    items = [{"item_id": k, "data": {"image": f"images/x.{k}", "width": 5, "height": 5}} for k in ("png", "jpg")]
    ds = make_dataset(items, {"png": {"boxes": []}, "jpg": {"boxes": []}}, schema)
    with pytest.raises(DataError, match="share the file stem"):
        to_yolo(ds)


def test_yolo_reader_reads_what_the_writer_wrote(tmp_path):
    ds = load_case("bbox")
    _images(tmp_path / "proj", ds)
    write_yolo(ds, tmp_path / "out", images_root=tmp_path / "proj")
    back = read_yolo(tmp_path / "out")
    assert back.split["café 日本"] == "val" and back.split["sub/border"] == "val"
    assert back.labels["empty"] == {"boxes": []}
    box = back.labels["café 日本"]["boxes"][0]
    assert box["x"] == pytest.approx(10) and box["w"] == pytest.approx(30.5) and box["label"] == "bike & <trike>"


def test_yolo_reader_refuses_bad_lines():
    sizes = {"images/train/a.png": (10, 10)}
    with pytest.raises(DataError) as err:
        from_yolo({"images/train/a.png": "3 0.5 0.5 0.1 0.1\n0 1.5 0.5 0.1 0.1\n0 x 1 1 1\n"}, sizes=sizes,
                   names=["a"])
    assert len(err.value.problems) == 3


def test_yolo_reader_reads_polygons_as_their_envelope():
    from data_labeling_pipeline.formats import LossReport

    report = LossReport()
    ds = from_yolo({"images/train/a.png": "0 0.1 0.2 0.5 0.2 0.3 0.6\n"}, sizes={"images/train/a.png": (10, 10)},
                   names=["a"], report=report)
    box = ds.labels["a"]["boxes"][0]
    assert (box["x"], box["y"], box["w"], box["h"]) == pytest.approx((1, 2, 4, 4))
    assert report.lost() == {"polygons_enveloped": 1}


def test_yolo_image_size_applies_exif_orientation(tmp_path):
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90: stored 40x20 is shown 20x40
    Image.new("RGB", (40, 20)).save(tmp_path / "r.jpg", exif=exif)
    assert image_size(tmp_path / "r.jpg") == (20, 40)


def test_yolo_reader_refuses_data_yaml_folders_outside_the_dataset(tmp_path):
    (tmp_path / "data.yaml").write_text("path: .\ntrain: ../../etc\nval: images/val\nnames: [a]\n")
    with pytest.raises(DataError, match="escapes the image folder"):
        read_yolo(tmp_path, sizes={})
