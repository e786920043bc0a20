"""An epic's roll-up of its features (reality.rollup, pure)."""

from __future__ import annotations

from connect_app.reality.rollup import ChildReality, ordered, rollup_value


def child(key: str, state: str, since: str | None = None, changes: int = 1, reverted: int = 0) -> ChildReality:
    return ChildReality(key=key, summary=f"Feature {key}", state=state, since=since,
                        environment="production" if since else None, changes=changes, reverted=reverted)


def test_the_most_serious_child_state_and_the_counts() -> None:
    children = [child("FEAT-2", "live"), child("FEAT-4", "reverted", "2026-11-25T23:31:00Z", 1, 1),
                child("FEAT-3", "rolled-back", "2026-11-26T06:00:00Z"), child("FEAT-5", "pending-deploy")]
    value = rollup_value(children)
    assert (value["drift"], value["since"], value["children"], value["childrenTotal"]) == (
        "rolled-back", "2026-11-26T06:00:00Z", 2, 4)
    assert (value["changes"], value["reverted"]) == (4, 1)
    assert value["summary"] == "2 of 4 features are no longer fully live.", "counts only: a child may be secured"
    assert [c.key for c in ordered(children)] == ["FEAT-3", "FEAT-4", "FEAT-5", "FEAT-2"]


def test_all_children_live_again_says_so() -> None:
    value = rollup_value([child("FEAT-304", "live")])
    assert (value["drift"], value["since"], value["children"], value["childrenTotal"]) == ("live", None, 0, 1)
    assert value["summary"] == "Its one feature with code is live as built."


def test_the_parents_own_drift_competes_with_its_childrens() -> None:
    own = {"drift": "rolled-back", "since": "2026-11-27T00:00:00Z", "environment": "production", "changes": 2,
           "reverted": 0}
    value = rollup_value([child("FEAT-304", "reverted", "2026-11-25T23:31:00Z")], own)
    assert (value["drift"], value["since"], value["children"], value["changes"]) == (
        "rolled-back", "2026-11-27T00:00:00Z", 1, 3)
