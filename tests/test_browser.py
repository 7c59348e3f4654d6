"""The built book in a real browser (headless Chromium driven by Playwright): every page opens with no console
error, no failed or off-machine request, no broken image, no broken internal link, and all math typeset by the
packaged MathJax. Screenshots are saved.

Chromium comes from Debian (`apt-get install chromium`; .ci/run installs it). Without it the test is skipped
on a developer's machine and fails in CI."""
import functools
import http.server
import os
import re
import shutil
import threading
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

CHROMIUM = os.environ.get("REPLICATE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def server(built_book):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(built_book))
    handler.log_message = lambda *a, **k: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def _pages(html: Path) -> list[Path]:
    return sorted(p for p in html.rglob("*.html") if "_static" not in p.parts and "_sources" not in p.parts)


def test_internal_links_resolve(built_book):
    broken = []
    for page in _pages(built_book):
        for href in re.findall(r'href="([^"#?]+)', page.read_text()):
            if urlparse(href).scheme or href.startswith(("mailto:", "//")):
                continue
            target = (page.parent / unquote(href)).resolve()
            if not target.exists():
                broken.append(f"{page.relative_to(built_book)} -> {href}")
    assert not broken, "broken internal links:\n" + "\n".join(broken[:20])


@pytest.mark.slow
def test_every_page_in_headless_chromium(built_book, server, session_tmp):
    if not CHROMIUM:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (apt-get install chromium); .ci/run should have installed it")
        pytest.skip("no chromium on this machine (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    shots = session_tmp / "screenshots"
    shots.mkdir(exist_ok=True)
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        where = {"url": ""}

        def off_machine(route):
            problems.append(f"{where['url']}: request leaves the machine: {route.request.url}")
            route.abort()

        page.route(re.compile(r"^(?!http://127\.0\.0\.1)(?!data:)(?!blob:).*"), off_machine)
        page.on("console", lambda m: m.type == "error" and problems.append(f"{where['url']}: console: {m.text}"))
        page.on("pageerror", lambda e: problems.append(f"{where['url']}: page error: {e}"))
        page.on("requestfailed", lambda r: problems.append(f"{where['url']}: failed: {r.url}"))
        page.on("response", lambda r: r.status >= 400 and problems.append(f"{where['url']}: HTTP {r.status} {r.url}"))
        for i, p in enumerate(_pages(built_book)):
            rel = p.relative_to(built_book).as_posix()
            where["url"] = rel
            page.goto(f"{server}/{rel}", wait_until="networkidle")
            broken = page.evaluate("Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)")
            problems += [f"{rel}: broken image {src}" for src in broken]
            # math is typeset by the packaged MathJax: every math element becomes an mjx-container
            math, typeset = page.evaluate("""async () => {
                if (window.MathJax && MathJax.startup && MathJax.startup.promise) { await MathJax.startup.promise; }
                return [document.querySelectorAll('.math').length, document.querySelectorAll('mjx-container').length];
            }""")
            if typeset < math:
                problems.append(f"{rel}: {math - typeset} of {math} math elements not typeset by MathJax")
            page.screenshot(path=str(shots / f"{i:02d}-{rel.replace('/', '_')}.png"), full_page=False)
        browser.close()
    print(f"screenshots in {shots}")
    assert not problems, "\n".join(problems[:30])
