"""Site figures for the issue notes: build time and the weight of each page.

Run: .venv/bin/python benchmarks/site.py [--builds 3] [--pages N]
Build time is the median of three clean `mkdocs build` runs (--builds); a page's weight is every
byte the browser receives to show it with an empty cache (HTML, CSS, scripts, images,
search index).
"""

from __future__ import annotations

import argparse
import functools
import http.server
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("ATELIER_CHROMIUM", "/usr/bin/chromium")


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def build(out: Path) -> float:
    start = time.perf_counter()
    subprocess.run(
        [str(Path(sys.executable).parent / "mkdocs"), "build", "-q", "-d", str(out)],
        cwd=ROOT,
        check=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--builds", type=int, default=3, help="clean builds to time (default 3)")
    parser.add_argument("--pages", type=int, default=None, help="weigh only the first N pages (default all)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="atelier-site-") as scratch:
        out = Path(scratch) / "site"
        seconds = statistics.median(build(out) for _ in range(args.builds))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(out)))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_address[1]}/"
        pages = sorted(p.relative_to(out).parent.as_posix() for p in out.rglob("index.html"))[: args.pages]
        weights = {}
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            for page_path in pages:
                context = browser.new_context()  # empty cache for each page
                page = context.new_page()
                received: list[int] = []
                page.on("requestfinished", lambda r, received=received: received.append(r.sizes()["responseBodySize"]))
                url = base + ("" if page_path == "." else page_path + "/")
                page.goto(url, wait_until="networkidle")
                weights[url.removeprefix(base) or "/"] = sum(received)
                context.close()
            browser.close()
        server.shutdown()
    print(f"build: {seconds:.2f} s (median of {args.builds}), {len(pages)} pages")
    for url, size in sorted(weights.items(), key=lambda item: -item[1]):
        print(f"{size / 1024:8.1f} KiB  {url}")


if __name__ == "__main__":
    main()
