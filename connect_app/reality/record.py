"""Drift as JSON, both ways, and the identity of a drift change: one place for each rule.

The stored desired state, the `system-reality` issue property and every API answer write times
through `iso` (UTC, `Z`), so one instant always reads the same everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, tzinfo
from typing import Any

from connect_app.reality import story
from connect_app.reality.drift import PRECEDENCE
from connect_app.reality.model import NOT_DRIFT, Drift


def iso(moment: datetime | None) -> str | None:
    """An instant as ISO-8601 in UTC with `Z`; naive values are taken to be UTC already."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def iso_in_zone(text: str | None, zone: tzinfo) -> str:
    """A stored instant (`iso` text) as ISO-8601 with the offset of `zone` at that moment, for
    people reading it in their own zone (the report's CSV): `2026-12-01T08:31:00+09:00`."""
    moment = parse_iso(text)
    return moment.astimezone(zone).isoformat(timespec="seconds") if moment else ""


def parse_iso(value: str | None) -> datetime | None:
    """The inverse of `iso` (also reads `+00:00` and Jira's `+0000`); None for what is no time."""
    if not value:
        return None
    text = value.replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        try:
            parsed = datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z")
        except ValueError:
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def combine(drifts: Sequence[Drift]) -> Drift:
    """One issue, several repositories: the most serious state (the same precedence as within one
    repository), counts added up."""
    worst = min(drifts, key=lambda d: (PRECEDENCE.index(d.state), -(d.since.timestamp() if d.since else 0)))
    if len(drifts) == 1:
        return worst
    return replace(worst, changes=sum(d.changes for d in drifts), reverted=sum(d.reverted for d in drifts))


def change_id(drift: Drift) -> str | None:
    """The identity of a drift change: the same cause always yields the same id, so a replay
    recognises a comment it already owes or paid."""
    if drift.state in NOT_DRIFT:
        return None
    episode = ""
    if drift.cause_kind == "flag" and drift.since is not None:
        # A flag is switched off, on and off again under the same key: each time off is a new
        # drift change that owes its own comment (commits and deployments have their own ids).
        episode = f"@{drift.since.isoformat()}"
    return f"{drift.state}:{drift.cause_kind}:{drift.cause_ref or '-'}{episode}"[:200]


def drift_record(drift: Drift) -> dict[str, Any]:
    """What sync needs to render the property, label and comment, as JSON."""
    record: dict[str, Any] = {
        "state": drift.state,
        "since": drift.since.isoformat() if drift.since else None,
        "changes": drift.changes,
        "reverted": drift.reverted,
        "environment": drift.environment,
        "cause_kind": drift.cause_kind,
        "cause_ref": drift.cause_ref,
        "cause_url": drift.cause_url,
    }
    # Only where there is one: records stored before causes had words stay equal to new ones, so
    # an upgrade alone moves no issue.
    if drift.cause_text is not None:
        record["cause_text"] = drift.cause_text
    return record


def drift_from_record(key: str, record: Mapping[str, Any], title: str) -> Drift:
    """The inverse of `drift_record`, with the summary written for `title`."""
    drift = Drift(
        key=key, state=record.get("state", "live"), since=parse_iso(record.get("since")),
        summary="", changes=int(record.get("changes", 0)), reverted=int(record.get("reverted", 0)),
        environment=record.get("environment"), cause_kind=record.get("cause_kind", "none"),
        cause_ref=record.get("cause_ref"), cause_url=record.get("cause_url"), cause_text=record.get("cause_text"),
    )
    return replace(drift, summary=story.summary(drift, title))


def property_value(drift: Drift) -> dict[str, Any]:
    """The `system-reality` issue property (INTERFACES section 2), minus `updated`, which is
    stamped only when the rest changes."""
    return {
        "drift": drift.state,
        "since": iso(drift.since),
        "summary": drift.summary,
        "changes": drift.changes,
        "reverted": drift.reverted,
        "environment": drift.environment,
    }
