"""The panel and context templates on their own (no browser, no Jira): every kind of timeline
event in words, unconfirmed reverts, pagination, and hostile text escaped everywhere."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import render_template

from connect_app import create_app
from connect_app.config import load_settings

HOSTILE = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    workdir: Path = tmp_path_factory.mktemp("templates")
    return create_app(load_settings({
        "APP_BASE_URL": "https://reality.example", "DATABASE_URL": f"sqlite:///{workdir / 'app.db'}",
        "INSTANCE_PATH": str(workdir / "instance"), "APP_SECRET_KEY": "x" * 48,
    }))


def event(kind: str, title: str, **extra: object) -> dict[str, object]:
    return {"kind": kind, "when": "2026-11-25T23:31:00Z", "when_text": "Wed 25 Nov at 23:31 UTC", "title": title,
            "sha": "a1b2c3d4e5", "short": "a1b2c3d", "url": "https://github.com/acme/shop/commit/a1b2c3d4e5",
            "environment": None, **extra}


def view(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "issue": {"key": "FEAT-304", "summary": HOSTILE, "status": "Done", "done": True},
        "drift": "reverted", "label": "Reverted", "in_drift": True, "has_changes": True,
        "headline": "No longer live in production", "since_text": "Wed 25 Nov at 23:31 UTC",
        "summary": f"{HOSTILE} was reverted.", "since": "2026-11-25T23:31:00Z", "environment": "production",
        "changes": 1, "reverted": 1, "cause": {},
        "callout": "Jira says Done, but this feature is no longer live in production.",
        "meaning": "Customer commitments made on this feature cannot be delivered until it is restored.",
        "timeline": [], "timeline_total": 0, "timeline_page": 1, "timeline_pages": 1,
        "unconfirmed_reverts": [], "still_open": [{"key": "FEAT-305", "summary": HOSTILE, "status": "To Do"}],
    }
    base.update(overrides)
    return base


def render(app, template: str, data: dict[str, object]) -> str:  # type: ignore[no-untyped-def]
    with app.test_request_context("/panel/issue"):
        return render_template(template, view=data, host_base_url="https://acme.atlassian.net",
                               connect_js="https://acme.atlassian.net/atlassian-connect/all.js")


def test_every_event_kind_is_told_in_words(app) -> None:  # type: ignore[no-untyped-def]
    timeline = [
        event("flag", "Flag new-checkout turned off", environment="production"),
        event("rollback", "Production rolled back to 9f8e7d6", environment="production"),
        event("hotfix", "Hotfix: guard against double charge"),
        event("unconfirmed-revert", "undo the retry thing"),
        event("deployment", "a1b2c3d deployed to production", environment="production", url=None),
        event("revert", HOSTILE),
        event("pull-request", "FEAT-304 Payment retry (#1)", url="https://github.com/acme/shop/pull/1"),
        event("commit", "FEAT-304: retry"),
    ]
    html = render(app, "panel.html", view(timeline=timeline, timeline_total=8,
                                          unconfirmed_reverts=[event("unconfirmed-revert", "undo the retry thing")]))
    for words in ("Feature flag changed in production", "Rolled back in production", "Hotfix",
                  "Possibly reverted, not confirmed", "Deployed to production", "Reverted", "Pull request merged",
                  "Code change", "Jira and reality disagree", "What this means", "Still open"):
        assert words in html
    assert '<time class="sr-event__when" datetime="2026-11-25T23:31:00Z" data-sr-time="relative">' in html
    assert "<script>alert(1)" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    # A deployment without a link shows its SHA as code, not as a dead link.
    assert '<code class="sr-sha">a1b2c3d</code>' in html
    assert 'href="https://acme.atlassian.net/browse/FEAT-305" target="_top"' in html


def test_a_link_that_is_not_http_is_not_a_link(app) -> None:  # type: ignore[no-untyped-def]
    html = render(app, "panel.html", view(timeline=[event("commit", "x", url="javascript:alert(1)")], timeline_total=1))
    assert "javascript:" not in html


def test_long_histories_offer_older_events(app) -> None:  # type: ignore[no-untyped-def]
    timeline = [event("commit", f"FEAT-304: step {n}") for n in range(50)]
    html = render(app, "panel.html", view(timeline=timeline, timeline_total=120, timeline_pages=3))
    assert "Newest 50 of 120 events" in html
    assert 'id="sr-older" data-next-page="2"' in html and "Show older events" in html
    last_page = render(app, "panel.html", view(timeline=timeline[:20], timeline_total=120, timeline_page=3,
                                               timeline_pages=3))
    assert "Show older events" not in last_page


def test_empty_state_says_who_to_ask_and_folds_the_developer_tip_away(app) -> None:  # type: ignore[no-untyped-def]
    html = render(app, "panel.html", view(has_changes=False, drift="live", label="Live", callout=None, meaning=None,
                                          issue={"key": "FEAT-9", "summary": "Saved cards", "status": "To Do",
                                                 "done": False, "assignee": "Alana Grant"}))
    assert "Nothing to report on FEAT-9 yet" in html
    assert "ask Alana Grant, who is assigned to it," in html
    tip = html[html.index("<details"):html.index("</details>")]
    assert "Put the key in a commit message, branch name or pull request title" in tip
    assert "git commit" in tip and "git commit" not in html.replace(tip, "")
    assert "What happened" not in html
    unassigned = render(app, "panel.html", view(has_changes=False, drift="live", label="Live", callout=None,
                                                meaning=None, issue={"key": "FEAT-9", "summary": "Saved cards",
                                                                     "status": "To Do", "done": False}))
    assert "ask the team working on it" in unassigned


def test_context_shows_the_state_lozenge(app) -> None:  # type: ignore[no-untyped-def]
    html = render(app, "context.html", view(drift="rolled-back", label="Rolled back"))
    assert 'class="sr-lozenge sr-lozenge--removed" data-state="rolled-back">Rolled back</span>' in html
    live = render(app, "context.html", view(drift="live", label="Live", in_drift=False))
    assert 'sr-lozenge--success" data-state="live">Live<' in live
