"""Jira's own surfaces, as a person sees them on the sandbox's Jira pages: the issue's Releases
area (deployments and flags the app submitted to Jira Software's bulk APIs) and the epic's panel
and report header rolling up its features."""

from __future__ import annotations

import re

import pytest
from artifacts import screenshot
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

APP_KEY = "system-reality-for-jira"


def test_releases_area_says_rolled_back_where_the_panel_says_no_longer_live(story_stack, page) -> None:
    page.goto(f"{story_stack.jira.base_url}/browse/FEAT-304")
    releases = page.locator("#releases")
    expect(releases.get_by_role("heading", name="Releases")).to_be_visible()
    production = releases.locator("li.release[data-state]")
    expect(production).to_have_count(1)
    expect(production).to_contain_text(re.compile(r"^Rolled back\s+in production"))
    expect(production.get_by_role("link")).to_have_attribute("href", re.compile(
        rf"/commit/{story_stack.story.revert_sha}$"))
    expect(page.frame_locator("#system-reality-panel").locator("h1")).to_contain_text("No longer live")
    screenshot(page, "releases-feat-304")

    for key, words in (("OPS-12", "Rolled back"), ("FEAT-310", "Deployed")):
        page.goto(f"{story_stack.jira.base_url}/browse/{key}")
        shown = page.locator("#releases li.release[data-state]")
        expect(shown).to_contain_text(re.compile(rf"^{words}\s+in production"))


def test_the_epic_panel_lists_its_features_and_their_reality(story_stack, page) -> None:
    page.goto(f"{story_stack.jira.base_url}/browse/FEAT-300")
    panel = page.frame_locator("#system-reality-panel")
    expect(panel.locator("h1")).to_have_text("1 of 2 features no longer fully live")
    expect(panel.locator("main")).not_to_contain_text("No code mentions")
    expect(panel.locator(".sr-headline .sr-lozenge")).to_have_text("Reverted")
    features = panel.locator("#sr-rollup-list > li")
    expect(features).to_have_count(2)
    expect(features.nth(0)).to_contain_text("FEAT-304")
    expect(features.nth(0)).to_contain_text("Payment retry logic v2")
    expect(features.nth(0).locator(".sr-lozenge")).to_have_text("Reverted")
    expect(features.nth(1)).to_contain_text("FEAT-310")
    expect(features.nth(1).locator(".sr-lozenge")).to_have_text("Live")
    expect(features.nth(0).get_by_role("link", name="FEAT-304")).to_have_attribute("target", "_top")
    expect(panel.locator(".sr-summary")).to_have_text("FEAT-304 reverted.")
    expect(page.locator("#drift-field")).to_have_text("reverted")
    context = page.frame_locator("#issue-context")
    expect(context.locator(".sr-lozenge")).to_have_text("Reverted")
    expect(context.locator("main")).to_contain_text("1 of 2 features no longer fully live.")
    screenshot(page, "panel-epic-feat-300")


def test_the_report_epic_header_says_what_the_epic_panel_says(story_stack, page) -> None:
    page.goto(f"{story_stack.jira.base_url}/plugins/servlet/ac/{APP_KEY}/drift-report")
    report = page.frame_locator("#app-page")
    report.locator("#sr-window").select_option("7d")
    epic = report.locator("section.sr-epic").filter(has=report.get_by_role("link", name="FEAT-300"))
    expect(epic.locator(".sr-epic__rollup")).to_have_text("Reverted 1 of 2 features no longer fully live")
