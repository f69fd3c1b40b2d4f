"""Open a built dashboard in a real headless browser (the system chromium, driven by Playwright).

Used by tests/test_dashboard_browser.py, and as a script that writes the README's screenshot:

    .venv/bin/python tests/dashboard_browser.py reports/dashboard.html docs/dashboard.png

No `playwright install`: Debian's `chromium` package is the browser (apt-get install -y chromium).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")


@dataclass
class Visit:
    """What the browser saw: console messages and page errors, every request, the figures on the page."""

    console: list[tuple[str, str]] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    figures: dict[str, dict] = field(default_factory=dict)  # data-key -> {"value": data-value, "text": shown}
    sections: dict[str, bool] = field(default_factory=dict)  # section id -> has data
    sorted_labels: list[list[str]] = field(default_factory=list)  # the annotator column after 0, 1, 2 clicks


def visit(page_path: Path, *, screenshot: Path | None = None) -> Visit:
    """Open ``page_path`` from ``file://``, record what happened, click to sort the annotators' table."""
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        raise RuntimeError(f"{CHROMIUM} is missing: apt-get install -y chromium")
    seen = Visit()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 900})
            page.on("console", lambda m: seen.console.append((m.type, m.text)))
            page.on("pageerror", lambda exc: seen.console.append(("pageerror", str(exc))))
            page.on("request", lambda r: seen.requests.append(r.url))
            page.goto(page_path.resolve().as_uri(), wait_until="load")
            seen.figures = page.evaluate("""() => Object.fromEntries(
                Array.from(document.querySelectorAll('[data-key][data-value]')).map(el => [
                    el.getAttribute('data-key'),
                    {value: el.getAttribute('data-value'),
                     text: (el.querySelector('.v') || el).textContent.trim()}]))""")
            seen.sections = page.evaluate("""() => Object.fromEntries(
                Array.from(document.querySelectorAll('main > section')).map(s => [s.id, !s.dataset.empty]))""")
            column = "() => Array.from(document.querySelectorAll('#annotators tbody th')).map(th => th.textContent)"
            seen.sorted_labels.append(page.evaluate(column))
            button = page.locator("#annotators thead th button").nth(1)  # labels (n_items)
            if button.count():
                for _ in range(2):
                    button.click()
                    seen.sorted_labels.append(page.evaluate(column))
            if screenshot is not None:
                screenshot.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    return seen


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python tests/dashboard_browser.py DASHBOARD.html SCREENSHOT.png")
    result = visit(Path(sys.argv[1]), screenshot=Path(sys.argv[2]))
    print(f"wrote {sys.argv[2]}; console messages: {len(result.console)}; requests: {len(result.requests)}")
