"""The words people read, and ADF that Jira accepts."""

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from connect_app.reality.model import DRIFT_STATES, Drift
from connect_app.reality.story import (
    callout,
    deployment_title,
    drift_comment_adf,
    format_when,
    headline,
    restore_comment_adf,
    revert_reason,
    revert_title,
    rollback_title,
    state_label,
    summary,
    what_happened,
)

SHA = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"
WHEN = datetime(2025, 11, 26, 23, 31, tzinfo=UTC)

# Which ADF node may hold which children (the subset of the ADF schema we emit).
ALLOWED = {
    "doc": {"paragraph", "bulletList"},
    "paragraph": {"text", "mention", "date"},
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
    if kind == "date":
        assert node["attrs"]["timestamp"].isdigit()
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


def test_format_when_in_a_readers_zone_names_the_zone() -> None:
    # An assistant's answer tells times in the user's Jira zone; a bare "08:31" would be ambiguous.
    moment = datetime(2025, 11, 26, 23, 31, tzinfo=UTC)
    assert format_when(moment, ZoneInfo("Asia/Tokyo")) == "Thu 27 Nov at 08:31 JST"
    assert format_when(moment, ZoneInfo("America/New_York")) == "Wed 26 Nov at 18:31 EST"
    # Zones whose abbreviation is only an offset say it is one.
    assert format_when(moment, ZoneInfo("Asia/Dubai")) == "Thu 27 Nov at 03:31 UTC+04"
    assert format_when(moment, ZoneInfo("Etc/UTC")) == format_when(moment) == "Wed 26 Nov at 23:31 UTC"


def test_summary_of_a_revert_in_production():
    assert summary(drift(), "Payment retry logic v2") == (
        "Payment retry logic v2 was reverted in production on Wed 26 Nov at 23:31 UTC by commit a1b2c3d."
    )


def test_headline_of_a_revert_leaves_the_time_to_the_readers_zone():
    assert headline(drift()) == "No longer live in production"


@pytest.mark.parametrize("state", sorted(DRIFT_STATES))
def test_headline_and_callout_make_one_statement_of_the_state(state):
    # The callout repeats the headline's words under it, never a second, different verdict.
    said = headline(drift(state)).lower()
    told = callout(drift(state), "Done")
    assert told.startswith("Jira says Done, but this feature ")
    lead = said.removesuffix(" in production")
    assert lead.split(" ")[-1] in told.lower() and told.endswith(" in production.")
    assert "not fully live" not in told


def test_revert_reason_is_the_first_line_of_the_reverts_own_message():
    message = ('Revert "FEAT-304 Payment retry logic v2 (#12)"\n\nThis reverts commit 0123abc.\n\n'
               "Card retries charged some customers twice.\nSee INC-88.")
    assert revert_reason(message) == "Card retries charged some customers twice."
    assert revert_reason('Revert "x"\n\nThis reverts commit 0123abc.') == ""
    assert revert_reason('Revert "x"\n\nThis reverts commit 0123abc, reversing\nchanges made to 9f8e7d6.') == ""
    assert revert_reason("Merge pull request #13 from acme/revert-12-feat\n\nReverts acme/shop#12\n\nDouble charges") \
        == "Double charges"


def test_what_happened_names_who_reverted_and_why():
    assert what_happened(drift(), reverted_by="Dan Developer", reason="Double charges") == \
        "Dan Developer reverted it: “Double charges”"
    assert what_happened(drift("flag-off", cause_kind="flag", cause_ref="new-checkout")) == \
        "The feature flag “new-checkout” was switched off in production."


def test_events_are_told_by_what_they_meant():
    assert deployment_title("production", "revert") == "The revert went live in production"
    assert deployment_title("production", "feature") == "The feature went live in production"
    assert rollback_title("production") == "Production went back to an earlier version, without this feature"
    assert revert_title("Dan Developer", "Double charges", "Revert x") == "Reverted by Dan Developer: “Double charges”"


@pytest.mark.parametrize(
    ("state", "cause_kind", "cause_ref", "words"),
    [
        ("rolled-back", "deployment", "github:145988749",
         "was rolled back in production on Wed 26 Nov at 23:31 UTC: production went back to an earlier version"),
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
    # When: a date node, which Jira shows in each reader's own time zone; no UTC clock in the text.
    assert "UTC" not in words and words.startswith("No longer live in production since ")
    dates = [n for p in doc["content"] for n in p.get("content", []) if n["type"] == "date"]
    assert dates == [{"type": "date", "attrs": {"timestamp": str(int(WHEN.timestamp() * 1000))}}]
    assert "Payment retry logic v2 was reverted in production by commit a1b2c3d." in words
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
    assert "Checkout is live in production." in words
    assert "@Ana" in words
    assert words.startswith("Live again in production since ") and "UTC" not in words
