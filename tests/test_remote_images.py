"""Images that live outside the project: s3://, http(s)://, memory://, file:// (no fsspec mocks).

Real parts: fsspec's memory and local file systems, and an HTTP server on 127.0.0.1 serving
small PNGs (one URL of it answers 404). s3:// runs without s3fs installed, so those images
cannot be reached, as on a machine without the extra.
"""

from __future__ import annotations

import functools
import http.server
import importlib.util
import io
import json
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import fsspec
import pytest
from PIL import Image
from typer.testing import CliRunner

from data_labeling_pipeline.cli import app
from data_labeling_pipeline.errors import DataError
from data_labeling_pipeline.formats import SizesUnknownError, make_dataset
from data_labeling_pipeline.formats.registry import write_format
from data_labeling_pipeline.labels import new_label_schema
from data_labeling_pipeline.project import EMBEDDING_IDS, INGESTED, ITEMS, PREDICTIONS
from data_labeling_pipeline.stages.agree import run_agree
from data_labeling_pipeline.stages.export import run_export
from data_labeling_pipeline.stages.prelabel import run_prelabel
from data_labeling_pipeline.stages.pull import run_pull

LS = Path(__file__).parent / "assets" / "labelstudio"
CLASSES = ["cat", "dog", "bird", "other"]
HAS_S3FS = importlib.util.find_spec("s3fs") is not None
# Tasks 1-3, 5 and 6 of the imgcls export are served over HTTP, task 4's URL answers 404, 7 and 8 are on S3.
SERVED = {1: (40, 30), 2: (24, 24), 3: (32, 16), 5: (20, 40), 6: (16, 16)}


def png(width: int, height: int, shade: int = 128) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (shade, 255 - shade, shade // 2)).save(buffer, format="PNG")
    return buffer.getvalue()


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


class _Quiet(http.server.SimpleHTTPRequestHandler):
    ranges: list = []  # (path, Range header) of every GET, set per server

    def log_message(self, *args):  # no request lines on stderr
        pass

    def do_GET(self):
        self.ranges.append((self.path, self.headers.get("Range")))
        if self.path == "/secret.png":  # what a bucket says to a request without credentials
            self.send_error(403)
            return
        super().do_GET()

    def do_HEAD(self):
        if self.path == "/secret.png":
            self.send_error(403)
            return
        super().do_HEAD()


@pytest.fixture
def http_images(tmp_path):
    """A real HTTP server on 127.0.0.1 serving a folder of PNGs: (base URL, folder, GET log)."""
    folder = tmp_path / "served"
    folder.mkdir()
    for task, (w, h) in SERVED.items():
        (folder / f"a-img-0{task}.png").write_bytes(png(w, h, shade=30 * task))
    log: list = []
    handler = type("Handler", (_Quiet,), {"ranges": log})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", folder, log
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def memory_bucket():
    """A fresh bucket name on fsspec's in-memory file system, removed afterwards."""
    fs = fsspec.filesystem("memory")
    bucket = f"bucket-{uuid.uuid4().hex[:8]}"
    yield fs, bucket
    if fs.exists(f"/{bucket}"):
        fs.rm(f"/{bucket}", recursive=True)


def remote_imgcls(bare_project, base_url: str, **sections):
    """The real imgcls export with its images on HTTP (one 404) and S3, and no image in the project."""
    project = bare_project("image_classification", CLASSES, quality={"spot_check_rate": 0.0}, **sections)
    tasks = json.loads((LS / "imgcls.snapshot.json").read_text("utf-8"))
    for task in tasks:
        n = task["id"]
        task["data"]["image"] = (f"{base_url}/a-img-0{n}.png" if n in SERVED else f"{base_url}/missing.png"
                                 if n == 4 else f"s3://labels-bucket/photos/a-img-0{n}.png")
    project.path("inbox/export.json").write_text(json.dumps(tasks), encoding="utf-8")
    return project


def test_remote_images_pull_keeps_items_without_size(bare_project, http_images):
    project = remote_imgcls(bare_project, http_images[0])
    summary = run_pull(project)
    items = {i["item_id"]: i for i in read_jsonl(project.path(ITEMS))}
    assert len(items) == 8
    assert items["a-img-08"]["data"] == {"image": "s3://labels-bucket/photos/a-img-08.png"}
    assert items["a-img-01"]["data"] == {"image": f"{http_images[0]}/a-img-01.png"}
    assert all("width" not in i["data"] and "height" not in i["data"] for i in items.values())
    assert summary.metrics()["images_without_size"] == 8
    assert len(read_jsonl(project.path("annotations/annotations.jsonl"))) == 18
    assert project.read_items(ITEMS)  # the schema accepts the sizeless items when read back


def test_remote_images_prelabel_prelabels_reachable_and_reports_unreachable(bare_project, http_images):
    project = remote_imgcls(bare_project, http_images[0], prelabel={"min_labels": 2, "cv_folds": 2})
    run_pull(project)
    summary = run_prelabel(project)  # succeeds although three images cannot be read
    reachable = {f"a-img-0{n}" for n in SERVED}
    predicted = {p["item_id"] for p in read_jsonl(project.path(PREDICTIONS))}
    assert predicted == reachable
    assert set(json.loads(project.path(EMBEDDING_IDS).read_text("utf-8"))["item_ids"]) == reachable
    assert summary.metrics["items_missing_image"] == 3 and summary.metrics["items_embedded"] == 5
    unreachable = json.loads(project.path("reports/prelabel.json").read_text("utf-8"))["unreachable"]
    assert set(unreachable) == {f"{http_images[0]}/missing.png", "s3://labels-bucket/photos/a-img-07.png",
                                "s3://labels-bucket/photos/a-img-08.png"}
    assert unreachable[f"{http_images[0]}/missing.png"].startswith("not found (HTTP 404")
    if not HAS_S3FS:
        assert "s3fs, which is not installed" in unreachable["s3://labels-bucket/photos/a-img-08.png"]
        assert "pip install 'data-labeling-pipeline[s3]'" in unreachable["s3://labels-bucket/photos/a-img-08.png"]
    text = summary.describe()
    assert "3 of 8 images get no pre-label or embedding" in text and "HTTP 404" in text


def test_remote_images_export_huggingface_and_csv_keep_the_uris(bare_project, http_images):
    datasets = pytest.importorskip("datasets")
    base = http_images[0]
    project = remote_imgcls(bare_project, base, export={"formats": ["huggingface", "csv", "label_studio"]})
    run_pull(project)
    run_agree(project)
    summary = run_export(project, verify=True)
    dd = datasets.load_from_disk(str(project.path("labeled_data/huggingface")))
    rows = [row for split in dd for row in dd[split]]
    assert len(rows) == summary.exported == 7
    images = {row["item_id"]: row["image"] for row in rows}
    assert images["a-img-01"] == f"{base}/a-img-01.png"
    assert images["a-img-07"] == "s3://labels-bucket/photos/a-img-07.png"
    assert dd["train"].features["image"].dtype == "string"
    lines = [line for split in ("train", "val")
             for line in project.path(f"labeled_data/csv/{split}.csv").read_text("utf-8").splitlines()[1:]]
    by_id = {line.split(",")[0]: line.split(",") for line in lines}
    assert by_id["a-img-01"][:4] == ["a-img-01", f"{base}/a-img-01.png", "", ""]  # no size: empty cells
    assert len(by_id) == 7


def test_remote_images_coco_export_of_sizeless_items_is_one_error(bare_project, http_images, monkeypatch):
    project = remote_imgcls(bare_project, http_images[0], export={"formats": ["csv", "coco"]})
    run_pull(project)
    run_agree(project)
    with pytest.raises(SizesUnknownError) as caught:
        run_export(project)
    message = str(caught.value)
    assert message.startswith("7 items have no image size (")
    assert "and 4 more): COCO needs them" in message
    assert "dlp ingest <uri-prefix or file of URIs>" in message
    assert not project.path("labeled_data").exists()  # nothing half-written
    monkeypatch.chdir(project.root)
    result = CliRunner().invoke(app, ["export"])
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and result.output.startswith("error: 7 items have no image size")


def test_remote_images_voc_and_yolo_of_sizeless_boxes_are_one_error(tmp_path):
    schema = new_label_schema("bbox", ["car"])
    items = [{"item_id": f"i{k}", "data": {"image": f"s3://b/i{k}.png"}} for k in range(5)]
    labels = {f"i{k}": {"boxes": [{"x": 1, "y": 1, "w": 2, "h": 2, "label": "car"}]} for k in range(5)}
    dataset = make_dataset(items, labels, schema)
    for name, shown in (("voc", "Pascal VOC"), ("yolo", "YOLO"), ("coco", "COCO"), ("csv", "CSV bbox")):
        with pytest.raises(SizesUnknownError, match=rf"^5 items have no image size \(s3://b/i0.png, s3://b/i1.png, "
                                                   rf"s3://b/i2.png and 2 more\): {shown} needs them") as caught:
            write_format(name, dataset, tmp_path / name)
        assert len(caught.value.problems) == 5 and not (tmp_path / name).exists()


def test_remote_images_pull_boxes_in_percent_without_original_width_is_one_error_then_ingest_fixes_it(
        bare_project, memory_bucket, monkeypatch):
    fs, bucket = memory_bucket
    project = bare_project("bbox", ["car", "person", "bicycle"])
    tasks = json.loads((LS / "bbox.snapshot.json").read_text("utf-8"))
    for task in tasks:
        name = task["data"]["image"].rsplit("/", 1)[1]
        with Image.open(LS / "images" / name) as img:
            fs.pipe(f"/{bucket}/boxes/{name}", png(*img.size))
        task["data"]["image"] = f"memory://{bucket}/boxes/{name}"
        entries = [*task["annotations"], *task.get("predictions", []),
                   *(a["prediction"] for a in task["annotations"] if isinstance(a.get("prediction"), dict))]
        for entry in entries:
            for result in entry.get("result", []):
                result.pop("original_width", None), result.pop("original_height", None)
    project.path("inbox/export.json").write_text(json.dumps(tasks), encoding="utf-8")
    with pytest.raises(DataError) as caught:
        run_pull(project)
    sizeless = [p for p in caught.value.problems if "image whose size is unknown" in p.message]
    assert len(sizeless) == 1
    assert "8 images have no recorded size" in sizeless[0].message
    assert "record the sizes with dlp ingest" in sizeless[0].message
    assert not project.path(ITEMS).exists()
    monkeypatch.chdir(project.root)
    result = CliRunner().invoke(app, ["ingest", f"memory://{bucket}/boxes/", "--no-track"])
    assert result.exit_code == 0, result.output
    run_pull(project)  # the recorded sizes serve the boxes now, matched by image (the tasks have own item ids)
    items = {i["item_id"]: i for i in read_jsonl(project.path(ITEMS))}
    with Image.open(LS / "images/a-box-01.png") as img:
        assert (items["a-box-01"]["data"]["width"], items["a-box-01"]["data"]["height"]) == img.size
    assert read_jsonl(project.path("annotations/annotations.jsonl"))


def test_remote_images_ingest_memory_prefix_records_header_sizes(bare_project, memory_bucket, monkeypatch):
    fs, bucket = memory_bucket
    fs.pipe(f"/{bucket}/imgs/a.png", png(40, 20))
    fs.pipe(f"/{bucket}/imgs/deep/b.png", png(7, 9))
    fs.pipe(f"/{bucket}/imgs/notes.txt", b"not an image")
    project = bare_project("image_classification", CLASSES)
    monkeypatch.chdir(project.root)
    result = CliRunner().invoke(app, ["ingest", f"memory://{bucket}/imgs/", "--no-track"])
    assert result.exit_code == 0, result.output
    assert "items: 2 (2 added" in result.output
    items = {i["item_id"]: i["data"] for i in read_jsonl(project.path(INGESTED))}
    assert items == {f"memory://{bucket}/imgs/a.png": {"image": f"memory://{bucket}/imgs/a.png", "width": 40,
                                                        "height": 20},
                     f"memory://{bucket}/imgs/deep/b.png": {"image": f"memory://{bucket}/imgs/deep/b.png",
                                                             "width": 7, "height": 9}}
    before = project.path(INGESTED).read_bytes()
    again = CliRunner().invoke(app, ["ingest", f"memory://{bucket}/imgs", "--no-track"])
    assert "2 unchanged" in again.output and project.path(INGESTED).read_bytes() == before  # same ids, same bytes
    fs.rm(f"/{bucket}/imgs/deep/b.png")
    third = CliRunner().invoke(app, ["ingest", f"memory://{bucket}/imgs/", "--no-track"])
    assert "items: 1 (0 added, 0 updated, 1 unchanged, 1 removed" in third.output
    assert not list(project.root.rglob("*.png"))  # nothing was copied into the project


def test_remote_images_ingest_file_uri_prefix_records_oriented_sizes(bare_project, tmp_path, monkeypatch):
    outside = tmp_path / "elsewhere" / "pics"
    outside.mkdir(parents=True)
    Image.new("RGB", (30, 10)).save(outside / "wide.png")
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 40x20, shown as 20x40
    Image.new("RGB", (40, 20)).save(outside / "turned.jpg", exif=exif)
    project = bare_project("image_classification", CLASSES)
    monkeypatch.chdir(project.root)
    result = CliRunner().invoke(app, ["ingest", outside.as_uri() + "/", "--no-track"])
    assert result.exit_code == 0, result.output
    items = {i["item_id"]: i["data"] for i in read_jsonl(project.path(INGESTED))}
    assert items[outside.as_uri() + "/wide.png"]["width"] == 30
    assert (items[outside.as_uri() + "/turned.jpg"]["width"], items[outside.as_uri() + "/turned.jpg"]["height"]) == (
        20, 40)


def test_remote_images_ingest_url_list_reads_only_the_header_over_http(bare_project, http_images, monkeypatch):
    base, folder, log = http_images
    big = Image.effect_noise((300, 300), 80).convert("RGB")  # noise compresses badly: well over 64 KiB
    big.save(folder / "big.png")
    assert (folder / "big.png").stat().st_size > 128 * 1024
    project = bare_project("image_classification", CLASSES)
    project.path("urls.txt").write_text(f"# photos\n{base}/a-img-01.png\n\n{base}/big.png\n{base}/a-img-01.png\n",
                                        encoding="utf-8")
    monkeypatch.chdir(project.root)
    result = CliRunner().invoke(app, ["ingest", "urls.txt", "--no-track"])
    assert result.exit_code == 0, result.output
    assert "items: 2 (2 added" in result.output and "1 duplicates skipped" in result.output
    items = {i["item_id"]: i["data"] for i in read_jsonl(project.path(INGESTED))}
    assert items == {f"{base}/a-img-01.png": {"image": f"{base}/a-img-01.png", "width": 40, "height": 30},
                     f"{base}/big.png": {"image": f"{base}/big.png", "width": 300, "height": 300}}
    assert [r for p, r in log if p == "/big.png"] == ["bytes=0-65535"]  # one ranged read of the first 64 KiB


def test_remote_images_ingest_unreachable_uri_fails_cleanly_with_nothing_written(bare_project, http_images,
                                                                                monkeypatch):
    base = http_images[0]
    project = bare_project("image_classification", CLASSES)
    monkeypatch.chdir(project.root)
    project.path("urls.txt").write_text(f"{base}/a-img-01.png\n{base}/missing.png\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["ingest", "urls.txt", "--no-track"])
    assert result.exit_code == 1
    assert f"error: {base}/missing.png: data.image: not found (HTTP 404 or no such object)" in result.output
    assert not project.path(INGESTED).exists()
    assert not [p for p in project.path("annotations").iterdir() if p.name.startswith(".")]  # no temp file left
    project.path("urls.txt").write_text(f"{base}/secret.png\n", encoding="utf-8")
    denied = CliRunner().invoke(app, ["ingest", "urls.txt", "--no-track"])
    assert denied.exit_code == 1 and f"{base}/secret.png: data.image: access denied (HTTP 403)" in denied.output
    if not HAS_S3FS:
        s3 = CliRunner().invoke(app, ["ingest", "s3://labels-bucket/photos/", "--no-track"])
        assert s3.exit_code == 1 and "s3fs, which is not installed" in s3.output
        assert not project.path(INGESTED).exists()
    missing = CliRunner().invoke(app, ["ingest", "memory://no-such-bucket-here/imgs/", "--no-track"])
    assert missing.exit_code == 1 and "no image files under memory://no-such-bucket-here/imgs/" in missing.output
    assert not project.path(INGESTED).exists()


def test_remote_images_prelabel_shards_merge_to_the_local_result(bare_project, http_images):
    project = remote_imgcls(bare_project, http_images[0], prelabel={"min_labels": 2, "cv_folds": 2})
    run_pull(project)
    run_prelabel(project)
    local = {name: project.path(name).read_bytes() for name in (PREDICTIONS, EMBEDDING_IDS, "reports/prelabel.json")}
    project.path("models/prelabel/model.pkl").unlink()
    for index in range(2):
        run_prelabel(project, shard=(index, 2))
    summary = run_prelabel(project, merge=True)
    assert summary.metrics["items_missing_image"] == 3
    assert {name: project.path(name).read_bytes() for name in local} == local


def test_remote_images_cli_help_loads_no_storage_library():
    code = ("import sys; from data_labeling_pipeline.cli import app; from typer.testing import CliRunner; "
            "CliRunner().invoke(app, ['--help']); CliRunner().invoke(app, ['ingest', '--help']); "
            "print(sorted({'fsspec', 'PIL', 'requests', 'aiohttp'} & {m.split('.')[0] for m in sys.modules}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
