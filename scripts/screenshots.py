"""Screenshots for the README, from the real app: the story `connect-app demo` tells
(`connect_app.sandbox.story.build_story`) replayed on the loopback stack (signed install, GitHub
webhooks, the worker), shown in the sandbox's Jira pages by Debian's Chromium.

    .venv/bin/python scripts/screenshots.py            # writes docs/panel.png, report.png, assistants.png
    .venv/bin/python scripts/screenshots.py --out /tmp
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from connect_app.sandbox.stack import Stack
from connect_app.sandbox.story import build_story

if TYPE_CHECKING:
    from playwright.sync_api import Page

ROOT = Path(__file__).resolve().parent.parent

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
APP_KEY = "system-reality-for-jira"


def take(out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as workdir, Stack(Path(workdir)) as stack:
        stack.seed_jira()
        build_story(stack)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900}, device_scale_factor=1,
                                    color_scheme="light")
            page.goto(f"{stack.jira.base_url}/browse/FEAT-304")
            page.wait_for_function("document.querySelector('#system-reality-panel').dataset.resized === 'true'")
            page.frame_locator("#issue-context").locator(".sr-lozenge").wait_for()
            panel = out / "panel.png"
            page.screenshot(path=str(panel), full_page=True)

            page.set_viewport_size({"width": 1280, "height": 1180})  # the whole 7-day story, OPS-12 included
            page.goto(f"{stack.jira.base_url}/plugins/servlet/ac/{APP_KEY}/drift-report")
            report_frame = page.frame_locator("#app-page")
            report_frame.locator("#sr-window").select_option("7d")
            report_frame.locator("#sr-report-status").filter(has_text="last 7 days").wait_for()
            report = out / "report.png"
            page.screenshot(path=str(report), full_page=True)

            assistants = take_assistants(page, stack.jira.base_url, out)
            browser.close()
    return [panel, report, assistants]


def take_assistants(page: Page, jira_url: str, out: Path) -> Path:
    """The AI assistants page just after a token was made: the token shown once, the client
    configuration to copy, and the token listed (the sandbox stops, and its token with it)."""
    page.set_viewport_size({"width": 1280, "height": 1150})
    page.goto(f"{jira_url}/plugins/servlet/ac/{APP_KEY}/ai-assistants")
    frame = page.frame_locator("#app-page")
    frame.get_by_label("Name").fill("Laptop assistant")
    frame.get_by_role("button", name="Make token").click()
    frame.locator("#sr-client-config").wait_for()
    frame.locator("#sr-token-table").filter(has_text="Laptop assistant").wait_for()
    path = out / "assistants.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="where to write the PNGs (default: docs/)")
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        print(f"Chromium is not installed at {CHROMIUM}: apt-get install -y chromium", file=sys.stderr)
        return 2
    for path in take(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
