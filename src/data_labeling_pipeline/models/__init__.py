"""Weak models of the prelabel stage: scikit-learn defaults per task type, and users' torch / spaCy models.

- image classification: :func:`image_features` (gray pixels + gradient histograms) and
  :class:`WeakClassifier` ``kind="image"``; or a user checkpoint (:func:`load_checkpoint`,
  :func:`predict_torch_classifier`);
- text classification: :class:`WeakClassifier` ``kind="text"`` (word + character TF-IDF);
- NER: :class:`Gazetteer`, or a user's spaCy pipeline (:func:`spacy_ner`);
- boxes: only a user's detection model (:func:`predict_torch_detector`).

Each model has ``fit`` / ``predict`` (``predict_proba`` for classifiers) / ``cross_validate``.
:mod:`~data_labeling_pipeline.models.prelabel` turns outputs into prediction records. Heavy
libraries (scikit-learn, scipy, torch, spaCy, Pillow) are imported inside the functions.

Example:
    >>> from data_labeling_pipeline.models import WeakClassifier, predictions_from_probabilities
    >>> clf = WeakClassifier("text", classes=["ham", "spam"]).fit(["hi mum", "WIN $$$"], ["ham", "spam"])
    >>> predictions_from_probabilities(["t1"], clf.predict_proba(["WIN now"]), ["ham", "spam"],
    ...                                model_version="v")[0]["label"]
    'spam'
"""

from data_labeling_pipeline.models.classifier import WeakClassifier
from data_labeling_pipeline.models.embeddings import image_embeddings, text_embeddings
from data_labeling_pipeline.models.features import feature_dim, image_features, load_gray, load_image
from data_labeling_pipeline.models.folds import stratified_folds
from data_labeling_pipeline.models.gazetteer import Gazetteer, span_f1
from data_labeling_pipeline.models.persist import dumps_model, load_model, save_model
from data_labeling_pipeline.models.prelabel import (
    FINAL_STATUSES,
    acceptance_rate,
    digest,
    lead_times,
    model_meta,
    model_version,
    predictions_from_boxes,
    predictions_from_probabilities,
    predictions_from_spans,
    same_payload,
    should_retrain,
    skip_reason,
    training_set,
)
from data_labeling_pipeline.models.spacy_model import SpacyNER, spacy_ner
from data_labeling_pipeline.models.torch_detector import predict_torch_detector
from data_labeling_pipeline.models.torch_model import (
    ImageBatches,
    checkpoint_format,
    load_checkpoint,
    model_input_size,
    predict_torch_classifier,
    to_probabilities,
    torch_outputs,
)

__all__ = [
    "FINAL_STATUSES",
    "Gazetteer",
    "ImageBatches",
    "SpacyNER",
    "WeakClassifier",
    "acceptance_rate",
    "lead_times",
    "checkpoint_format",
    "digest",
    "dumps_model",
    "feature_dim",
    "image_embeddings",
    "image_features",
    "load_checkpoint",
    "load_gray",
    "load_image",
    "load_model",
    "model_input_size",
    "model_meta",
    "model_version",
    "predict_torch_classifier",
    "predict_torch_detector",
    "predictions_from_boxes",
    "predictions_from_probabilities",
    "predictions_from_spans",
    "same_payload",
    "save_model",
    "should_retrain",
    "skip_reason",
    "span_f1",
    "spacy_ner",
    "stratified_folds",
    "text_embeddings",
    "to_probabilities",
    "torch_outputs",
    "training_set",
]
