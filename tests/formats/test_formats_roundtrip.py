"""Round trips on random boxes: COCO -> YOLO -> COCO (float-exact within 1e-6 px) and
COCO -> VOC -> COCO (within VOC's integer rounding)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from data_labeling_pipeline.formats import LossReport, from_coco, from_voc, from_yolo, to_coco, to_voc, to_yolo

CATEGORIES = [{"id": 90, "name": "zebra"}, {"id": 3, "name": "car"}, {"id": 17, "name": "Ölfass"}]


@st.composite
def coco_files(draw, min_size=0.01):
    images, annotations = [], []
    for k in range(draw(st.integers(1, 4))):
        w, h = draw(st.integers(1, 4000)), draw(st.integers(1, 4000))
        images.append({"id": k + 1, "file_name": f"img{k}.png", "width": w, "height": h})
        for _ in range(draw(st.integers(0, 4))):
            bw = draw(st.floats(min(min_size, w), w))
            bh = draw(st.floats(min(min_size, h), h))
            x = draw(st.floats(0, w - bw))
            y = draw(st.floats(0, h - bh))
            annotations.append({"id": len(annotations) + 1, "image_id": k + 1,
                                "category_id": draw(st.sampled_from([90, 3, 17])),
                                "bbox": [x, y, bw, bh], "area": bw * bh, "iscrowd": 0, "segmentation": []})
    return {"images": images, "annotations": annotations, "categories": CATEGORIES}


def _boxes(coco):
    name = {im["id"]: im["file_name"].rsplit("/", 1)[-1] for im in coco["images"]}
    out: dict = {n: [] for n in name.values()}  # images without boxes must survive too
    for a in coco["annotations"]:
        out[name[a["image_id"]]].append((a["category_id"], a["bbox"]))
    return out  # in annotation order, which every converter keeps


def _close(a, b, tol):
    assert a.keys() == b.keys()
    for k in a:
        assert len(a[k]) == len(b[k])
        for (ca, ba), (cb, bb) in zip(a[k], b[k], strict=True):
            assert ca == cb
            x0, y0, x1, y1 = ba[0], ba[1], ba[0] + ba[2], ba[1] + ba[3]
            u0, v0, u1, v1 = bb[0], bb[1], bb[0] + bb[2], bb[1] + bb[3]
            assert max(abs(x0 - u0), abs(y0 - v0), abs(x1 - u1), abs(y1 - v1)) <= tol, (ba, bb)


@settings(max_examples=40, deadline=None)
@given(coco=coco_files())
def test_roundtrip_coco_yolo_coco_within_1e_6(coco):
    ds = from_coco(coco)
    built = to_yolo(ds)
    texts = {path: built.files["labels/" + path[len("images/"):].rsplit(".", 1)[0] + ".txt"] for path in built.images}
    sizes = {f"images/train/{it['data']['image'].rsplit('/', 1)[-1]}": (it["data"]["width"], it["data"]["height"])
             for it in ds.items}
    back = from_yolo(texts, sizes=sizes, names=[c["name"] for c in CATEGORIES], label_schema=ds.label_schema)
    _close(_boxes(coco), _boxes(to_coco(back)["train"]), 1e-6)


@settings(max_examples=40, deadline=None)
@given(coco=coco_files(min_size=2))
def test_roundtrip_coco_voc_coco_within_half_a_pixel(coco):
    ds = from_coco(coco)
    report = LossReport()
    files = to_voc(ds, report=report)
    texts = {k[len("Annotations/"):-len(".xml")]: v for k, v in files.items() if k.startswith("Annotations/")}
    back = from_voc(texts, label_schema=ds.label_schema)
    _close(_boxes(coco), _boxes(to_coco(back)["train"]), 0.5 + 1e-9)
    assert report.max_rounding_error <= 0.5 + 1e-9
    assert "voc_min_pixel" not in report.lost()
