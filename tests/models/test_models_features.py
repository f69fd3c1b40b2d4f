"""Image features (pixels + gradient histograms), image loading, and label-free embeddings."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from data_labeling_pipeline.errors import DataError
from data_labeling_pipeline.models import (
    feature_dim,
    image_embeddings,
    image_features,
    load_gray,
    load_image,
    text_embeddings,
)
from data_labeling_pipeline.models.features import gradient_histograms


def _stripes(vertical: bool, side: int = 32) -> np.ndarray:
    img = np.zeros((side, side), dtype=np.uint8)
    if vertical:
        img[:, ::4] = 255
    else:
        img[::4, :] = 255
    return img


def test_models_features_shape_dtype_and_dim():
    x = image_features([_stripes(True), np.zeros((8, 13), dtype=np.uint8), np.ones((50, 40), dtype=np.float32)])
    assert x.shape == (3, feature_dim()) == (3, 400)
    assert x.dtype == np.float32
    assert image_features([], size=8, cells=2, bins=6).shape == (0, 64 + 24)


def test_models_features_orientation_bins_tell_edges_apart():
    h = gradient_histograms(np.stack([_stripes(True), _stripes(False)]).astype(np.float32) / 255, cells=1, bins=9)
    # Vertical stripes: horizontal gradients (0 degrees, bin 0); horizontal stripes: 90 degrees (bin 4).
    assert int(np.argmax(h[0])) == 0
    assert int(np.argmax(h[1])) == 4
    assert np.allclose(np.linalg.norm(h, axis=1), 1, atol=1e-5)


def test_models_features_uint8_and_float_inputs_agree():
    img = _stripes(True)
    a = image_features([img])
    b = image_features([img.astype(np.float32) / 255])
    assert np.allclose(a, b, atol=1e-6)


def test_models_features_deterministic():
    rng = np.random.default_rng(0)
    imgs = [rng.integers(0, 256, (20, 24), dtype=np.uint8) for _ in range(5)]
    assert image_features(imgs).tobytes() == image_features(imgs).tobytes()


@pytest.mark.parametrize("bad", [np.zeros((4, 4, 3)), np.zeros((0, 5)), np.full((4, 4), np.nan)])
def test_models_features_bad_image_is_a_data_error(bad):
    with pytest.raises(DataError, match="images\\[0\\]"):
        image_features([bad])


def test_models_features_load_gray_applies_exif_orientation(tmp_path):
    # A 40x20 picture stored sideways: EXIF orientation 6 says "rotate 90 degrees clockwise to view".
    img = Image.new("L", (40, 20), 0)
    img.paste(255, (0, 0, 10, 20))  # the left quarter is white
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "sideways.jpg"
    img.save(path, exif=exif, quality=95)
    upright = load_gray(path, size=None)
    assert upright.shape == (40, 20)  # height, width after the turn
    assert upright[:10].mean() > 200 and upright[-10:].mean() < 50  # the white quarter is now on top
    assert load_gray(path, size=16).shape == (16, 16)
    assert load_image(path, mode="RGB").shape == (40, 20, 3)


def test_models_features_load_errors_name_the_file(tmp_path):
    with pytest.raises(DataError, match="missing.png.*not found"):
        load_gray(tmp_path / "missing.png")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    with pytest.raises(DataError, match="broken.png.*cannot decode"):
        load_gray(broken)


def test_models_embeddings_images_pca_seeded_float32():
    rng = np.random.default_rng(1)
    feats = rng.random((30, 12))
    e = image_embeddings(feats, dim=5, seed=3)
    assert e.shape == (30, 5) and e.dtype == np.float32
    assert e.tobytes() == image_embeddings(feats, dim=5, seed=3).tobytes()
    assert image_embeddings(feats[:3], dim=5).shape == (3, 5)  # fewer rows than dim: zero-padded
    assert image_embeddings(feats, dim=None).shape == (30, 12)


def test_models_embeddings_texts_place_similar_texts_close():
    texts = ["the cat sat on the mat", "a cat sat on a mat", "stock markets fell sharply",
             "markets fell on stock news", "the cat and the mat", "sharp fall in stock markets"]
    e = text_embeddings(texts, dim=4, seed=0)
    assert e.shape == (6, 4) and e.dtype == np.float32
    sims = e @ e.T
    assert sims[0, 1] > sims[0, 2] and sims[2, 3] > sims[2, 1]
    assert e.tobytes() == text_embeddings(texts, dim=4, seed=0).tobytes()
    assert text_embeddings(texts, dim=4, seed=0, chunk=4).tobytes() == e.tobytes()  # chunking changes nothing
    sampled = text_embeddings(texts, dim=3, seed=0, fit_rows=4)  # SVD fitted on 4 texts, applied to all 6
    assert sampled.shape == (6, 3) and np.allclose(np.linalg.norm(sampled, axis=1), 1, atol=1e-5)
    assert text_embeddings(["one"], dim=8).shape == (1, 8)
    assert text_embeddings([], dim=8).shape == (0, 8)
