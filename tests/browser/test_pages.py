"""What a person sees in Jira: the panel, the issue context, the Drift field, the report and
the admin page, loaded by headless Chromium inside the sandbox's Jira host pages, for the
FEAT-304 story replayed through real webhooks."""

from __future__ import annotations

import csv
import re
from zoneinfo import ZoneInfo

import pytest
from artifacts import screenshot
from playwright.sync_api import expect

from connect_app.sandbox.stack import STAKEHOLDERS
from connect_app.sandbox.story import HOSTILE_TITLE

pytestmark = pytest.mark.browser

APP_KEY = "system-reality-for-jira"


def _iframe_height(page, selector: str) -> float:  # type: ignore[no-untyped-def]
    return float(page.eval_on_selector(selector, "f => f.getBoundingClientRect().height"))


def test_panel_tells_stakeholders_the_feature_is_no_longer_live(story_stack, page) -> None:
    story = story_stack.story
    served = page.goto(f"{story_stack.jira.base_url}/browse/FEAT-304").text()
    initial = int(re.search(r'id="system-reality-panel"[^>]*style="height: (\d+)px"', served).group(1))

    panel = page.frame_locator("#system-reality-panel")
    expect(panel.locator("h1")).to_have_text("No longer live in production")
    expect(panel.locator("#sr-since")).to_have_text("20 hours ago")
    expect(panel.locator("#sr-callout")).to_contain_text(
        "Jira says Done, but this feature is no longer live in production.")
    expect(panel.locator("#sr-callout").get_by_role("link", name="Open the drift report")).to_have_attribute(
        "href", re.compile(r"/plugins/servlet/ac/system-reality-for-jira/drift-report$"))
    expect(panel.locator("#sr-owner")).to_contain_text("Check with Olivia Operations, the business owner")
    expect(panel.locator("main")).not_to_contain_text("UTC")
    expect(panel.get_by_role("heading", name="What this means")).to_be_visible()
    expect(panel.locator("section", has=panel.get_by_role("heading", name="Still open"))).to_contain_text("FEAT-305")

    events = panel.locator("#sr-timeline > li")
    expect(events).to_have_count(5)
    expect(events.nth(0)).to_contain_text("The revert went live in production")
    expect(events.nth(1)).to_contain_text("Reverted")
    revert_link = events.nth(1).get_by_role("link", name=re.compile(story.revert_sha[:7]))
    expect(revert_link).to_have_attribute("href", re.compile(f"/commit/{story.revert_sha}$"))
    expect(events.nth(3)).to_contain_text("Pull request merged")
    expect(events.nth(4)).to_contain_text("FEAT-304: retry failed payments with exponential backoff")
    expect(events.nth(1).locator("time")).to_have_attribute("datetime", re.compile(r"^\d{4}-\d\d-\d\dT"))

    # The iframe was resized through AP.resize to fit the whole panel.
    page.wait_for_function("document.querySelector('#system-reality-panel').dataset.resized === 'true'")
    height = _iframe_height(page, "#system-reality-panel")
    assert height != initial and height > 300
    inner = panel.locator("body").evaluate("b => b.getBoundingClientRect().height")
    assert abs(height - inner) <= 2

    context = page.frame_locator("#issue-context")
    expect(context.locator(".sr-lozenge")).to_have_text("Reverted")
    expect(context.get_by_role("link", name="See what happened")).to_have_attribute("target", "_top")
    expect(page.locator("#drift-field")).to_have_text("reverted")
    expect(page.locator("#issue-labels")).to_have_text("drift-reverted")
    screenshot(page, "panel-feat-304")


def test_hostile_commit_message_is_shown_as_text(story_stack, page) -> None:
    page.goto(f"{story_stack.jira.base_url}/browse/FEAT-310")
    panel = page.frame_locator("#system-reality-panel")
    expect(panel.locator(".sr-event__title").filter(has_text="<script>")).to_have_text(f"FEAT-310: {HOSTILE_TITLE}")
    assert panel.locator(".sr-event__title img").count() == 0
    frame = page.frame(url=re.compile(r"/panel/issue\?"))
    assert frame is not None
    assert frame.evaluate("typeof window.__pwned") == "undefined"
    assert page.evaluate("typeof window.__pwned") == "undefined"
    screenshot(page, "panel-hostile-commit")


def test_panel_for_an_issue_without_code_says_who_to_ask(story_stack, page) -> None:
    # FEAT has linked changes (FEAT-304), so Jira shows the panel on its other issues too.
    story_stack.jira.add_issue("FEAT-320", "Saved cards", status="To Do", assignee=STAKEHOLDERS["assignee"][0])
    page.goto(f"{story_stack.jira.base_url}/browse/FEAT-320")
    panel = page.frame_locator("#system-reality-panel")
    expect(panel.locator("h1")).to_have_text("Nothing to report on FEAT-320 yet")
    expect(panel.locator("#sr-empty-ask")).to_contain_text(f"ask {STAKEHOLDERS['assignee'][1]}, who is assigned to it")
    tip = panel.locator("details.sr-dev-tip")
    expect(tip.get_by_text("git commit")).to_be_hidden()
    tip.locator("summary").click()
    expect(tip.get_by_text("git commit")).to_be_visible()
    expect(page.frame_locator("#issue-context").locator(".sr-lozenge")).to_have_text("Nothing yet")


def test_no_panel_where_nothing_links_code(story_stack, page) -> None:
    # An HR task in a project no code mentions: the conditions hide the panel and the context.
    story_stack.jira.add_issue("HR-7", "Plan the team offsite", status="To Do")
    page.goto(f"{story_stack.jira.base_url}/browse/HR-7")
    expect(page.locator("h1")).to_have_text("Plan the team offsite")
    expect(page.locator("#system-reality-panel")).to_have_count(0)
    expect(page.locator("#issue-context")).to_have_count(0)
    page.goto(f"{story_stack.jira.base_url}/browse/FEAT-304")
    expect(page.locator("#system-reality-panel")).to_have_count(1)


def test_report_lists_features_touched_in_the_chosen_window(story_stack, page) -> None:
    page.goto(f"{story_stack.jira.base_url}/plugins/servlet/ac/{APP_KEY}/drift-report")
    report = page.frame_locator("#app-page")
    status = report.locator("#sr-report-status")

    report.locator("#sr-window").select_option("48h")
    expect(status).to_have_text("3 features touched in the last 48 hours.")
    expect(report.locator("tr[data-issue]")).to_have_count(3)
    expect(report.locator("tr[data-issue='FEAT-307'] .sr-lozenge[data-state]")).to_have_text("Flag off")
    row = report.locator("tr[data-issue='FEAT-304']")
    expect(row.get_by_role("link", name="FEAT-304")).to_have_attribute(
        "href", f"{story_stack.jira.base_url}/browse/FEAT-304")
    expect(row.get_by_role("link", name="FEAT-304")).to_have_attribute("target", "_top")
    expect(row.locator(".sr-lozenge[data-state]")).to_have_text("Reverted")
    expect(report.locator("tr[data-issue='OPS-12'] .sr-lozenge[data-state]")).to_have_text("Rolled back")
    epics = report.locator("section.sr-epic")
    expect(epics.locator("h2")).to_have_text(["FEAT-300 Checkout reliability", "FEAT-302 Payment options",
                                              "OPS-1 Platform hardening"])
    expect(epics.first.locator(".sr-epic__head .sr-lozenge")).to_have_text("In Progress")

    report.locator("#sr-window").select_option("7d")
    expect(status).to_have_text("5 features touched in the last 7 days.")
    expect(report.locator("tr[data-issue='FEAT-310'] .sr-lozenge[data-state]")).to_have_text("Live")

    report.get_by_label("Project").fill("FEAT")
    report.locator("#sr-state").select_option("reverted")
    report.get_by_role("button", name="Show report").click()
    expect(status).to_have_text("1 feature touched in the last 7 days.")
    expect(report.locator("tr[data-issue]")).to_have_count(1)

    with page.expect_download() as download:
        report.get_by_role("button", name="Export CSV").click()
    csv_text = open(download.value.path(), encoding="utf-8").read()
    assert csv_text.splitlines()[0].startswith("epic,epic status,epic reality,issue")
    assert "1 of 2 features no longer fully live" in csv_text  # the epic header's roll-up
    assert "FEAT-304" in csv_text and "FEAT-310" not in csv_text and "OPS-12" not in csv_text

    assert _iframe_height(page, "#app-page") != 400
    screenshot(page, "report")


def test_admin_creates_a_connection_and_sees_its_secret_once(story_stack, page) -> None:
    page.goto(f"{story_stack.jira.base_url}/plugins/servlet/ac/{APP_KEY}/system-reality-admin")
    admin = page.frame_locator("#app-page")
    expect(admin.locator("#sr-connections")).to_contain_text("acme/shop")

    admin.get_by_label("Repository", exact=True).fill("acme/payments")
    admin.get_by_label("GitHub API address").fill(story_stack.github.api_url)
    admin.get_by_role("button", name="Connect repository").click()

    secret = admin.locator("#sr-new-webhook-secret")
    expect(secret).to_have_text(re.compile(r"^\S{20,}$"))
    expect(admin.locator("#sr-new-webhook-url")).to_have_text(
        re.compile(rf"^{re.escape(story_stack.app_url)}/github/webhook/\w+$"))
    expect(admin.locator("#sr-new-deploy-token")).to_have_text(re.compile(r"\S{20,}"))
    expect(admin.locator("#sr-created")).to_contain_text("application/json")
    expect(admin.locator("#sr-created")).to_contain_text("push, pull_request, deployment, deployment_status, release")
    expect(admin.locator("#sr-connections")).to_contain_text("acme/payments")
    shown_secret = secret.inner_text()
    screenshot(page, "admin-created")

    page.reload()
    admin = page.frame_locator("#app-page")
    expect(admin.locator("#sr-connections")).to_contain_text("acme/payments")
    expect(admin.locator("#sr-created")).to_be_hidden()
    assert shown_secret not in admin.locator("body").inner_text()


def test_a_stakeholder_sees_only_what_jira_lets_them_browse(story_stack, page) -> None:
    priya = "557058:pm-priya"
    story_stack.jira.restrict_browse(priya, "OPS")
    page.goto(f"{story_stack.jira.base_url}/plugins/servlet/ac/{APP_KEY}/drift-report?as={priya}")
    report = page.frame_locator("#app-page")
    expect(report.locator("#sr-report-status")).to_have_text("2 features touched in the last 48 hours.")
    expect(report.locator("tr[data-issue]")).to_have_count(2)
    expect(report.locator("tr[data-issue='FEAT-304']")).to_be_visible()
    expect(report.locator("tr[data-issue='OPS-12']")).to_have_count(0)
    # The admin page is not offered to her, and opening it directly is refused.
    expect(page.get_by_role("navigation", name="Jira").get_by_role("link", name="System Reality")).to_have_count(0)
    page.goto(f"{story_stack.jira.base_url}/plugins/servlet/ac/{APP_KEY}/system-reality-admin?as={priya}")
    expect(page.get_by_role("heading", name="Administrators only")).to_be_visible()


def test_sandbox_urls_open_the_pages_a_person_clicks_through(story_stack, page) -> None:
    from connect_app.sandbox.jira.host import sandbox_urls

    urls = sandbox_urls(story_stack.jira)
    page.goto(urls["issues"])
    page.get_by_role("link", name="FEAT-304").click()
    assert page.url.startswith(urls["issue"])
    expect(page.frame_locator("#system-reality-panel").locator("h1")).to_contain_text("No longer live")
    page.goto(urls["report"])
    expect(page.frame_locator("#app-page").locator("h1")).to_have_text("Drift report")
    page.goto(urls["admin"])
    expect(page.frame_locator("#app-page").locator("h1")).to_have_text("System Reality")


def test_times_are_in_the_viewers_jira_time_zone_and_locale(story_stack, page) -> None:
    # Jira tells the iframe the signed-in user's zone and locale (AP.user); UTC appears nowhere.
    story_stack.jira.add_user("557058:tokyo-taro", "Taro Tanaka", time_zone="Asia/Tokyo", locale="en_GB")
    redeployed = story_stack.story.redeployed_at.astimezone(ZoneInfo("Asia/Tokyo"))
    page.goto(f"{story_stack.jira.base_url}/browse/FEAT-304?as=557058:tokyo-taro")
    panel = page.frame_locator("#system-reality-panel")
    since = panel.locator("#sr-since")
    expect(since).to_have_text("20 hours ago")
    # en-GB puts the day before the month; the zone is Tokyo's, the hour Tokyo's.
    expect(since).to_have_attribute("title", re.compile(
        rf"{redeployed.day} {redeployed:%b} {redeployed.year}.* {redeployed:%H}:{redeployed:%M} GMT\+9$"))
    expect(panel.locator("#sr-timeline time").first).to_have_attribute("title", re.compile(r"GMT\+9$"))
    expect(page.locator(".comment time").first).to_contain_text("JST")

    # The report's custom range is typed in the viewer's zone: 09:00 in Tokyo is 00:00 UTC.
    page.goto(f"{story_stack.jira.base_url}/plugins/servlet/ac/{APP_KEY}/drift-report?as=557058:tokyo-taro")
    report = page.frame_locator("#app-page")
    expect(report.locator(".sr-viewer-zone").first).to_have_text("Asia/Tokyo")
    with page.expect_request(re.compile(r"/api/report\?.*since=2026-12-01T09%3A00%3A00%2B09%3A00")):
        report.locator("#sr-window").select_option("custom")
        report.locator("#sr-from").fill("2026-12-01T09:00")
        report.locator("#sr-report-form button[type=submit]").first.click()

    # The CSV gives each time as ISO-8601 with the viewer's offset.
    report.locator("#sr-window").select_option("7d")
    with page.expect_download() as download:
        report.get_by_role("button", name="Export CSV").click()
    rows = list(csv.DictReader(open(download.value.path(), encoding="utf-8")))
    assert rows and all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+09:00", row["when"]) for row in rows)
    assert story_stack.admin("GET", "/api/report?format=csv&tz=Mars/Olympus").status_code == 400
