"""Pure format converters of the export stage, and their readers.

One module per format: `to_<fmt>` / `from_<fmt>` build objects from plain data,
`write_<fmt>` / `read_<fmt>` touch disk. Every function takes a `Dataset` (see
`make_dataset`) or returns one, and fills a `LossReport` so nothing is lost silently.
Heavy libraries (spaCy, datasets, pycocotools) are imported inside the functions that
need them.
"""

from ._dataset import (
    DEFAULT_POLICIES,
    POLICY_CHOICES,
    SPLITS,
    Dataset,
    check_policies,
    labels_from_consensus,
    make_dataset,
)
from ._missing import MissingImagesError, MissingSizesError, SizesUnknownError, read_sizes
from ._report import EVENTS, LossReport
from .coco import coco_extras, from_coco, read_coco, to_coco, write_coco
from .csv_table import to_csv, write_csv
from .hf_datasets import to_hf, write_hf
from .spacy_docbin import to_spacy, write_spacy
from .split import assign_split, strata_from_labels
from .voc import from_voc, read_voc, to_voc, write_voc
from .yolo import YoloExport, from_yolo, read_yolo, to_yolo, write_yolo

__all__ = [
    "DEFAULT_POLICIES",
    "EVENTS",
    "POLICY_CHOICES",
    "SPLITS",
    "assign_split",
    "check_policies",
    "coco_extras",
    "Dataset",
    "from_coco",
    "from_voc",
    "from_yolo",
    "labels_from_consensus",
    "LossReport",
    "make_dataset",
    "MissingImagesError",
    "MissingSizesError",
    "read_sizes",
    "SizesUnknownError",
    "read_coco",
    "read_voc",
    "read_yolo",
    "strata_from_labels",
    "to_coco",
    "to_csv",
    "to_hf",
    "to_spacy",
    "to_voc",
    "to_yolo",
    "write_coco",
    "write_csv",
    "write_hf",
    "write_spacy",
    "write_voc",
    "write_yolo",
    "YoloExport",
]
