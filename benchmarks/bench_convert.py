"""COCO -> YOLO and COCO -> VOC: our converters against globox on the same file, same run.

Run by hand (not part of the tests):

    PYTHONPATH=src .venv/bin/python benchmarks/bench_convert.py [--images 20000] [--boxes 200000]

It writes a synthetic COCO file (80 categories with sparse ids, image sizes 320..1280, boxes
inside their image; no image files: neither converter may open images), then runs each
conversion in its own child process and prints the conversion time (read + write, measured in
the child: wall clock and CPU, which a busy machine disturbs less), the child's peak RSS and our
speed-up (globox time / our time). globox must be
importable by the same interpreter (`pip install globox`) or given with --peer-python.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path


def make_coco(path: Path, n_images: int, n_boxes: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    ids = sorted(rng.sample(range(1, 1000), 80))  # sparse, like COCO's 1..90 with gaps
    categories = [{"id": cid, "name": f"class_{cid}", "supercategory": "thing"} for cid in ids]
    images = []
    for k in range(n_images):
        images.append({"id": k + 1, "file_name": f"img_{k:06d}.jpg", "width": rng.randint(320, 1280),
                       "height": rng.randint(320, 1280)})
    annotations = []
    for k in range(n_boxes):
        im = images[rng.randrange(n_images)]
        w = rng.uniform(1, im["width"] / 2)
        h = rng.uniform(1, im["height"] / 2)
        x = rng.uniform(0, im["width"] - w)
        y = rng.uniform(0, im["height"] - h)
        annotations.append({"id": k + 1, "image_id": im["id"], "category_id": rng.choice(ids),
                            "bbox": [round(x, 2), round(y, 2), round(w, 2), round(h, 2)],
                            "area": round(w * h, 2), "iscrowd": 0, "segmentation": []})
    coco = {"info": {"description": "synthetic"}, "licenses": [], "images": images,
            "annotations": annotations, "categories": categories}
    path.write_text(json.dumps(coco), encoding="utf-8")


def child(task: str, coco: str, out: str) -> None:
    """Run one conversion in this process and print its wall and CPU time in seconds."""
    tool, fmt = task.split("-")
    start, cpu = time.perf_counter(), time.process_time()
    if tool == "ours":
        from data_labeling_pipeline.formats import read_coco, write_voc, write_yolo

        ds = read_coco(coco, image_dir="images")
        if fmt == "yolo":
            write_yolo(ds, out, link="none")
        else:
            write_voc(ds, out)
    else:
        from globox import AnnotationSet

        annotations = AnnotationSet.from_coco(coco)
        Path(out).mkdir(parents=True, exist_ok=True)
        if fmt == "yolo":
            names = [c["name"] for c in json.loads(Path(coco).read_text())["categories"]]
            annotations.save_yolo_v5(out, label_to_id={n: k for k, n in enumerate(names)})
        else:
            annotations.save_pascal_voc(out)
    print(f"{time.perf_counter() - start:.4f} {time.process_time() - cpu:.4f}")


def run(task: str, coco: Path, out: Path, python: str) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak RSS in MiB) of one conversion in a fresh child process."""
    shutil.rmtree(out, ignore_errors=True)
    os.sync()  # flush earlier runs' writes, so one run does not pay for the previous one's
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent / "src"))
    proc = subprocess.Popen([python, __file__, "--child", task, str(coco), str(out)], stdout=subprocess.PIPE,
                            env=env, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    text = proc.stdout.read()
    proc.stdout.close()
    if status != 0:
        raise SystemExit(f"{task} failed with status {status}")
    wall, cpu = (float(v) for v in text.strip().splitlines()[-1].split())
    return wall, cpu, usage.ru_maxrss / 1024  # ru_maxrss is KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20000)
    parser.add_argument("--boxes", type=int, default=200000)
    parser.add_argument("--repeat", type=int, default=3, help="runs per conversion; the best time counts")
    parser.add_argument("--workdir", default="/tmp/dlp-bench-convert")
    parser.add_argument("--peer-python", default=sys.executable, help="interpreter that has globox")
    parser.add_argument("--child", nargs=3, metavar=("TASK", "COCO", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    coco = work / "instances_train.json"
    make_coco(coco, args.images, args.boxes)
    print(f"COCO file: {args.images} images, {args.boxes} boxes, 80 sparse category ids, "
          f"{coco.stat().st_size / 2**20:.1f} MiB")
    for fmt in ("yolo", "voc"):
        runs: dict[str, list[tuple[float, float, float]]] = {"ours": [], "globox": []}
        for _ in range(args.repeat):  # alternate the tools so a busy moment hits both alike
            for tool in runs:
                python = sys.executable if tool == "ours" else args.peer_python
                runs[tool].append(run(f"{tool}-{fmt}", coco, work / f"{tool}-{fmt}", python))
        best = {tool: min(t for t, _, _ in r) for tool, r in runs.items()}
        cpu = {tool: min(c for _, c, _ in r) for tool, r in runs.items()}
        for tool, r in runs.items():
            walls = " ".join(f"{t:.2f}" for t, _, _ in r)
            print(f"{tool:>6} COCO -> {fmt.upper():<4}: wall {best[tool]:6.2f} s (best; runs {walls}), "
                  f"CPU {cpu[tool]:6.2f} s, peak RSS {max(m for _, _, m in r):5.0f} MiB")
        print(f"  speed-up COCO -> {fmt.upper()}: {best['globox'] / best['ours']:.2f}x wall, "
              f"{cpu['globox'] / cpu['ours']:.2f}x CPU (target >= 2x)")


if __name__ == "__main__":
    main()
