"""A user's spaCy pipeline as the NER pre-labeller (spaCy is imported only here, from the ``spacy`` extra).

spaCy's ``Span.start_char`` / ``end_char`` index the Python string, i.e. code points: the
offsets of our span payload, so entities convert without any remapping.
"""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import Any

from data_labeling_pipeline.errors import DataError, require

# Components that write doc.ents (a dependency parser also has labels, of another kind).
_ENTITY_FACTORIES = frozenset({"ner", "beam_ner", "entity_ruler"})


class SpacyNER:
    """Entities of a loaded spaCy ``Language``, in our span payload (``predict`` has the gazetteer's verb).

    Build it with :func:`spacy_ner` from a pipeline folder, or directly from a ``Language``.
    ``score`` is ``None``: spaCy's entity recogniser gives no per-entity probability.

    Example:
        >>> import spacy
        >>> nlp = spacy.blank("en")
        >>> ruler = nlp.add_pipe("entity_ruler")
        >>> ruler.add_patterns([{"label": "CITY", "pattern": "Paris"}])
        >>> SpacyNER(nlp).predict(["I love Paris."])
        [[{'start': 7, 'end': 12, 'label': 'CITY', 'score': None}]]
    """

    def __init__(self, nlp: Any, *, path: str = "<spacy>"):
        self.nlp = nlp
        self.path = path

    @property
    def labels(self) -> tuple[str, ...]:
        """Entity labels the pipeline can produce (NER and entity-ruler components), sorted."""
        found: set[str] = set()
        for name, component in self.nlp.pipeline:
            if self.nlp.get_pipe_meta(name).factory in _ENTITY_FACTORIES:
                found.update(getattr(component, "labels", ()))
        return tuple(sorted(found))

    def check_labels(self, classes: Sequence[str]) -> None:
        """Raise a DataError when the pipeline can produce labels the schema does not have."""
        unknown = sorted(set(self.labels) - set(classes))
        if unknown:
            raise DataError.single(self.path, None, "labels",
                                   f"the spaCy pipeline predicts {unknown}, not among the schema classes "
                                   f"{list(classes)}; add them to the schema or retrain the pipeline")

    def predict(self, texts: Sequence[str], *, batch_size: int = 64) -> list[list[dict]]:
        """Spans ``{"start", "end", "label", "score"}`` per text."""
        return [[{"start": ent.start_char, "end": ent.end_char, "label": ent.label_, "score": None} for ent in doc.ents]
                for doc in self.nlp.pipe(list(texts), batch_size=batch_size)]


def spacy_ner(path: str | PathLike) -> SpacyNER:
    """Load a spaCy pipeline folder (what ``nlp.to_disk`` or ``spacy train`` writes) for NER pre-labels.

    Raises:
        MissingExtraError: spaCy is not installed.
        DataError: the folder is missing or is not a loadable spaCy pipeline.

    Example:
        >>> import spacy, tempfile
        >>> folder = tempfile.mkdtemp()
        >>> nlp = spacy.blank("en")
        >>> nlp.add_pipe("entity_ruler").add_patterns([{"label": "ORG", "pattern": "ACME"}])
        >>> nlp.to_disk(folder)
        >>> spacy_ner(folder).predict(["ACME sells"])[0][0]["label"]
        'ORG'
    """
    spacy = require("spacy", "spacy")
    folder = Path(path)
    if not folder.exists():
        raise DataError.single(str(path), None, "prelabel.spacy_model",
                               "spaCy pipeline not found; expected a folder written by nlp.to_disk() or spacy train")
    try:
        nlp = spacy.load(folder)
    except (OSError, ValueError, KeyError, ImportError) as exc:
        raise DataError.single(str(path), None, "prelabel.spacy_model",
                               f"cannot load a spaCy pipeline ({exc}); expected a folder with config.cfg and "
                               "meta.json, as nlp.to_disk() writes") from None
    return SpacyNER(nlp, path=str(path))
