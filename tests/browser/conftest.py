"""Browser fixtures: one headless Debian Chromium per session (never a downloaded browser), and
one FEAT-304 story stack per test module, shown through the sandbox's Jira host pages."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# The story and artifact helpers beside this file are plain modules, not a package.
sys.path.insert(0, str(Path(__file__).resolve().parent))

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not os.path.exists(CHROMIUM):
        pytest.skip("Chromium not installed at /usr/bin/chromium: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


@pytest.fixture(scope="module")
def story_stack(tmp_path_factory: pytest.TempPathFactory, browser, start_migrated):  # type: ignore[no-untyped-def]
    from connect_app.sandbox.stack import Stack
    from connect_app.sandbox.story import build_story

    workdir = tmp_path_factory.mktemp("browser-stack")
    start_migrated(f"sqlite:///{workdir / 'app.db'}")
    with Stack(workdir) as running:
        running.seed_jira()
        running.story = build_story(running)
        yield running
        assert running.jira.violations == [], "requests or responses outside the Jira OpenAPI spec"
