"""The words people read, and ADF that Jira accepts."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from connect_app.reality.model import DRIFT_STATES, Drift
from connect_app.reality.story import (
    drift_comment_adf,
    format_when,
    headline,
    restore_comment_adf,
    state_label,
    summary,
)

SHA = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"
WHEN = datetime(2025, 11, 26, 23, 31, tzinfo=UTC)

# Which ADF node may hold which children (the subset of the ADF schema we emit).
ALLOWED = {
    "doc": {"paragraph", "bulletList"},
    "paragraph": {"text", "mention"},
    "bulletList": {"listItem"},
    "listItem": {"paragraph", "bulletList"},
}
MARKS = {"strong", "link"}


def check_adf(node, parent="root"):
    kind = node["type"]
    if parent == "root":
        assert kind == "doc" and node["version"] == 1
    else:
        assert kind in ALLOWED[parent], f"{kind} inside {parent}"
    if kind == "text":
        assert isinstance(node["text"], str) and node["text"], "Jira rejects empty text nodes"
        for mark in node.get("marks", []):
            assert mark["type"] in MARKS
            if mark["type"] == "link":
                assert mark["attrs"]["href"].startswith("https://")
        assert "content" not in node
        return
    if kind == "mention":
        assert node["attrs"]["id"]
        assert node["attrs"].get("text", "@x").startswith("@")
        return
    assert node["content"], f"empty {kind}"
    for child in node["content"]:
        check_adf(child, kind)


def texts(node):
    if node.get("type") == "text":
        return node["text"]
    if node.get("type") == "mention":
        return node["attrs"].get("text", "")
    return "".join(texts(child) for child in node.get("content", []))


def drift(state="reverted", **kwargs):
    values = dict(key="FEAT-304", state=state, since=WHEN, summary="", changes=2, reverted=2,
                  environment="production", cause_kind="commit", cause_ref=SHA)
    values.update(kwargs)
    return Drift(**values)


def test_dates_are_utc_in_plain_words():
    berlin = timezone(timedelta(hours=1))
    assert format_when(datetime(2025, 11, 27, 0, 31, tzinfo=berlin)) == "Wed 26 Nov at 23:31 UTC"
    assert format_when(datetime(2025, 11, 3, 7, 5)) == "Mon 3 Nov at 07:05 UTC"


def test_summary_of_a_revert_in_production():
    assert summary(drift(), "Payment retry logic v2") == (
        "Payment retry logic v2 was reverted in production on Wed 26 Nov at 23:31 UTC by commit a1b2c3d."
    )


def test_headline_of_a_revert():
    assert headline(drift()) == "No longer live: reverted in production on Wed 26 Nov, 23:31 UTC"


@pytest.mark.parametrize(
    ("state", "cause_kind", "cause_ref", "words"),
    [
        ("rolled-back", "deployment", "deploy-88",
         "was rolled back in production on Wed 26 Nov at 23:31 UTC by deployment deploy-88"),
        ("partially-reverted", "commit", SHA, "Part of Checkout was reverted"),
        ("flag-off", "flag", "new-checkout", "switched off in production by feature flag new-checkout"),
        ("hotfixed", "commit", SHA, "changed by a hotfix in production on Wed 26 Nov at 23:31 UTC (commit a1b2c3d)"),
        ("pending-deploy", "commit", SHA, "merged but not yet deployed to production"),
        ("live", "deployment", "d1", "Checkout is live in production since Wed 26 Nov at 23:31 UTC"),
    ],
)
def test_summary_says_what_happened_for_every_state(state, cause_kind, cause_ref, words):
    assert words in summary(drift(state, cause_kind=cause_kind, cause_ref=cause_ref), "Checkout")


def test_every_state_has_a_label():
    labels = {state: state_label(state) for state in DRIFT_STATES}
    assert labels == {
        "live": "Live", "pending-deploy": "Pending deploy", "reverted": "Reverted",
        "partially-reverted": "Partially reverted", "rolled-back": "Rolled back",
        "flag-off": "Flag off", "hotfixed": "Hotfixed",
    }


def test_drift_comment_is_valid_adf_and_says_everything():
    doc = drift_comment_adf(
        drift(),
        feature_title="Payment retry logic v2",
        jira_status="Done",
        cause_url=f"https://github.com/acme/shop/commit/{SHA}",
        stakeholders=[("5b10a2844c20165700ede21g", "Priya Shah"), ("712020:abc", "Sam Lee")],
        still_open=[("FEAT-310", "Retry dashboard", "In Progress")],
    )
    check_adf(doc)
    words = texts(doc)
    assert "reverted in production on Wed 26 Nov at 23:31 UTC" in words
    assert "a1b2c3d" in words
    assert "Jira still says “Done”" in words
    assert "cannot be delivered until it is restored" in words
    assert "FEAT-310" in words and "Retry dashboard (In Progress)" in words
    mentions = [n for p in doc["content"] for n in p.get("content", []) if n["type"] == "mention"]
    assert [m["attrs"] for m in mentions] == [
        {"id": "5b10a2844c20165700ede21g", "text": "@Priya Shah"}, {"id": "712020:abc", "text": "@Sam Lee"},
    ]
    links = [
        mark["attrs"]["href"]
        for p in doc["content"] for n in p.get("content", []) for mark in n.get("marks", [])
        if mark["type"] == "link"
    ]
    assert links == [f"https://github.com/acme/shop/commit/{SHA}"]


def test_drift_comment_without_link_stakeholders_or_open_work_has_no_empty_nodes():
    doc = drift_comment_adf(drift("flag-off", cause_kind="flag", cause_ref="new-checkout"),
                            feature_title="", jira_status="Done", cause_url=None, stakeholders=[],
                            what_it_means="Sales cannot demo checkout.")
    check_adf(doc)
    assert "Sales cannot demo checkout." in texts(doc)
    assert "FEAT-304 is switched off" in texts(doc)


def test_restore_comment_is_valid_adf():
    doc = restore_comment_adf(drift("live", cause_kind="deployment", cause_ref="d9"),
                              feature_title="Checkout", jira_status="Done",
                              cause_url="https://ci.example.com/d9", stakeholders=[("acc-1", "Ana")])
    check_adf(doc)
    words = texts(doc)
    assert "Checkout is live in production since Wed 26 Nov at 23:31 UTC" in words
    assert "@Ana" in words
    assert words.startswith("Live again in production since Wed 26 Nov, 23:31 UTC")
