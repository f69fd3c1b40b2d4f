"""`dlp convert --labels-only` and missing images or sizes: labels converted where the images are not."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from data_labeling_pipeline.cli import app
from data_labeling_pipeline.errors import DataError
from data_labeling_pipeline.formats import MissingImagesError, MissingSizesError, read_coco, read_voc, read_yolo
from data_labeling_pipeline.formats.verify import verify_yolo
from data_labeling_pipeline.utils import FormatConverter

LS = Path(__file__).parent.parent / "assets" / "labelstudio"
N = 50


def _coco(tmp_path: Path, *, n: int = N, sizes: bool = True) -> Path:
    """A COCO file naming `n` images that are not on this machine."""
    images = [{"id": k + 1, "file_name": f"images/im{k:03d}.jpg"} for k in range(n)]
    if sizes:
        for k, im in enumerate(images):
            im.update(width=640 + k, height=480)
    coco = {"images": images,
            "annotations": [{"id": k + 1, "image_id": k + 1, "category_id": 3 if k % 2 else 7,
                             "bbox": [10.0, 20.0, 64.0, 48.0], "area": 64.0 * 48.0, "iscrowd": 0}
                            for k in range(n)],
            "categories": [{"id": 7, "name": "car"}, {"id": 3, "name": "bus"}]}
    path = tmp_path / "in.json"
    path.write_text(json.dumps(coco), encoding="utf-8")
    return path


def _save_images(root: Path, names: list[str], size=(640, 480)) -> None:
    from PIL import Image

    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", size).save(root / name)


def _convert(*args: str):
    return CliRunner().invoke(app, ["convert", *args])


def test_labels_only_coco_to_yolo_writes_labels_and_data_yaml_without_images(tmp_path):
    source, out = _coco(tmp_path), tmp_path / "yolo"
    result = _convert(str(source), "--from", "coco", "--to", "yolo", "--out", str(out), "--labels-only")
    assert result.exit_code == 0, result.output
    assert "converted coco -> yolo" in result.output and "images_linked" not in result.output
    labels = sorted(out.glob("labels/train/*.txt"))
    assert len(labels) == N and (out / "data.yaml").is_file()
    assert not [p for p in (out / "images").rglob("*") if p.is_file() or p.is_symlink()]  # no links, no copies
    # Normalised by the size the COCO file records for that image (640 + k wide), class by schema order.
    assert (out / "labels" / "train" / "im001.txt").read_text() == f"1 {42 / 641!r} {44 / 480!r} {64 / 641!r} 0.1\n"
    assert verify_yolo(out, labels_only=True) == []
    assert any("label file without an image" in p for p in verify_yolo(out))


def test_labels_only_missing_images_are_one_summary_line_naming_both_flags(tmp_path):
    source, out = _coco(tmp_path), tmp_path / "yolo"
    result = _convert(str(source), "--from", "coco", "--to", "yolo", "--out", str(out))
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines == [f"error: {N} images are missing in {tmp_path.absolute()} (first: images/im000.jpg); pass "
                     "--image-dir DIR where they live, or --labels-only to write labels without images"]
    assert not out.exists()


def test_labels_only_is_a_keyword_of_format_converter(tmp_path):
    source = _coco(tmp_path, n=3)
    with pytest.raises(MissingImagesError, match=r"3 images are missing .*image_dir=.*labels_only=True") as caught:
        FormatConverter().convert(source, "coco", tmp_path / "a", "yolo")
    assert caught.value.missing == ["images/im000.jpg", "images/im001.jpg", "images/im002.jpg"]
    assert isinstance(caught.value, DataError) and isinstance(caught.value, ValueError)
    report = FormatConverter().convert(source, "coco", tmp_path / "b", "yolo", labels_only=True)
    assert report["items"] == {"train": {"in": 3, "out": 3}} and report["events"] == {}


def test_labels_only_voc_to_coco_is_read_back_by_pycocotools(tmp_path):
    from pycocotools.coco import COCO

    source = _coco(tmp_path)
    assert _convert(str(source), "--from", "coco", "--to", "voc", "--out", str(tmp_path / "voc"),
                    "--labels-only").exit_code == 0
    out = tmp_path / "coco"
    result = _convert(str(tmp_path / "voc"), "--from", "voc", "--to", "coco", "--out", str(out), "--labels-only")
    assert result.exit_code == 0, result.output
    with contextlib.redirect_stdout(io.StringIO()):  # COCO() prints progress
        coco = COCO(str(out / "annotations" / "instances_train.json"))
    assert len(coco.getImgIds()) == N and len(coco.getAnnIds()) == N
    assert sorted(c["name"] for c in coco.loadCats(coco.getCatIds())) == ["bus", "car"]
    first = coco.loadImgs(coco.getImgIds())[0]
    assert (first["width"], first["height"]) == (640, 480)  # the VOC <size>, from the COCO source
    ann = coco.loadAnns(coco.getAnnIds(imgIds=[first["id"]]))[0]
    assert ann["bbox"] == [10.0, 20.0, 64.0, 48.0]
    # The official evaluator takes the file as ground truth: its own boxes as detections score AP 1.
    from pycocotools.cocoeval import COCOeval

    detections = [{**a, "score": 1.0} for a in coco.loadAnns(coco.getAnnIds())]
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator = COCOeval(coco, coco.loadRes(detections), "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    assert evaluator.stats[0] == pytest.approx(1.0)


def test_labels_only_yolo_without_images_names_the_first_label_lacking_a_size(tmp_path):
    source = _coco(tmp_path)
    yolo = tmp_path / "yolo"
    assert _convert(str(source), "--from", "coco", "--to", "yolo", "--out", str(yolo), "--labels-only").exit_code == 0
    result = _convert(str(yolo), "--from", "yolo", "--to", "voc", "--out", str(tmp_path / "voc"), "--labels-only")
    assert result.exit_code == 1
    message = result.output.strip()
    assert "\n" not in message
    assert message.startswith(f"error: {yolo}: {N} images have no width and height (first: labels/train/im000.txt)")
    assert "YOLO labels are fractions of the image size" in message and "pass --image-dir DIR" in message
    with pytest.raises(MissingSizesError, match="image_dir=") as caught:
        FormatConverter().convert(yolo, "yolo", tmp_path / "voc", "voc", labels_only=True)
    assert len(caught.value.missing) == N
    with pytest.raises(MissingSizesError, match="images_root="):
        read_yolo(yolo)


def test_labels_only_yolo_reads_sizes_from_images_elsewhere(tmp_path):
    from pycocotools.coco import COCO

    source = _coco(tmp_path, n=4)
    yolo, images = tmp_path / "yolo", tmp_path / "cluster"
    FormatConverter().convert(source, "coco", yolo, "yolo", labels_only=True)
    # The images, in the export's layout, somewhere else: only their headers are read.
    _save_images(images, [f"images/train/im{k:03d}.jpg" for k in range(4)], size=(800, 600))
    result = _convert(str(yolo), "--from", "yolo", "--to", "coco", "--out", str(tmp_path / "coco"), "--labels-only",
                      "--image-dir", str(images))
    assert result.exit_code == 0, result.output
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(tmp_path / "coco" / "annotations" / "instances_train.json"))
    assert {(im["width"], im["height"]) for im in coco.loadImgs(coco.getImgIds())} == {(800, 600)}
    assert len(coco.getAnnIds()) == 4
    assert len(read_yolo(yolo, images_root=images).items) == 4


def test_labels_only_coco_without_sizes_reads_headers_or_names_the_first_image(tmp_path):
    source = _coco(tmp_path, n=3, sizes=False)
    result = _convert(str(source), "--from", "coco", "--to", "yolo", "--out", str(tmp_path / "a"), "--labels-only")
    assert result.exit_code == 1
    assert result.output.strip().startswith(f"error: {source}: 3 images have no width and height "
                                            "(first: images/im000.jpg): the source does not record them")
    assert "pass --image-dir DIR" in result.output
    _save_images(tmp_path, ["images/im000.jpg", "images/im001.jpg", "images/im002.jpg"], size=(320, 240))
    assert read_coco(source, image_dir="", images_root=tmp_path).items[0]["data"]["width"] == 320
    result = _convert(str(source), "--from", "coco", "--to", "yolo", "--out", str(tmp_path / "b"), "--labels-only")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "b" / "labels" / "train" / "im000.txt").read_text() == "0 0.13125 0.18333333333333332 0.2 0.2\n"


def test_labels_only_voc_without_size_reads_headers_once_nothing_is_counted_twice(tmp_path):
    source = _coco(tmp_path, n=2)
    voc = tmp_path / "voc"
    FormatConverter().convert(source, "coco", voc, "voc", labels_only=True)
    for xml in (voc / "Annotations").glob("*.xml"):
        text = xml.read_text("utf-8")
        start, end = text.index("<size>"), text.index("</size>") + len("</size>")
        xml.write_text(text[:start] + text[end:], encoding="utf-8")
    with pytest.raises(MissingSizesError, match=r"2 images have no width and height \(first: im000.jpg\)"):
        read_voc(voc, image_dir="")
    _save_images(tmp_path / "imgs", ["im000.jpg", "im001.jpg"], size=(100, 90))
    from data_labeling_pipeline.formats import LossReport

    report = LossReport()
    ds = read_voc(voc, image_dir="", images_root=tmp_path / "imgs", report=report, difficult="keep")
    assert [(i["data"]["width"], i["data"]["height"]) for i in ds.items] == [(100, 90), (100, 90)]
    assert report.lost() == {}


def test_labels_only_label_studio_classification_without_images_is_a_clear_error(tmp_path):
    export = tmp_path / "imgcls.snapshot.json"
    shutil.copy(LS / "imgcls.snapshot.json", export)  # without the images beside it
    with pytest.raises(MissingSizesError, match="Label Studio exports of image classification do not record"):
        FormatConverter().convert(export, "label_studio", tmp_path / "coco", "coco", labels_only=True)
    report = FormatConverter().convert(export, "label_studio", tmp_path / "coco", "coco", image_dir=LS,
                                       labels_only=True)
    assert report["items"]["train"]["out"] == 7
