"""The admin page as a Jira admin uses it: pickers filled from Jira (names shown, ids stored),
a pasted repository address, production environments asked once, which statuses count as Done,
flag-source setup with a test delivery, help links, a dry run of an unsaved policy, and
messages that say what to do."""

from __future__ import annotations

import re

import pytest
from artifacts import screenshot
from playwright.sync_api import expect

from connect_app.sandbox.stack import OWNER_FIELD

pytestmark = pytest.mark.browser

APP_KEY = "system-reality-for-jira"


def _open_admin(stack, page):  # type: ignore[no-untyped-def]
    page.goto(f"{stack.jira.base_url}/plugins/servlet/ac/{APP_KEY}/system-reality-admin")
    admin = page.frame_locator("#app-page")
    expect(admin.locator("#sr-connections")).to_contain_text("acme/shop")
    return admin


def test_business_owner_project_reopen_and_done_are_picked_from_jira(story_stack, page) -> None:
    admin = _open_admin(story_stack, page)
    owner = admin.get_by_label("Business-owner field")
    expect(owner.locator("option:checked")).to_have_text("Business owner")
    expect(owner.locator("option")).to_have_text(["No business-owner field", "Business owner", "Product owners"])
    owner.select_option(label="Product owners")

    admin.get_by_role("button", name="Add a project").click()
    row = admin.locator("#sr-projects tbody tr").last
    row.get_by_label("Project", exact=True).select_option(label="Checkout features (FEAT)")
    row.get_by_label("Policy").select_option("reopen")
    reopen = row.get_by_label("Reopen to status")
    expect(reopen.locator("option")).to_have_text(
        ["First status that is not Done", "To Do", "In Progress", "Reopened"])
    expect(row.get_by_label("Done counts as Done in FEAT")).to_be_checked()
    expect(row.get_by_label("In Progress counts as Done in FEAT")).not_to_be_checked()
    row.get_by_label("In Progress counts as Done in FEAT").check()
    expect(reopen.locator("option")).to_have_count(4)  # a status counted as Done is still offered until reloaded
    reopen.select_option("Reopened")
    admin.get_by_role("button", name="Save policy").click()
    expect(admin.locator("#sr-admin-status")).to_contain_text("Policy saved")
    screenshot(page, "admin-policy-pickers")

    saved = story_stack.admin("GET", "/api/settings").json()
    assert saved["business_owner_field"] == "customfield_10051"
    assert saved["projects"]["FEAT"] == {"policy": "reopen", "reopen_to": "Reopened",
                                         "done_statuses": ["In Progress", "Done"]}
    # Shown again after a reload, by name.
    page.reload()
    admin = page.frame_locator("#app-page")
    expect(admin.get_by_label("Business-owner field").locator("option:checked")).to_have_text("Product owners")
    row = admin.locator("#sr-projects tbody tr").first
    expect(row.get_by_label("Project", exact=True).locator("option:checked")).to_have_text("Checkout features (FEAT)")
    expect(row.get_by_label("In Progress counts as Done in FEAT")).to_be_checked()
    expect(row.get_by_label("Reopen to status").locator("option")).to_have_text(
        ["First status that is not Done", "To Do", "Reopened"])
    assert story_stack.admin("PUT", "/api/settings", {"business_owner_field": OWNER_FIELD}).status_code == 200


def test_a_pasted_repository_address_fills_owner_and_name(story_stack, page) -> None:
    admin = _open_admin(story_stack, page)
    repository = admin.get_by_label("Repository", exact=True)
    repository.fill("https://github.com/acme/payments.git")
    expect(repository).to_have_value("acme/payments")
    expect(admin.locator("#sr-repository-filled")).to_have_text(
        "Filled in acme/payments from the address you pasted.")
    admin.get_by_label("GitHub API address").fill(story_stack.github.api_url)
    admin.get_by_role("button", name="Connect repository").click()
    expect(admin.locator("#sr-connections")).to_contain_text("acme/payments")
    for pasted, expected in (("git@github.com:acme/web.git", "acme/web"),
                             ("https://github.com/acme/web/tree/main/src", "acme/web")):
        repository.fill(pasted)
        expect(repository).to_have_value(expected)


def test_an_address_the_app_may_not_call_says_what_to_do(story_stack, page) -> None:
    admin = _open_admin(story_stack, page)
    admin.get_by_label("Repository", exact=True).fill("acme/internal")
    admin.get_by_label("GitHub API address").fill("https://github.internal.example/api/v3")
    admin.get_by_role("button", name="Connect repository").click()
    status = admin.locator("#sr-admin-status")
    expect(status).to_contain_text("may not call")
    expect(status).to_contain_text("https://api.github.com")
    expect(status).to_contain_text("ask whoever runs System Reality")
    assert "ALLOWED_" not in status.inner_text()


def test_production_environments_are_asked_for_once(story_stack, page) -> None:
    admin = _open_admin(story_stack, page)
    expect(admin.get_by_label(re.compile("production environment", re.IGNORECASE))).to_have_count(1)
    expect(admin.locator("#sr-prod-envs-help")).to_contain_text("for every repository and flag source")


def test_flag_setup_steps_per_vendor_and_a_test_delivery(story_stack, page) -> None:
    admin = _open_admin(story_stack, page)
    connection = next(c["id"] for c in story_stack.admin("GET", "/api/connections").json()
                      if c["repository"] == "acme/shop")
    vendor = admin.get_by_label("Flag service")
    steps = admin.locator("#sr-flag-steps")
    expect(steps).to_contain_text("Sign this webhook")
    expect(admin.locator("#sr-flag-url")).to_have_text(f"{story_stack.app_url}/flags/launchdarkly/{connection}")
    expect(steps.get_by_role("link", name="LaunchDarkly's guide to webhooks")).to_have_attribute(
        "href", "https://docs.launchdarkly.com/home/connecting/webhooks")
    vendor.select_option(label="Unleash")
    expect(steps).to_contain_text("feature-environment-disabled")
    expect(admin.locator("#sr-flag-url")).to_have_text(f"{story_stack.app_url}/flags/unleash/{connection}")
    vendor.select_option(label="Another service or a script")
    expect(steps).to_contain_text("Authorization: Bearer <deploy token>")

    admin.get_by_role("button", name="Send a test delivery").click()
    result = admin.locator("#sr-flag-test-result")
    expect(result).to_contain_text("The test delivery reached System Reality")
    screenshot(page, "admin-flag-setup")


def test_help_links_open_the_guides_in_a_new_tab(story_stack, page) -> None:
    admin = _open_admin(story_stack, page)
    for name, href in (("How to create a read-only token", "docs.github.com"),
                       ("How to add a webhook in GitHub", "docs.github.com"),
                       ("About statuses and their categories", "support.atlassian.com")):
        link = admin.get_by_role("link", name=name)
        expect(link).to_have_attribute("href", re.compile(rf"^https://{re.escape(href)}/"))
        expect(link).to_have_attribute("target", "_blank")


def test_the_dry_run_previews_the_policy_on_the_form_before_it_is_saved(story_stack, page) -> None:
    admin = _open_admin(story_stack, page)
    admin.get_by_label("Default for all projects").select_option("observe")
    admin.get_by_role("button", name="Preview the policy above before saving").click()
    result = admin.locator("#sr-dry-run")
    expect(result).to_contain_text("Under the policy above, not saved yet")
    row = result.locator("tr", has_text="FEAT-304")
    expect(row).to_contain_text("observe")
    expect(row).to_contain_text("Remove the label drift-reverted")
    # Nothing was saved: the saved policy still comments, and Jira is up to date under it.
    admin.get_by_role("button", name="Show what would change").click()
    expect(result).to_contain_text("Under the saved policy")
    expect(result.locator("tr", has_text="FEAT-304")).to_contain_text("Nothing: Jira is up to date")
    assert story_stack.admin("GET", "/api/settings").json()["default_policy"] == "comment"
    # Narrowed to one epic's features, picked from Jira's epics of the project.
    admin.get_by_label("Project", exact=True).select_option(label="Checkout features (FEAT)")
    epic = admin.get_by_label("Epic", exact=True)
    epic.select_option(label="Checkout reliability (FEAT-300)")
    expect(result).to_contain_text("OPS-12")  # all projects so far
    admin.get_by_role("button", name="Show what would change").click()
    expect(result).not_to_contain_text("OPS-12")
    expect(result).to_contain_text("FEAT-304")
    for issue in result.locator("tbody tr td:first-child").all_inner_texts():
        assert issue in ("FEAT-304", "FEAT-305", "FEAT-310"), issue
