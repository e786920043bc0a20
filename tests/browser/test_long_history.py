"""A feature with a long history: the panel shows the newest 50 events and loads older ones on
request, with the context JWT, into the same timeline."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from artifacts import screenshot
from playwright.sync_api import expect
from sqlalchemy import select

from connect_app.jobs.kinds import queue_recompute
from connect_app.reality.model import Commit, Segment
from connect_app.store.db import transaction
from connect_app.store.facts import record_commit, record_segment
from connect_app.store.models import Tenant

pytestmark = pytest.mark.browser


def _record_history(stack, key: str, count: int) -> None:  # type: ignore[no-untyped-def]
    created = stack.admin("POST", "/api/connections", {"provider": "github", "repository": "acme/long",
                                                       "api_url": "http://127.0.0.1:9/api/v3"})
    created.raise_for_status()
    connection_id = created.json()["id"]
    start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    shas: list[str] = []
    with transaction(stack.svc.sessions) as session:
        for n in range(count):
            sha = hashlib.sha1(f"long-{n}".encode()).hexdigest()
            record_commit(session, connection_id, Commit(
                sha=sha, message=f"{key}: step {n + 1}", timestamp=start + timedelta(hours=n),
                parents=(shas[-1],) if shas else (), url=f"https://github.com/acme/long/commit/{sha}"))
            shas.append(sha)
        record_segment(session, connection_id, Segment(before=None, after=shas[-1], commits=tuple(shas)))
        queue_recompute(session, session.scalar(select(Tenant)).id)
    stack.settle()


def test_show_older_events_loads_the_next_page(stack, browser) -> None:
    stack.jira.add_issue("FEAT-400", "Checkout redesign", status="In Progress")
    stack.install()
    _record_history(stack, "FEAT-400", 75)

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(f"{stack.jira.base_url}/browse/FEAT-400")
        panel = page.frame_locator("#system-reality-panel")
        events = panel.locator("#sr-timeline > li")
        expect(events).to_have_count(50)
        expect(events.first).to_contain_text("FEAT-400: step 75")
        expect(panel.locator("#sr-timeline-count")).to_have_text("Newest 50 of 75 events")
        page.wait_for_function("document.querySelector('#system-reality-panel').dataset.resized === 'true'")
        before = page.eval_on_selector("#system-reality-panel", "f => f.getBoundingClientRect().height")

        panel.get_by_role("button", name="Show older events").click()
        expect(events).to_have_count(75)
        expect(events.nth(50)).to_contain_text("FEAT-400: step 25")
        expect(events.last).to_contain_text("FEAT-400: step 1")
        expect(events.nth(50).get_by_role("link")).to_have_attribute("href", "https://github.com/acme/long/commit/"
                                                                      + hashlib.sha1(b"long-24").hexdigest())
        expect(panel.locator("#sr-timeline-count")).to_have_text("75 events, newest first")
        expect(panel.get_by_role("button", name="Show older events")).to_have_count(0)
        # Focus moves to the first newly loaded event for keyboard and screen reader users.
        assert panel.locator(":focus").inner_text().startswith("Code change")
        grown = "h => document.querySelector('#system-reality-panel').getBoundingClientRect().height > h"
        page.wait_for_function(grown, arg=before)
        screenshot(page, "panel-long-history")
    finally:
        page.close()
