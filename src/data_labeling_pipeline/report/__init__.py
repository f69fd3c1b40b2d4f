"""The QA & review dashboard: one self-contained HTML page from the project's metrics.

- :mod:`.sections`: pure, metrics dicts -> the data of each section;
- :mod:`.gaps`: pure, the class pairs annotators confuse and example items (from streamed records);
- :mod:`.economy`: pure, one point of the label economy per commit;
- :mod:`.charts`: Vega-Lite specs, rendered to static SVG by vl-convert;
- :mod:`.html`: the page, escaped, with a small inline script to sort tables.

The stage that reads the files and writes ``reports/dashboard.html`` is
:mod:`data_labeling_pipeline.stages.report`.
"""
