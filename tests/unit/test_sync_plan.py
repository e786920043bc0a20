"""What sync decides, without HTTP: desired drift and the issue's current state in, the edit and
the owed comment out. The admin dry run runs the same functions."""

from __future__ import annotations

from datetime import UTC, datetime

from connect_app.reality.model import Drift
from connect_app.reality.record import property_value
from connect_app.sync.plan import plan_comment, plan_fields
from connect_app.sync.policy import ProjectPolicy

WHEN = datetime(2026, 11, 25, 23, 31, tzinfo=UTC)
COMMENT, OBSERVE, REOPEN = ProjectPolicy("comment"), ProjectPolicy("observe"), ProjectPolicy("reopen")


def drift(state: str = "reverted") -> Drift:
    return Drift(key="FEAT-304", state=state, since=WHEN if state != "live" else None, summary="s",
                 changes=2, reverted=2 if state != "live" else 0, environment="production",
                 cause_kind="commit", cause_ref="e3ff446")


def test_a_new_drift_writes_the_property_and_label_once() -> None:
    plan = plan_fields(None, ["customer-promise"], drift(), COMMENT)
    assert plan.property == property_value(drift()) and plan.add == ("drift-reverted",) and plan.remove == ()
    again = plan_fields({**plan.property, "updated": "2026-11-26T00:00:00Z"}, ["customer-promise", "drift-reverted"],
                        drift(), COMMENT)
    assert not again.edits, "a replay changes nothing"


def test_live_again_takes_the_label_off_and_observe_never_labels() -> None:
    live = plan_fields(property_value(drift()), ["drift-reverted"], drift("live"), COMMENT)
    assert live.remove == ("drift-reverted",)
    assert plan_fields(None, [], drift(), OBSERVE).add == ()
    assert plan_fields(None, ["drift-hotfixed"], drift(), OBSERVE).remove == ("drift-hotfixed",)


def test_comments_only_on_done_issues_and_reopen_follows_the_policy() -> None:
    owed = {"change_id": "reverted:commit:e3ff446", "restore_of": None, "drift_comment_posted": False}
    assert plan_comment(drift(), **owed, policy=COMMENT, done=False) is None
    assert plan_comment(drift(), **owed, policy=OBSERVE, done=True) is None
    comment = plan_comment(drift(), **owed, policy=COMMENT, done=True)
    assert comment is not None and (comment.kind, comment.reopen) == ("drift", False)
    reopen = plan_comment(drift(), **owed, policy=REOPEN, done=True)
    assert reopen is not None and reopen.reopen


def test_a_restore_is_owed_only_after_its_drift_comment_was_posted() -> None:
    back = {"change_id": None, "restore_of": "reverted:commit:e3ff446"}
    assert plan_comment(drift("live"), **back, drift_comment_posted=False, policy=COMMENT, done=True) is None
    restore = plan_comment(drift("live"), **back, drift_comment_posted=True, policy=REOPEN, done=True)
    assert restore is not None and (restore.kind, restore.change, restore.reopen) == (
        "restore", "restored:reverted:commit:e3ff446", False)
