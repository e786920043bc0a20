"""An epic (any parent) as its children's reality: the roll-up the parent's property carries.

INTERFACES section 3: a parent whose children are in drift carries the `system-reality` property
with `drift` = the most serious child state, `children` = how many are in drift and
`childrenTotal` = how many have linked changes, so JQL `driftedChildren > 0` finds epics with
features no longer live. Once every child is live again the parent says so (`children: 0`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from connect_app.reality import story
from connect_app.reality.drift import PRECEDENCE
from connect_app.reality.model import NOT_DRIFT

# Most serious first: the core's own precedence between states, down to pending-deploy and live.
SEVERITY: tuple[str, ...] = PRECEDENCE


@dataclass(frozen=True)
class ChildReality:
    """A child issue with linked changes, as its own `system-reality` record says."""

    key: str
    summary: str
    state: str
    since: str | None  # ISO-8601, as stored
    environment: str | None = None
    changes: int = 0
    reverted: int = 0

    @property
    def in_drift(self) -> bool:
        return self.state not in NOT_DRIFT


def _rank(state: str) -> int:
    return SEVERITY.index(state) if state in SEVERITY else len(SEVERITY)


def ordered(children: Sequence[ChildReality]) -> list[ChildReality]:
    """Most serious first, then by key: the order the epic's panel lists its features in."""
    return sorted(children, key=lambda c: (_rank(c.state), _key_order(c.key)))


def _key_order(key: str) -> tuple[str, int]:
    project, _, number = key.rpartition("-")
    return project, int(number) if number.isdigit() else 0


def drifted_names(children: Sequence[ChildReality]) -> str:
    """`FEAT-304 reverted, FEAT-310 rolled back and 2 more`: the children in drift, worst first."""
    drifted = [c for c in ordered(children) if c.in_drift]
    named = ", ".join(f"{c.key} {story.state_label(c.state).lower()}" for c in drifted[:3])
    return named + (f" and {len(drifted) - 3} more" if len(drifted) > 3 else "")


def rollup_summary(children: Sequence[ChildReality]) -> str:
    """One plain sentence in counts: `1 of 2 features is no longer fully live.` Everyone who can
    browse the epic reads its property, so it names no child (issue security may hide one); the
    panel, which filters children by viewer, names them."""
    drifted = [c for c in ordered(children) if c.in_drift]
    total = len(children)
    noun = "feature" if total == 1 else "features"
    if not drifted:
        if total == 1:
            return "Its one feature with code is live as built."
        return f"All {total} {noun} with code are live as built." if total else "No feature has code yet."
    verb = "is" if len(drifted) == 1 else "are"
    return f"{len(drifted)} of {total} {noun} {verb} no longer fully live."


def rollup_headline(children: Sequence[ChildReality]) -> str:
    """The epic panel's headline: `1 of 2 features no longer fully live`."""
    drifted = sum(1 for c in children if c.in_drift)
    if drifted:
        return f"{drifted} of {len(children)} {'feature' if len(children) == 1 else 'features'} no longer fully live"
    return "Every feature with code is live"


def rollup_value(children: Sequence[ChildReality], own: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The parent's `system-reality` property, minus `updated` (stamped only when the rest moves).

    `own` is the parent's own property value when commits name the parent itself: its counts
    add up with the children's and its state competes with theirs."""
    drifted = [c for c in children if c.in_drift]
    worst = ordered(drifted)[0] if drifted else None
    state = worst.state if worst else "live"
    since, environment = (worst.since, worst.environment) if worst else (None, None)
    if worst is not None:
        # The latest moment a child reached the worst state: when the epic last got worse.
        since = max((c.since for c in drifted if c.state == state and c.since), default=since)
    if own and _rank(str(own.get("drift"))) < _rank(state):
        state, since, environment = str(own["drift"]), own.get("since"), own.get("environment")
    return {
        "drift": state,
        "since": since,
        "summary": rollup_summary(children),
        "changes": sum(c.changes for c in children) + int((own or {}).get("changes") or 0),
        "reverted": sum(c.reverted for c in children) + int((own or {}).get("reverted") or 0),
        "environment": environment,
        "children": len(drifted),
        "childrenTotal": len(children),
    }
