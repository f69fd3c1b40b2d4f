"""Vega-Lite specs of the dashboard's charts, and :func:`to_svg` to render one as static SVG.

The specs are plain dicts with their data inline (sorted, so the same figures give the same
spec); vl-convert renders them without a browser or network, and gives the same SVG text
for the same spec. Marks carry no ARIA labels (the page has every number in text next to
the chart), which keeps large matrices small.
"""

from __future__ import annotations

from typing import Any

SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"  # an identifier only: nothing is fetched
CONFIG = {"aria": False, "background": "white", "font": "sans-serif", "view": {"stroke": None},
          "axis": {"labelFontSize": 11, "titleFontSize": 11},
          "legend": {"labelFontSize": 11, "titleFontSize": 11, "labelLimit": 320}}
MAX_CELL_TEXT = 12  # classes (or annotators) up to which each cell of a matrix is labelled with its number


def _spec(body: dict, **extra: Any) -> dict:
    return {"$schema": SCHEMA, "config": CONFIG, **body, **extra}


def sparkline(points: list[list[float]]) -> dict:
    """An annotator's kappa per window of labels, on a fixed 0..1 scale so rows compare (below 0 drawn at 0)."""
    last = points[-1][0] if points else None
    values = [{"window": w, "kappa": k, "last": w == last} for w, k in points]
    x = {"field": "window", "type": "quantitative", "axis": None}
    y = {"field": "kappa", "type": "quantitative", "axis": None, "scale": {"domain": [0, 1], "clamp": True}}
    return _spec({"data": {"values": values}, "width": 90, "height": 22, "padding": 2, "encoding": {"x": x, "y": y},
                  "layer": [{"mark": {"type": "line", "color": "#1f5f99", "strokeWidth": 1.5}},
                            {"mark": {"type": "point", "filled": True, "color": "#1f5f99", "size": 14},
                             "transform": [{"filter": "datum.last"}]}]})


def heatmap(pairs: list[dict], annotators: list[str], metric: str) -> dict:
    """Pairwise agreement as a symmetric annotator x annotator matrix."""
    values = []
    for p in pairs:
        if p["value"] is not None:
            values += [{"a": p["a"], "b": p["b"], "v": p["value"]}, {"a": p["b"], "b": p["a"], "v": p["value"]}]
    values.sort(key=lambda r: (r["a"], r["b"]))
    size = max(60, min(22 * len(annotators), 600))
    axis = {"type": "nominal", "sort": annotators, "title": None}
    layers: list[dict] = [{"mark": "rect", "encoding": {
        "color": {"field": "v", "type": "quantitative", "title": metric,
                  "scale": {"domain": [0, 1], "scheme": "blues", "clamp": True}}}}]
    if len(annotators) <= MAX_CELL_TEXT:
        layers.append({"mark": {"type": "text", "fontSize": 10},
                       "encoding": {"text": {"field": "v", "type": "quantitative", "format": ".2f"},
                                    "color": {"condition": {"test": "datum.v > 0.6", "value": "white"},
                                              "value": "black"}}})
    return _spec({"data": {"values": values}, "width": size, "height": size,
                  "encoding": {"x": {"field": "b", **axis, "axis": {"labelAngle": -40}}, "y": {"field": "a", **axis}},
                  "layer": layers})


def confusion_grid(matrices: list[dict], classes: list[str]) -> dict:
    """Small multiples: one consensus x label matrix per annotator, coloured by row share."""
    values = sorted(({"annotator": m["annotator"], "consensus": c["consensus"], "label": c["label"], "n": c["n"],
                      "share": c["share"]} for m in matrices for c in m["cells"]),
                    key=lambda r: (r["annotator"], r["consensus"], r["label"]))
    side = max(60, min(14 * len(classes), 260))
    axis = {"type": "nominal", "sort": classes}
    layers: list[dict] = [{"mark": "rect", "encoding": {
        "color": {"field": "share", "type": "quantitative", "title": "row share",
                  "scale": {"domain": [0, 1], "scheme": "oranges"}}}}]
    if len(classes) <= MAX_CELL_TEXT:
        layers.append({"mark": {"type": "text", "fontSize": 9},
                       "encoding": {"text": {"field": "n", "type": "quantitative"},
                                    "color": {"condition": {"test": "datum.share > 0.5", "value": "white"},
                                              "value": "black"}}})
    return _spec({"data": {"values": values}, "columns": 4,
                  "facet": {"field": "annotator", "type": "nominal", "title": None, "sort": sorted(
                      {m["annotator"] for m in matrices}), "header": {"labelFontSize": 11}},
                  "spec": {"width": side, "height": side, "layer": layers, "encoding": {
                      "x": {"field": "label", **axis, "title": "annotator's label"},
                      "y": {"field": "consensus", **axis, "title": "consensus"}}},
                  "resolve": {"scale": {"color": "shared"}}})


def queue_bars(rows: list[dict]) -> dict:
    """Items per reason in each queue."""
    values = sorted(({"queue": r["action"], "reason": r["reason"], "n": r["n"]} for r in rows),
                    key=lambda r: (r["queue"], r["reason"]))
    return _spec({"data": {"values": values}, "width": 360, "height": {"step": 11}, "mark": "bar",
                  "encoding": {"y": {"field": "reason", "type": "nominal", "title": None},
                               "x": {"field": "n", "type": "quantitative", "title": "items"},
                               "color": {"field": "queue", "type": "nominal", "title": "queue",
                                         "scale": {"domain": ["annotate", "review"],
                                                   "range": ["#4c78a8", "#e45756"]}},
                               "yOffset": {"field": "queue", "type": "nominal"}}})


ECONOMY_SERIES = {"cv_accuracy": "weak model cv_accuracy",
                  "estimated_accuracy_exported": "estimated_accuracy_exported",
                  "headline": "headline agreement"}
BASELINE_SERIES = {"model_accuracy_vs_truth": "weak model vs truth (simulation)",
                   "random_batch_accuracy_vs_truth": "random batch instead (simulation)"}


def economy(rows: list[dict], baseline: list[dict] | None = None) -> dict:
    """Accuracy figures against the number of labels, one point per commit (the last: the current files).

    ``baseline``: a simulation's rounds (``metrics/baseline.json``), drawn as two more series.
    """
    values = [{"labels": r["labels"], "figure": name, "value": r[key], "commit": r["commit"][:12], "order": i}
              for i, r in enumerate(rows) for key, name in ECONOMY_SERIES.items()
              if r.get(key) is not None and r.get("labels") is not None]
    values += [{"labels": r["labels"], "figure": name, "value": r[key], "commit": f"round {r['round']}",
                "order": i} for i, r in enumerate(baseline or []) for key, name in BASELINE_SERIES.items()
               if r.get(key) is not None and r.get("labels") is not None]
    encoding = {"x": {"field": "labels", "type": "quantitative", "title": "labels (n_annotations)"},
                "y": {"field": "value", "type": "quantitative", "title": None, "scale": {"zero": False}},
                "color": {"field": "figure", "type": "nominal", "title": None,
                          "sort": [*ECONOMY_SERIES.values(), *BASELINE_SERIES.values()]},
                "order": {"field": "order", "type": "quantitative"}}
    return _spec({"data": {"values": values}, "width": 420, "height": 200,
                  "mark": {"type": "line", "point": True}, "encoding": encoding})


def to_svg(spec: dict, *, prefix: str = "c") -> str:
    """The chart as static SVG text (no script, no external reference); same spec, same text.

    vl-convert numbers the ids of gradients and clip paths across the whole process, and
    several SVGs inline in one page share one id space: every id is renamed ``<prefix>-<n>`` in
    order of appearance, so the text depends on the spec and the prefix only.

    Example:
        >>> svg = to_svg(sparkline([[0, 0.5], [1, 0.7]]))  # doctest: +SKIP
        >>> svg.startswith("<svg")  # doctest: +SKIP
        True
    """
    import vl_convert as vlc

    return renumber_ids(vlc.vegalite_to_svg(spec, allowed_base_urls=[]).strip(), prefix)


def renumber_ids(svg: str, prefix: str) -> str:
    """Rename every ``id`` of an SVG (and its ``url(#..)`` and ``href="#.."`` references) to ``prefix-n``.

    >>> renumber_ids('<g id="gradient_7"/><path fill="url(#gradient_7)"/>', "heat")
    '<g id="heat-0"/><path fill="url(#heat-0)"/>'
    """
    import re

    names: dict[str, str] = {}
    for found in re.findall(r'\bid="([^"]+)"', svg):
        names.setdefault(found, f"{prefix}-{len(names)}")
    if not names:
        return svg
    pattern = re.compile(r'(\bid="|url\(#|href="#)(' + "|".join(re.escape(n) for n in names) + r')(?=[")])')
    return pattern.sub(lambda m: m.group(1) + names[m.group(2)], svg)
