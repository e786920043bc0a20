"""Combining what several repositories say about one issue, and the identity of a drift change."""

from __future__ import annotations

from datetime import UTC, datetime

from connect_app.reality.model import Drift
from connect_app.reality.record import change_id, combine


def d(state: str, changes: int = 1, reverted: int = 0, cause: str | None = None) -> Drift:
    return Drift(key="FEAT-1", state=state, since=datetime(2026, 11, 25, tzinfo=UTC), summary="",  # type: ignore[arg-type]
                 changes=changes, reverted=reverted, environment="production", cause_kind="commit", cause_ref=cause)


def test_the_most_serious_repository_wins_and_counts_add_up() -> None:
    combined = combine([d("live", 2), d("reverted", 1, 1, "abc"), d("pending-deploy", 1)])
    assert (combined.state, combined.changes, combined.reverted, combined.cause_ref) == ("reverted", 4, 1, "abc")


def test_a_drift_change_is_named_by_its_cause_and_live_has_none() -> None:
    assert change_id(d("reverted", cause="abc")) == change_id(d("reverted", 3, 3, cause="abc"))
    assert change_id(d("reverted", cause="abc")) != change_id(d("rolled-back", cause="abc"))
    assert change_id(d("live")) is None and change_id(d("pending-deploy")) is None

