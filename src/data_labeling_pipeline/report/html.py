"""The dashboard page: one HTML file, no network at view time, every number in text as well as in a chart.

The page carries its own style, its charts as inline SVG, thumbnails as data URIs and a
small inline script that sorts tables; a Content-Security-Policy forbids anything else, so
a browser opening it from disk makes no request. Pure: sections and SVG text in, HTML out.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

from .sections import text

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"
STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d232a;background:#f6f7f9}
header{background:#1f2d3d;color:#fff;padding:16px 24px}header h1{margin:0 0 4px;font-size:22px}
header p{margin:2px 0;color:#cfd8e3;font-size:13px}nav a{color:#9fd0ff;margin-right:12px;font-size:13px}
main{padding:8px 24px 40px;max-width:1300px}section{background:#fff;border:1px solid #dde2e8;border-radius:6px;
margin:16px 0;padding:12px 18px}h2{font-size:18px;margin:4px 0 10px}h3{font-size:15px;margin:14px 0 6px}
.empty{color:#6b7480;font-style:italic}.figures{display:flex;flex-wrap:wrap;gap:10px;margin:0;padding:0}
.figures div{border:1px solid #e3e7ec;border-radius:5px;padding:6px 10px;min-width:120px}
.figures dt{font-size:12px;color:#5a6470}.figures dd{margin:2px 0 0;font-size:20px;font-weight:600}
.figures dd small,.note{font-size:12px;font-weight:400;color:#5a6470}code{font-size:11px;color:#5a6470}
table{border-collapse:collapse;font-size:13px;margin:6px 0}th,td{border-bottom:1px solid #e6e9ee;padding:4px 8px;
text-align:left;vertical-align:top}td.n{text-align:right;font-variant-numeric:tabular-nums}
th button{font:inherit;font-weight:600;background:none;border:0;padding:0;cursor:pointer;color:inherit}
th[aria-sort=ascending] button::after{content:" \\25B2"}th[aria-sort=descending] button::after{content:" \\25BC"}
.verdict{font-weight:700;padding:2px 8px;border-radius:4px}.passed{background:#d9f2e0;color:#14532d}
.failed{background:#fde2e1;color:#8a1c17}.unavailable{background:#eceff3;color:#444}
figure{margin:8px 0}figcaption{font-size:12px;color:#5a6470}.flag{background:#fde2e1;color:#8a1c17;
border-radius:3px;padding:0 4px;margin-right:3px;font-size:12px}.examples{display:flex;flex-wrap:wrap;gap:10px}
.example{border:1px solid #e3e7ec;border-radius:5px;padding:6px;max-width:420px;font-size:12px}
.example img{image-rendering:pixelated;display:block;margin-bottom:4px}mark{padding:0 2px;border-radius:2px}
mark small{font-size:10px;color:#333}details summary{cursor:pointer;font-size:13px}
.scroll{overflow-x:auto;max-width:100%}td .note{display:block;max-width:220px}td.flags{max-width:170px}
th{font-size:12px;max-width:130px}
"""
SCRIPT = """(function(){
function key(td){var v=td.getAttribute('data-sort');if(v===null){v=td.textContent;}
var n=parseFloat(v);return (v!==''&&!isNaN(n))?n:v.toLowerCase();}
var tables=document.querySelectorAll('table.sortable');
Array.prototype.forEach.call(tables,function(table){
var heads=table.querySelectorAll('thead th');
Array.prototype.forEach.call(heads,function(th,i){var b=th.querySelector('button');if(!b){return;}
b.addEventListener('click',function(){var asc=th.getAttribute('aria-sort')!=='ascending';
Array.prototype.forEach.call(heads,function(o){o.removeAttribute('aria-sort');});
th.setAttribute('aria-sort',asc?'ascending':'descending');
var body=table.tBodies[0],rows=Array.prototype.slice.call(body.rows);
rows.sort(function(r1,r2){var a=key(r1.cells[i]),c=key(r2.cells[i]);
if(typeof a!==typeof c){return typeof a==='number'?-1:1;}return (a<c?-1:a>c?1:0)*(asc?1:-1);});
rows.forEach(function(r){body.appendChild(r);});});});});})();"""
ORDER = (("headline", "Headline"), ("annotators", "Annotators"), ("pairwise", "Pairwise agreement"),
         ("confusion", "Confusion matrices"), ("gaps", "Guideline gaps"), ("queues", "Queues"),
         ("prelabels", "Pre-labels"), ("economy", "Label economy"), ("exports", "Exports"))


def e(value: Any) -> str:
    return escape(str(value), quote=True)


def _value_attr(value: Any) -> str:
    """The raw figure for machines (tests, scrapers): JSON-like text of the number."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def figure_html(f: Mapping, extra: str = "") -> str:
    """One figure: its label and metric key, the value shown, and the raw value in ``data-value``."""
    note = f"<br><small>{e(f['note'])}</small>" if f.get("note") else ""
    return (f'<div><dt>{e(f["label"])} <code>{e(f["key"])}</code></dt><dd data-key="{e(f["key"])}" '
            f'data-value="{e(_value_attr(f["value"]))}"><span class="v">{e(f["text"])}</span>{extra}{note}</dd></div>')


def figures_html(figures: list[Mapping]) -> str:
    return f'<dl class="figures">{"".join(figure_html(f) for f in figures)}</dl>' if figures else ""


def cell(value: Any, *, numeric: bool = True) -> str:
    if not numeric:
        return f"<td>{e(value)}</td>"
    return f'<td class="n" data-sort="{e("" if value is None else _value_attr(value))}">{e(text(value))}</td>'


def table(headers: list[str], rows: list[str], *, sortable: bool = True, caption: str | None = None) -> str:
    names = [e(h).replace("_", "_<wbr>") for h in headers]  # long metric keys may break after an underscore
    th = "".join(f'<th scope="col"><button type="button">{h}</button></th>' if sortable
                 else f'<th scope="col">{h}</th>' for h in names)
    cap = f"<caption>{e(caption)}</caption>" if caption else ""
    cls = ' class="sortable"' if sortable else ""
    return (f'<div class="scroll"><table{cls}>{cap}<thead><tr>{th}</tr></thead><tbody>{"".join(rows)}</tbody>'
            "</table></div>")


def chart(svg: str | None, caption: str) -> str:
    if not svg:
        return ""
    return f'<figure role="img" aria-label="{e(caption)}">{svg}<figcaption>{e(caption)}</figcaption></figure>'


def empty(reason: str | None) -> str:
    return f'<p class="empty">{e(reason)}</p>' if reason else ""


def _bound(f: Mapping) -> str:
    return f'<span data-key="{e(f["key"])}" data-value="{e(_value_attr(f["value"]))}">{e(f["text"])}</span>'


def headline_html(s: Mapping, charts: Mapping) -> str:
    v = s["verdict"]
    lines = "".join(f"<li>{e(line)}</li>" for line in v.get("lines", []))
    verdict = (f'<h3>Quality gate: <span class="verdict {e(v["status"])}" data-key="gate">{e(v["status"])}</span>'
               f'</h3><ul>{lines}</ul>')
    rows = []
    for f in s["agreement"]:
        ci = f.get("interval")
        interval = (f" <small>95% bootstrap interval {_bound(ci['low'])} .. {_bound(ci['high'])} "
                    f"({e(ci['n_resamples'])} resamples)</small>") if ci else ""
        star = " (headline)" if f.get("headline") else ""
        rows.append(figure_html({**f, "label": f["label"] + star}, interval))
    agreement = "".join(rows)
    return (empty(s["empty"]) + figures_html(s["counts"]) + "<h3>Agreement</h3>"
            + (f'<dl class="figures">{agreement}</dl>' if agreement else '<p class="empty">no agreement figures</p>')
            + "<h3>Estimated accuracy of the exported labels</h3>"
            + (figures_html(s["accuracy"]) or '<p class="empty">not estimated for these labels (no calibrated '
                                              'expected error: spans, boxes, or nothing exported yet)</p>')
            + verdict)


def annotators_html(s: Mapping, charts: Mapping) -> str:
    if s["empty"]:
        return empty(s["empty"])
    sparks = charts.get("sparklines") or {}
    rows = []
    for r in s["rows"]:
        flags = " ".join(f'<span class="flag">{e(f)}</span>' for f in r["flags"]) or "none"
        windows = ", ".join(f"{w}: {text(k)}" for w, k in r["windows"]) or "no window yet"
        spark = sparks.get(r["annotator"], "")
        rows.append(f"<tr><th scope=\"row\">{e(r['annotator'])}</th>{cell(r['labels'])}{cell(r['accuracy'])}"
                    f"{cell(r['kappa'])}{cell(r['latest_kappa'])}{cell(r['drift'])}{cell(r['labels_per_hour'])}"
                    f"{cell(r['spammer_score'])}<td class=\"flags\" data-sort=\"{e(' '.join(r['flags']))}\">"
                    f"{flags}</td>"
                    f"<td data-sort=\"{e(_value_attr(r['latest_kappa']))}\">{spark}<span class=\"note\">"
                    f"{e(windows)}</span></td></tr>")
    return (table(s["columns"], rows) + '<p class="note">Kappa by window: one window per quality.qa_every_n_labels '
            "labels of the annotator, on a 0..1 scale (below 0 drawn at 0); a falling line is drift.</p>")


def pairwise_html(s: Mapping, charts: Mapping) -> str:
    if s["empty"]:
        return empty(s["empty"])
    rows = [f"<tr><td>{e(p['a'])}</td><td>{e(p['b'])}</td>{cell(p['value'])}{cell(p['n_items'])}"
            f"<td>{e(p['reason'] or '')}</td></tr>" for p in s["pairs"]]
    more = (f'<p class="note">{s["left_out"]} more annotators left out (those with the most labels are '
            "shown).</p>") if s.get("left_out") else ""
    return (chart(charts.get("heatmap"), f"pairwise {s['metric']} between annotators")
            + table(["annotator_a", "annotator_b", s["metric"], "n_items", "reason"], rows) + more)


def confusion_html(s: Mapping, charts: Mapping) -> str:
    if s["empty"]:
        return empty(s["empty"])
    parts = [chart(charts.get("confusion"), "rows: consensus class; columns: the annotator's label; "
                                            "colour: share of the row; numbers: labels")]
    for m in s["matrices"]:
        errors = "; ".join(f"{c['consensus']} -> {c['label']}: {c['n']}" for c in m["top_errors"]) or "none"
        by_cell = {(c["consensus"], c["label"]): c["n"] for c in m["cells"]}
        rows = [f"<tr><th scope=\"row\">{e(t)}</th>" + "".join(cell(by_cell.get((t, lab), 0)) for lab in s["classes"])
                + "</tr>" for t in s["classes"]]
        parts.append(f"<details><summary>{e(m['annotator'])}: {m['agree']} of {m['n']} labels equal the consensus; "
                     f"most frequent confusions {e(errors)}</summary>"
                     + table(["consensus \\ label", *s["classes"]], rows, sortable=False) + "</details>")
    if s["left_out"]:
        parts.append(f'<p class="note">{s["left_out"]} more annotators not drawn (those with the most labels are).</p>')
    return "".join(parts)


def _example_html(x: Mapping) -> str:
    bits = [f"<strong>{e(x['item_id'])}</strong>"]
    if x.get("thumbnail"):
        bits.insert(0, f'<img src="{x["thumbnail"]}" alt="{e(x["item_id"])}" width="72">')
    if x.get("consensus") is not None:
        bits.append(f"consensus: {e(x['consensus'])}")
    if x.get("votes"):
        bits.append("votes: " + e(", ".join(f"{k} {v}" for k, v in sorted(x["votes"].items()))))
    if x.get("prediction") is not None:
        bits.append(f"weak model: {e(x['prediction'])}")
    if x.get("text") is not None:
        bits.append(f"<q>{e(x['text'])}</q>")
    for who, segments in sorted((x.get("segments") or {}).items()):
        marked = "".join(e(piece) if label is None else f"<mark>{e(piece)}<small> {e(label)}</small></mark>"
                         for piece, label in segments)
        bits.append(f"{e(who)}: {marked}")
    for who, regions in sorted((x.get("regions") or {}).items()):
        bits.append(f"{e(who)}: {e(regions)}")
    if x.get("uri"):
        bits.append(f"image: {e(x['uri'])}")
    return '<div class="example">' + "<br>".join(bits) + "</div>"


def gaps_html(s: Mapping, charts: Mapping) -> str:
    if s["empty"]:
        return empty(s["empty"])
    parts = [f'<p class="note">{e(s["method"])}</p>']
    ds = s.get("source") == "ds_confusion"
    rows = [f"<tr><td>{e(p['a'])}</td><td>{e(p['b'])}</td>{cell(p['score'])}"
            + (f"{cell(p.get('a_as_b'))}{cell(p.get('b_as_a'))}" if ds else "") + f"{cell(p.get('n_items'))}</tr>"
            for p in s["pairs"]]
    headers = ["class a", "class b", "score", *(["P(b | a)", "P(a | b)"] if ds else []), "items where both came up"]
    parts.append(table(headers, rows))
    for p in s["pairs"]:
        examples = "".join(_example_html(x) for x in p["examples"]) or '<p class="empty">no item where annotators ' \
                                                                       'split between these two</p>'
        parts.append(f"<h3>{e(p['a'])} vs {e(p['b'])}</h3><div class=\"examples\">{examples}</div>")
    return "".join(parts)


def queues_html(s: Mapping, charts: Mapping) -> str:
    rows = [f"<tr><td>{e(r['action'])}</td><td>{e(r['reason'])}</td>{cell(r['n'])}{cell(r['expected_wrong'])}</tr>"
            for r in s["rows"]]
    out = figures_html(s["totals"]) + empty(s["empty"])
    if rows:
        out += chart(charts.get("queues"), "items per reason in each queue") + table(
            ["queue", "reason", "items", "expected wrong labels"], rows)
        out += '<p class="note">An item with several reasons counts under each.</p>'
    return out + figures_html(s["select"])


def prelabels_html(s: Mapping, charts: Mapping) -> str:
    notes = "".join(f"<li>{e(n)}</li>" for n in s["notes"])
    return empty(s["empty"]) + figures_html(s["figures"]) + (f"<ul class=\"note\">{notes}</ul>" if notes else "")


def economy_html(s: Mapping, charts: Mapping) -> str:
    keys = ("labels", "items", "labels_per_item", "annotators", "cv_accuracy", "estimated_accuracy_exported",
            "n_review", "items_exported", "headline")
    rows = [f"<tr><td><code>{e(r['commit'][:12])}</code></td><td>{e(r['subject'])}</td>"
            + "".join(cell(r.get(k)) for k in keys) + "</tr>" for r in s["rows"]]
    return (f'<p class="note">{e(s["provenance"])}</p>' + empty(s["empty"])
            + chart(charts.get("economy"), "accuracy figures against the number of labels, one point per commit")
            + table(["commit", "subject", *keys], rows) + baseline_html(s.get("baseline") or []))


def baseline_html(rows: list[Mapping]) -> str:
    """The simulation's rounds (metrics/baseline.json): active learning's batch against a random one."""
    if not rows:
        return ""
    keys = ("round", "labels", "labelled_items", "evaluated_on", "model_accuracy_vs_truth",
            "random_batch_accuracy_vs_truth")
    body = [f"<tr>{''.join(cell(r.get(k)) for k in keys)}</tr>" for r in rows]
    return ("<h3>Against a random batch (simulation with known truth, <code>metrics/baseline.json</code>)</h3>"
            + table(list(keys), body)
            + '<p class="note">The weak model\'s accuracy on the true labels of items neither batch labelled, '
              "after the batch active learning selected and after a seeded random batch of the same size.</p>")


def exports_html(s: Mapping, charts: Mapping) -> str:
    rows = [f"<tr><td>{e(r['format'])}</td><td>{e(r['split'])}</td>{cell(r['in'])}{cell(r['out'])}"
            f"{cell((r['in'] or 0) - (r['out'] or 0))}</tr>" for r in s["rows"]]
    events = [f"<tr><td>{e(r['format'])}</td><td>{e(r['event'])}</td>{cell(r['n'])}</tr>" for r in s["events"]]
    out = empty(s["empty"]) + figures_html(s["totals"]) + figures_html(s["accuracy"])
    if rows:
        out += table(["format", "split", "in", "out", "lost"], rows)
    out += "<h3>What was lost or changed</h3>" + (table(["format", "event", "count"], events) if events else
                                                   '<p class="empty">nothing: every format carried every item '
                                                   'and object</p>')
    return out


RENDER = {"headline": headline_html, "annotators": annotators_html, "pairwise": pairwise_html,
          "confusion": confusion_html, "gaps": gaps_html, "queues": queues_html, "prelabels": prelabels_html,
          "economy": economy_html, "exports": exports_html}


def render_page(meta: Mapping, sections: Mapping[str, Mapping], charts: Mapping[str, Any]) -> str:
    """The whole page. ``meta``: project name, task type, classes; ``charts``: SVG text by name."""
    nav = "".join(f'<a href="#{key}">{e(title)}</a>' for key, title in ORDER)
    body = []
    for key, title in ORDER:
        s = sections[key]
        state = ' data-empty="true"' if s.get("empty") else ""
        body.append(f'<section id="{key}" aria-labelledby="{key}-title"{state}><h2 id="{key}-title">'
                    f'{e(s.get("title") or title)}</h2>{RENDER[key](s, charts)}</section>')
    classes = ", ".join(meta.get("classes") or [])
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<link rel="icon" href="data:,">'
            f"<title>{e(meta['project'])}: QA &amp; review dashboard</title><style>{STYLE}</style></head><body>"
            f"<header><h1>{e(meta['project'])}: QA &amp; review dashboard</h1>"
            f"<p>task type {e(meta['task_type'])}; classes {e(classes)}</p><p>{e(meta['provenance'])}</p>"
            f"<nav>{nav}</nav></header><main>{''.join(body)}</main><script>{SCRIPT}</script></body></html>\n")
