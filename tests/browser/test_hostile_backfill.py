"""A poisoned repository API seen from the admin page (issue 9): the admin starts a backfill of a
connection whose API answers a parent cycle (the GitHub simulator's hostile mode); the backfill
ends, and the admin page says on that connection that it failed and why, while the honest
connection beside it still reads "History read"."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from playwright.sync_api import expect

from connect_app.connect.descriptor import APP_KEY
from connect_app.sandbox.github.gitrepo import GitRepo
from connect_app.sandbox.github.simulator import GitHubSimulator

pytestmark = pytest.mark.browser


def test_the_admin_page_shows_a_poisoned_backfill_failed_on_its_connection(
        story_stack, page, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    hostile = GitHubSimulator(GitRepo(tmp_path / "evil"), full_name="evil/repo").start()
    hostile.go_hostile("parent-cycle")
    try:
        created = story_stack.admin("POST", "/api/connections", {"repository": "evil/repo",
                                                                 "api_url": hostile.api_url, "token": "t"})
        assert created.status_code == 201, created.text
        honest_id = next(c["id"] for c in story_stack.admin("GET", "/api/connections").json()
                         if c["repository"] == "acme/shop")
        assert story_stack.admin("POST", f"/api/connections/{honest_id}/backfill", {}).status_code == 202
        story_stack.settle()

        page.goto(f"{story_stack.jira.base_url}/plugins/servlet/ac/{APP_KEY}/system-reality-admin")
        admin = page.frame_locator("#app-page")
        evil_row = admin.locator("#sr-connections tr", has_text="evil/repo")
        expect(evil_row).to_be_visible()
        evil_row.get_by_role("button", name="Backfill history").click()
        expect(admin.locator("#sr-connections")).to_contain_text("queued")
        # The worker runs the backfill the page queued; it ends on the cycle, well inside a second.
        worker = threading.Thread(target=story_stack.settle)
        worker.start()
        worker.join(timeout=30)
        assert not worker.is_alive(), "the poisoned backfill held the worker"

        expect(evil_row).to_contain_text("Backfill failed", timeout=15_000)
        expect(evil_row).to_contain_text("cycle")
        expect(admin.locator("#sr-connections tr", has_text="acme/shop")).to_contain_text("History read")
        assert hostile.traps_reached() == []
    finally:
        hostile.stop()
