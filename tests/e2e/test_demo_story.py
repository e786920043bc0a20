"""The story `connect-app demo`, the browser tests and the README screenshots tell: relative to
now, so the 48-hour report and `driftSince >= -2d` show it on any day, and whole."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from connect_app.sandbox.story import build_story


def test_the_whole_story_is_recent_whatever_the_day(stack) -> None:  # type: ignore[no-untyped-def]
    story = build_story(stack)
    ago = datetime.now(UTC) - story.redeployed_at
    assert timedelta(hours=19, minutes=30) <= ago <= timedelta(hours=20, minutes=30)

    drifts = {key: issue["properties"].get("system-reality", {}).get("drift")
              for key, issue in stack.jira.issues.items()}
    assert {k: drifts[k] for k in ("FEAT-304", "OPS-12", "FEAT-306", "FEAT-307", "FEAT-310")} == {
        "FEAT-304": "reverted", "OPS-12": "rolled-back", "FEAT-306": "hotfixed", "FEAT-307": "flag-off",
        "FEAT-310": "live"}
    assert sorted(stack.search("driftSince >= -2d AND issuetype != Epic")) == [
        "FEAT-304", "FEAT-306", "FEAT-307", "OPS-12"]
    # Their epics carry the roll-up (INTERFACES 3), so a product manager finds them too.
    assert sorted(stack.search("driftSince >= -2d AND issuetype = Epic")) == sorted(
        stack.search("driftedChildren > 0"))

    report = stack.admin("GET", "/api/report?since=48h").json()
    touched = {f["key"] for g in report["groups"] for f in g["features"]}
    assert {"FEAT-304", "OPS-12", "FEAT-307"} <= touched

    panel = stack.admin("GET", "/api/issues/FEAT-304/reality").json()
    assert sorted(i["key"] for i in panel["still_open"]) == ["BUG-901", "FEAT-305"]
    assert panel["reverted_by"] == "Sam Oncall"
    assert panel["revert_reason"].startswith("Card retries charged some customers twice")
    assert panel["timeline"][0]["title"] == "The revert went live in production"

    # The pay-later flag names FEAT-307 though no commit does: its panel tells it, not an empty state.
    flagged = stack.admin("GET", "/api/issues/FEAT-307/reality").json()
    assert flagged["has_changes"] is True
    assert flagged["headline"] == "Switched off in production"
    assert flagged["what_happened"] == "The feature flag “pay-later” was switched off in production."

    # The projects whose issues have linked changes are marked once, for the panel's conditions.
    marked = {key for key, project in stack.jira.state.projects.items() if "system-reality" in project["properties"]}
    assert marked == {"FEAT", "OPS"}
    def project_writes() -> int:
        return len([c for c in stack.jira.writes() if "/project/" in c.path])

    assert project_writes() == 2
    # Another FEAT issue gets its first linked change: the project is already marked, no write.
    stack.jira.add_issue("FEAT-311", "Receipts by email", status="In Progress", parent="FEAT-300")
    stack.github.push("FEAT-311: email receipts", {"checkout/receipts.py": "EMAIL = True\n"})
    stack.settle()
    assert "system-reality" in stack.jira.issues["FEAT-311"]["properties"]
    assert project_writes() == 2


def test_the_comment_says_who_reverted_and_why(stack) -> None:  # type: ignore[no-untyped-def]
    build_story(stack)
    comments = stack.jira.issues["FEAT-304"]["comments"]
    assert len(comments) == 1
    words = str(comments[0]["body"])
    assert "Sam Oncall reverted it: “Card retries charged some customers twice" in words
    assert "github:" not in words and "UTC" not in words
