"""Users' torch checkpoints: loading (TorchScript, torch.export, pickles), input size, classifiers, detectors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from PIL import Image

from data_labeling_pipeline.errors import DataError
from data_labeling_pipeline.models import (
    ImageBatches,
    checkpoint_format,
    load_checkpoint,
    model_input_size,
    predict_torch_classifier,
    predict_torch_detector,
    to_probabilities,
)

torch = pytest.importorskip("torch")  # the optional torch extra


class TinyCNN(torch.nn.Module):
    def __init__(self, n_classes: int = 3, softmax: bool = False):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 4, 3, padding=1)
        self.head = torch.nn.Linear(4 * 8 * 8, n_classes)
        self.softmax = softmax

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.head(torch.relu(self.conv(x)).flatten(1))
        return torch.softmax(y, dim=1) if self.softmax else y


class TinyDetector(torch.nn.Module):
    """Returns torchvision-style detections: a fixed box per image, scaled to the image size."""

    def forward(self, images: list[torch.Tensor]) -> list[dict[str, torch.Tensor]]:
        out: list[dict[str, torch.Tensor]] = []
        for image in images:
            h, w = image.shape[-2], image.shape[-1]
            boxes = torch.tensor([[1.0, 2.0, w / 2, h / 2], [0.0, 0.0, w + 5.0, 3.0], [4.0, 4.0, 4.0, 9.0]])
            out.append({"boxes": boxes, "labels": torch.tensor([1, 2, 1]), "scores": torch.tensor([0.9, 0.4, 0.8])})
        return out


def _script(model, path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.script(model).save(str(path))
    return path


def _batches(n=5, size=8, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 1, size, size), dtype=np.float32)
    return [x[:3], x[3:]], x


def test_models_torch_loads_torchscript_and_export_alike(tmp_path):
    torch.manual_seed(0)
    model = TinyCNN().eval()
    batches, x = _batches()
    expected = torch.softmax(model(torch.from_numpy(x)), dim=1).detach().numpy()
    scripted = _script(model, tmp_path / "weak_classifier.pt")
    exported = tmp_path / "exported.pt"  # a .pt name: the content decides, not the suffix
    batch = torch.export.Dim("batch")
    torch.export.save(torch.export.export(model, (torch.zeros(2, 1, 8, 8),), dynamic_shapes=({0: batch},)), exported)
    assert checkpoint_format(scripted) == "torchscript" and checkpoint_format(exported) == "export"
    for path in (scripted, exported):
        p = predict_torch_classifier(load_checkpoint(path), batches, n_classes=3, device="cpu")
        assert p.shape == (5, 3)
        assert np.allclose(p, expected, atol=1e-5)


def test_models_torch_pickled_module_is_refused_unless_trusted(tmp_path):
    path = tmp_path / "pickled.pt"
    torch.save(TinyCNN(), path)
    with pytest.raises(DataError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert "pickled.pt" in message and "arbitrary code" in message
    assert "torch.jit.script(model).save('weak_classifier.pt')" in message
    assert "prelabel.trust_checkpoint: true" in message
    model = load_checkpoint(path, trust=True)
    assert isinstance(model, TinyCNN) and not model.training


def test_models_torch_state_dict_missing_and_broken_files(tmp_path):
    torch.save(TinyCNN().state_dict(), tmp_path / "weights.pt")
    with pytest.raises(DataError, match="weights.pt.*weights only"):
        load_checkpoint(tmp_path / "weights.pt", trust=True)
    with pytest.raises(DataError, match="absent.pt.*not found"):
        load_checkpoint(tmp_path / "absent.pt")
    (tmp_path / "broken.pt").write_bytes(b"\x80\x04garbage" * 10)
    (tmp_path / "empty.pt").write_bytes(b"")
    for name in ("broken.pt", "empty.pt"):
        for trust in (False, True):
            with pytest.raises(DataError, match=f"{name}.*cannot load the model"):
                load_checkpoint(tmp_path / name, trust=trust)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(_script(TinyCNN(), tmp_path / "ok.pt").read_bytes()[:300])
    with pytest.raises(DataError, match="truncated.pt.*cannot load the model"):
        load_checkpoint(truncated)


def test_models_torch_wrong_number_of_classes_is_explained(tmp_path):
    model = load_checkpoint(_script(TinyCNN(n_classes=4), tmp_path / "m.pt"))
    with pytest.raises(DataError, match=r"m.pt.*returns 4 scores per item, expected 3: one per schema class"):
        predict_torch_classifier(model, _batches()[0], n_classes=3, device="cpu", path=str(tmp_path / "m.pt"))


def test_models_torch_probabilities_are_detected_not_softmaxed_twice(tmp_path):
    torch.manual_seed(1)
    logits_model = TinyCNN().eval()
    prob_model = TinyCNN(softmax=True).eval()
    prob_model.load_state_dict(logits_model.state_dict())
    batches, _ = _batches()
    a = predict_torch_classifier(logits_model, batches, n_classes=3, device="cpu")
    b = predict_torch_classifier(prob_model, batches, n_classes=3, device="cpu")
    assert np.allclose(a, b, atol=1e-6)
    assert to_probabilities([[0.2, 0.3]]).round(3).tolist() == [[0.475, 0.525]]  # sums to 0.5: logits
    assert to_probabilities([[0.2, 3.0]], multi_label=True)[0, 1] == pytest.approx(1 / (1 + np.exp(-3)))
    assert to_probabilities([[0.2, 0.9]], multi_label=True).tolist() == [[0.2, 0.9]]


def test_models_torch_progress_callable_sees_the_batches():
    seen = []

    def track(items, description):
        seen.append((len(items), description))
        yield from items

    batches, _ = _batches()
    predict_torch_classifier(TinyCNN(), batches, n_classes=3, device="cpu", progress=track)
    assert seen == [(2, "pre-labelling")]


def test_models_torch_input_size_from_attribute_weights_or_probe(tmp_path):
    assert model_input_size(TinyCNN()) == (1, 8, 8)  # conv gives 1 channel, probe finds 8
    mlp = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 2))
    assert model_input_size(mlp) == (3, 32, 32)
    with_attr = TinyCNN()
    with_attr.input_size = (1, 8, 8)
    assert model_input_size(with_attr) == (1, 8, 8)
    exported = tmp_path / "static.pt2"
    torch.export.save(torch.export.export(TinyCNN().eval(), (torch.zeros(2, 1, 8, 8),)), exported)
    assert model_input_size(load_checkpoint(exported)) == (1, 8, 8)
    with pytest.raises(DataError, match="model.input_size"):
        model_input_size(TinyCNN(), sizes=(224, 5))


def test_models_torch_image_batches_feed_a_model(tmp_path):
    paths = []
    for i in range(5):
        path = tmp_path / f"{i}.png"
        Image.new("RGB", (20 + i, 12), (i * 40, 0, 0)).save(path)
        paths.append(path)
    batches = ImageBatches(paths, shape=(1, 8, 8), batch_size=2)
    assert len(batches) == 3
    shapes = [b.shape for b in batches]
    assert shapes == [(2, 1, 8, 8), (2, 1, 8, 8), (1, 1, 8, 8)]
    assert all(b.dtype == np.float32 and 0 <= b.min() and b.max() <= 1 for b in batches)
    assert [b.shape for b in ImageBatches(paths[:1], shape=(3, 4, 4))] == [(1, 3, 4, 4)]
    assert predict_torch_classifier(TinyCNN(), batches, n_classes=3, device="cpu").shape == (5, 3)


def test_models_torch_detector_boxes_become_our_payload(tmp_path):
    model = load_checkpoint(_script(TinyDetector(), tmp_path / "det.pt"))
    images = [np.zeros((20, 30, 3), dtype=np.uint8), np.zeros((10, 10), dtype=np.uint8)]
    boxes = predict_torch_detector(model, images, class_names={1: "car", 2: "person"}, min_score=0.5, device="cpu")
    # The second box scores 0.4 (dropped); the third is empty (x1 == x2, dropped).
    assert boxes == [[{"x": 1.0, "y": 2.0, "w": 14.0, "h": 8.0, "label": "car", "score": 0.9}],
                     [{"x": 1.0, "y": 2.0, "w": 4.0, "h": 3.0, "label": "car", "score": 0.9}]]
    clipped = predict_torch_detector(TinyDetector(), images[:1], class_names=["bg", "car", "person"], device="cpu")
    assert clipped[0][1] == {"x": 0.0, "y": 0.0, "w": 30.0, "h": 3.0, "label": "person", "score": 0.4}
    with pytest.raises(DataError, match="predicts class 2, expected one of \\[1\\]"):
        predict_torch_detector(TinyDetector(), images[:1], class_names={1: "car"}, device="cpu")


def test_models_torch_detector_reads_image_files_batch_by_batch(tmp_path):
    from data_labeling_pipeline.models.torch_model import predict_torch_detector as old_path

    paths = []
    for i, size in enumerate([(30, 20), (10, 10), (16, 8)]):
        Image.new("L", size, 128).save(tmp_path / f"{i}.png")
        paths.append(tmp_path / f"{i}.png")
    boxes = old_path(TinyDetector(), paths, class_names={1: "car", 2: "person"}, batch_size=2, min_score=0.5,
                     device="cpu")
    assert [b[0]["w"] for b in boxes] == [14.0, 4.0, 7.0]  # x2 = width / 2 of each file, x1 = 1


def test_models_torch_detector_tuple_output():
    class TupleDetector(torch.nn.Module):
        def forward(self, images):
            return torch.tensor([[0.0, 0.0, 5.0, 5.0]]), torch.tensor([0]), torch.tensor([0.7])

    boxes = predict_torch_detector(TupleDetector(), [np.zeros((8, 8), np.uint8)] * 2, class_names=["cat"],
                                   batch_size=1, device="cpu")
    assert boxes == [[{"x": 0.0, "y": 0.0, "w": 5.0, "h": 5.0, "label": "cat", "score": 0.7}]] * 2
