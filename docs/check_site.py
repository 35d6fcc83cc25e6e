"""Look at the built site as a reader would (``make docs-check``).

Serves ``docs/_build/html`` on 127.0.0.1, fails on a broken internal link, a
missing image or an empty API page anywhere in the site, then opens the index,
one estimator's API page and one gallery page in headless Chromium and saves
screenshots in ``docs/_build/screenshots``.

    python docs/check_site.py [docs/_build/html]
"""

from __future__ import annotations

import functools
import http.server
import re
import shutil
import subprocess
import sys
import threading
import urllib.request
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urldefrag, urljoin, urlparse

PAGES = {
    "index": "index.html",
    "estimator_api": "generated/sktheory.SingleLocationRegressor.html",
    "gallery": "auto_examples/plot_single_location.html",
}


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links, self.images, self.text = [], [], []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        elif tag == "img" and attrs.get("src"):
            self.images.append(attrs["src"])
        elif tag in ("link",) and attrs.get("rel") == "stylesheet" and attrs.get("href"):
            self.images.append(attrs["href"])

    def handle_data(self, data):
        self.text.append(data)


def _serve(root: Path):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def check_links(root: Path, base: str) -> list[str]:
    """Every internal link and image of every page, fetched from the server."""
    problems, checked = [], {}
    for page in sorted(root.rglob("*.html")):
        rel = page.relative_to(root).as_posix()
        if rel.startswith(("_static/", "_sources/", "_modules/")):
            continue  # theme templates and highlighted sources, not pages
        parser = _Links()
        parser.feed(page.read_text(errors="replace"))
        page_url = urljoin(base, rel)
        for kind, targets in (("link", parser.links), ("image", parser.images)):
            for target in targets:
                url = urldefrag(urljoin(page_url, target))[0]
                if urlparse(url).netloc != urlparse(base).netloc:
                    continue  # external: not checked offline
                if url not in checked:
                    checked[url] = _status(url)
                if checked[url] != 200:
                    problems.append(f"{rel}: broken {kind} {target} ({checked[url]})")
        if rel.startswith("generated/"):
            # An empty page: no object description, or one with no text (no docstring).
            html = page.read_text()
            desc = re.search(r'<dl class="py [^"]*">.*?<dd>(.*?)</dd>', html, re.S)
            words = re.sub(r"<[^>]+>", " ", desc.group(1)).split() if desc else []
            if len(words) < 3:
                problems.append(f"{rel}: empty API page ({len(words)} words of description)")
    return problems


def screenshots(base: str, out: Path) -> list[str]:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        return ["chromium not found (apt-get install chromium)"]
    out.mkdir(parents=True, exist_ok=True)
    problems = []
    for name, page in PAGES.items():
        png = out / f"{name}.png"
        png.unlink(missing_ok=True)
        cmd = [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1400,1800",
            f"--screenshot={png}",
            urljoin(base, page),
        ]
        subprocess.run(cmd, capture_output=True, timeout=120, check=False)
        if not png.is_file() or png.stat().st_size < 10_000:
            problems.append(f"{page}: no screenshot (or a blank one) at {png}")
        else:
            print(f"screenshot: {png}")
    return problems


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    root = Path(argv[0] if argv else Path(__file__).parent / "_build" / "html").resolve()
    if not (root / "index.html").is_file():
        print(f"no built site at {root}; run `make docs` first")
        return 1
    missing = [p for p in PAGES.values() if not (root / p).is_file()]
    server, base = _serve(root)
    try:
        problems = [f"missing page {p}" for p in missing]
        problems += check_links(root, base)
        problems += screenshots(base, root.parent / "screenshots")
    finally:
        server.shutdown()
    n_pages = len([p for p in root.rglob("*.html") if "_static" not in p.parts])
    for line in problems:
        print("FAIL", line)
    print(f"{n_pages} pages checked, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
