"""The admin page offers GitHub, GitLab and Bitbucket Cloud, and shows each host's own webhook
settings once the repository is connected."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from connect_app.connect.descriptor import APP_KEY

pytestmark = pytest.mark.browser


def test_admin_connects_a_gitlab_project_and_sees_gitlabs_webhook_settings(story_stack, page) -> None:
    page.goto(f"{story_stack.jira.base_url}/plugins/servlet/ac/{APP_KEY}/system-reality-admin")
    admin = page.frame_locator("#app-page")
    expect(admin.locator("#sr-connections")).to_contain_text("acme/shop")

    admin.get_by_label("Host").select_option("gitlab")
    api = admin.get_by_label("GitLab API address")
    expect(api).to_have_value("https://gitlab.com/api/v4")
    # A self-managed GitLab's address rarely says gitlab: the project keeps its whole group path.
    repository = admin.get_by_label("Repository", exact=True)
    repository.fill("https://git.example.com/acme/checkout/payments/-/tree/main")
    expect(repository).to_have_value("acme/checkout/payments")
    api.fill("http://127.0.0.1:9/api/v4")
    admin.get_by_role("button", name="Connect repository").click()

    expect(admin.locator("#sr-new-webhook-url")).to_have_text(
        re.compile(rf"^{re.escape(story_stack.app_url)}/gitlab/webhook/\w+$"))
    created = admin.locator("#sr-created")
    expect(created).to_contain_text("open the project's Settings → Webhooks")
    expect(created).to_contain_text("Secret token")
    expect(created).to_contain_text("Merge request events")
    expect(admin.locator("#sr-connections")).to_contain_text("acme/checkout/payments")
    # The form is back to its default host for the next repository.
    expect(admin.get_by_label("GitHub API address")).to_have_value("https://api.github.com")


def test_admin_offers_bitbucket_cloud(story_stack, page) -> None:
    page.goto(f"{story_stack.jira.base_url}/plugins/servlet/ac/{APP_KEY}/system-reality-admin")
    admin = page.frame_locator("#app-page")
    admin.get_by_label("Host").select_option("bitbucket")
    expect(admin.get_by_label("Bitbucket API address")).to_have_value("https://api.bitbucket.org/2.0")
    expect(admin.get_by_label("Repository", exact=True)).to_have_attribute("placeholder", "workspace/repo_slug")
