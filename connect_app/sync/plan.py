"""What sync decides, as plain functions: given the Jira state of an issue (or what was last
applied to it) and its desired drift, which changes close the difference.

`sync.apply` runs these against Jira's answers; the admin dry run runs the very same functions
against what was last applied, so the preview can never disagree with what sync would do.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from connect_app.reality import story
from connect_app.reality.model import DRIFT_STATES, NOT_DRIFT, Drift
from connect_app.reality.record import property_value
from connect_app.sync.policy import ProjectPolicy

DRIFT_LABELS = frozenset(f"drift-{state}" for state in DRIFT_STATES if state not in NOT_DRIFT)
LOZENGE = {
    "live": "success", "pending-deploy": "inprogress", "reverted": "removed", "rolled-back": "removed",
    "partially-reverted": "moved", "flag-off": "removed", "hotfixed": "moved",
}


def drift_label(drift: Drift, policy: ProjectPolicy) -> str | None:
    """The `drift-<state>` label the issue should carry, if any."""
    return f"drift-{drift.state}" if drift.in_drift and policy.labels else None


def context_status(drift: Drift) -> dict[str, Any]:
    """The issue-context lozenge Jira shows beside the issue."""
    return state_lozenge(drift.state)


def state_lozenge(state: str) -> dict[str, Any]:
    """The issue-context lozenge for a state: an issue's own, or an epic's rolled-up one."""
    return {"type": "lozenge", "value": {"label": story.state_label(state), "type": LOZENGE[state]}}


def same_property(current: Any, wanted: Mapping[str, Any]) -> bool:
    if not isinstance(current, Mapping):
        return False
    return {k: v for k, v in current.items() if k != "updated"} == dict(wanted)


@dataclass(frozen=True)
class FieldPlan:
    """The one issue edit (property, context status and labels together) that closes the gap."""

    property: dict[str, Any] | None  # the property to write (without `updated`), None if unchanged
    label: str | None  # the drift label the issue carries afterwards
    add: tuple[str, ...]
    remove: tuple[str, ...]

    @property
    def edits(self) -> bool:
        return self.property is not None or bool(self.add or self.remove)


def plan_fields(current_property: Any, labels: Collection[str], drift: Drift, policy: ProjectPolicy) -> FieldPlan:
    wanted = property_value(drift)
    label = drift_label(drift, policy)
    present = set(labels)
    return FieldPlan(
        property=None if same_property(current_property, wanted) else wanted,
        label=label,
        add=(label,) if label and label not in present else (),
        remove=tuple(sorted(other for other in present & DRIFT_LABELS if other != label)),
    )


@dataclass(frozen=True)
class CommentPlan:
    """A comment owed on a Done issue: `change` is the id it pays, once."""

    kind: Literal["drift", "restore"]
    change: str
    reopen: bool


def plan_comment(drift: Drift, *, change_id: str | None, restore_of: str | None, drift_comment_posted: bool,
                 policy: ProjectPolicy, done: bool) -> CommentPlan | None:
    """A drift comment (with a reopen under that policy) for each drift change of a Done issue;
    a restore comment when it is live again, only if its drift comment was posted."""
    if not done or not policy.comments:
        return None
    if drift.in_drift and change_id:
        return CommentPlan("drift", change_id, reopen=policy.reopens)
    if not drift.in_drift and restore_of and drift_comment_posted:
        return CommentPlan("restore", f"restored:{restore_of}"[:200], reopen=False)
    return None


def falls_short(drift: Drift, policy: ProjectPolicy, *, applied_label: str | None, change_id: str | None,
                comment_posted: bool, done: bool) -> bool:
    """Whether what Jira was last given falls short of the project's policy as it is now: the
    label differs, or a Done issue is owed a drift comment that was never posted. Recompute asks
    only for issues whose drift moved, so a policy switched from observe to comment or reopen
    reaches issues already in drift through this check (and the other way, the label goes)."""
    if drift_label(drift, policy) != applied_label:
        return True
    owed = plan_comment(drift, change_id=change_id, restore_of=None, drift_comment_posted=False,
                        policy=policy, done=done)
    return owed is not None and not comment_posted
