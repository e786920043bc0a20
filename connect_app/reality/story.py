"""The words: what happened to a feature, for a Head of Operations rather than an engineer.

Every date is shown in UTC as `Wed 26 Nov at 23:31 UTC`; naive datetimes are taken to be UTC.
Comments are Atlassian Document Format (ADF); Jira rejects empty text nodes, so none is built.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from connect_app.reality.model import Drift

Node = dict[str, Any]

_LABELS = {
    "live": "Live",
    "pending-deploy": "Pending deploy",
    "reverted": "Reverted",
    "partially-reverted": "Partially reverted",
    "rolled-back": "Rolled back",
    "flag-off": "Flag off",
    "hotfixed": "Hotfixed",
}

DEFAULT_MEANING = "Customer commitments made on this feature cannot be delivered until it is restored."
_HOTFIX_MEANING = (
    "The feature was changed after it was signed off; check that commitments made on it still hold."
)
CONFIG_MEANING = (
    "The code is still deployed, but the configuration it depends on was rolled back: customer "
    "commitments made on this feature cannot be delivered until that configuration is applied again."
)


def meaning(drift: Drift) -> str:
    """What a drift means for commitments made on the feature."""
    if drift.state == "hotfixed":
        return _HOTFIX_MEANING
    if drift.cause_kind == "config":
        return CONFIG_MEANING
    return DEFAULT_MEANING


def state_label(state: str) -> str:
    return _LABELS.get(state, state.replace("-", " ").capitalize())


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def format_when(moment: datetime) -> str:
    """`Wed 26 Nov at 23:31 UTC`."""
    at = _utc(moment)
    return f"{at:%a} {at.day} {at:%b} at {at:%H:%M} UTC"


def _format_headline_when(moment: datetime) -> str:
    at = _utc(moment)
    return f"{at:%a} {at.day} {at:%b}, {at:%H:%M} UTC"


def _place(drift: Drift) -> str:
    return f" in {drift.environment}" if drift.environment else ""


def _cause(drift: Drift) -> str:
    """`commit a1b2c3d`, `deployment 42`, `feature flag new-checkout`, or empty."""
    if drift.cause_ref is None:
        return ""
    if drift.cause_kind == "commit":
        return f"commit {drift.cause_ref[:7]}"
    if drift.cause_kind == "deployment":
        return f"deployment {drift.cause_ref}"
    if drift.cause_kind == "flag":
        return f"feature flag {drift.cause_ref}"
    if drift.cause_kind == "config":
        return "configuration change"
    return ""


def _described(drift: Drift) -> str:
    """` (“Payment retries back to v1”)`: a configuration change's own words, if it sent any."""
    return f" (“{drift.cause_text}”)" if drift.cause_text else ""


def summary(drift: Drift, feature_title: str) -> str:
    """One plain sentence: `Payment retry logic v2 was reverted in production on Wed 26 Nov at
    23:31 UTC by commit a1b2c3d.`"""
    title = feature_title.strip() or drift.key
    on = f" on {format_when(drift.since)}" if drift.since else ""
    cause = _cause(drift)
    by = f" by {cause}" if cause else ""
    place = _place(drift)
    state = drift.state
    if state == "reverted":
        return f"{title} was reverted{place}{on}{by}."
    if state == "partially-reverted":
        return (
            f"Part of {title} was reverted{place}{on}{by}: "
            f"{drift.reverted} of its {drift.changes} changes are no longer live."
        )
    if state == "rolled-back" and drift.cause_kind == "config":
        return f"{title} was rolled back{place}{on}: its configuration was reverted{_described(drift)}."
    if state == "rolled-back":
        return f"{title} was rolled back{place}{on}{by}."
    if state == "flag-off":
        flag = f" by {cause}" if cause else " by a feature flag"
        return f"{title} is switched off{place}{flag}, turned off{on}."
    if state == "hotfixed":
        hotfix = f" ({cause})" if cause else ""
        return f"{title} was changed by a hotfix{place}{on}{hotfix}, after it was marked Done."
    if state == "pending-deploy":
        target = drift.environment or "production"
        return f"{title} is merged but not yet deployed to {target}."
    if drift.cause_kind == "config" and drift.since:
        return (f"{title} is live{place} again since {format_when(drift.since)}: "
                f"its configuration was applied again{_described(drift)}.")
    if drift.changes == 0:
        return f"No code change has been linked to {title} yet."
    since = f" since {format_when(drift.since)}" if drift.since else ""
    return f"{title} is live{place}{since}."


_HEADLINE_WORDS = {
    "reverted": ("No longer live", "reverted"),
    "rolled-back": ("No longer live", "rolled back"),
    "flag-off": ("No longer live", "switched off by a feature flag"),
    "partially-reverted": ("Partly live", "partly reverted"),
    "hotfixed": ("Changed after Done", "hotfixed"),
}


def headline(drift: Drift) -> str:
    """`No longer live: reverted in production on Wed 26 Nov, 23:31 UTC`."""
    on = f" on {_format_headline_when(drift.since)}" if drift.since else ""
    if drift.state == "rolled-back" and drift.cause_kind == "config":
        return f"No longer live: configuration rolled back{_place(drift)}{on}"
    if drift.state in _HEADLINE_WORDS:
        lead, what = _HEADLINE_WORDS[drift.state]
        return f"{lead}: {what}{_place(drift)}{on}"
    if drift.state == "pending-deploy":
        return f"Merged, not yet deployed to {drift.environment or 'production'}"
    since = f" since {_format_headline_when(drift.since)}" if drift.since else ""
    return f"Live{_place(drift)}{since}"


# ---- ADF ----------------------------------------------------------------------------------


def _text(value: str, *marks: Node) -> list[Node]:
    if not value:
        return []
    node: Node = {"type": "text", "text": value}
    if marks:
        node["marks"] = list(marks)
    return [node]


def _link(value: str, href: str | None) -> list[Node]:
    return _text(value, {"type": "link", "attrs": {"href": href}}) if href else _text(value)


def _strong(value: str) -> list[Node]:
    return _text(value, {"type": "strong"})


def _paragraph(*parts: list[Node]) -> list[Node]:
    content = [node for part in parts for node in part]
    return [{"type": "paragraph", "content": content}] if content else []


def _mention(account_id: str, name: str) -> Node:
    attrs = {"id": account_id}
    if name:
        attrs["text"] = f"@{name}"
    return {"type": "mention", "attrs": attrs}


def _mentions(lead: str, stakeholders: Sequence[tuple[str, str]]) -> list[Node]:
    people = [(account, name) for account, name in dict(stakeholders).items() if account]
    if not people:
        return []
    nodes = _text(lead)
    for number, (account, name) in enumerate(people):
        if number:
            nodes += _text(", ")
        nodes.append(_mention(account, name))
    return _paragraph(nodes)


def _cause_line(drift: Drift, cause_url: str | None) -> list[Node]:
    cause = _cause(drift)
    if not cause:
        return []
    # The summary already names the cause; this line is where a reader clicks through to it.
    if drift.cause_kind == "config":
        # Its ref names our record of the report, nothing a reader knows: the link is the point.
        return _paragraph(_text("See the "), _link("configuration change", cause_url),
                          _text(" for the details.")) if cause_url else []
    kind, _, ref = cause.rpartition(" ")
    return _paragraph(_text(f"See {kind} "), _link(ref, cause_url), _text(" for the details."))


def _document(content: list[Node]) -> Node:
    return {"version": 1, "type": "doc", "content": content}


def drift_comment_adf(
    drift: Drift,
    *,
    feature_title: str,
    jira_status: str,
    cause_url: str | None,
    stakeholders: Sequence[tuple[str, str]],
    still_open: Sequence[tuple[str, str, str]] = (),
    what_it_means: str | None = None,
) -> Node:
    """The comment posted when a Done issue drifts: what happened, when, what did it, that Jira
    still says Done, what it means for commitments, what is still open, and who should know.
    `stakeholders` are (accountId, display name); `still_open` are (key, summary, status)."""
    what = what_it_means or meaning(drift)
    where = drift.environment or "production"
    content: list[Node] = []
    content += _paragraph(_strong(headline(drift)))
    content += _paragraph(_strong("What happened: "), _text(summary(drift, feature_title)))
    content += _cause_line(drift, cause_url or drift.cause_url)
    content += _paragraph(
        _text(f"Jira still says “{jira_status}”, but what runs in {where} no longer matches it.")
    )
    content += _paragraph(_strong("What it means: "), _text(what))
    if still_open:
        content += _paragraph(_strong("Still open on this feature:"))
        items = [
            {"type": "listItem", "content": _paragraph(_strong(key), _text(f" {title} ({status})".rstrip()))}
            for key, title, status in still_open
        ]
        content.append({"type": "bulletList", "content": items})
    else:
        content += _paragraph(_text("Nothing else linked to this feature is still open."))
    content += _mentions("For your attention: ", stakeholders)
    return _document(content)


def restore_comment_adf(
    drift: Drift,
    *,
    feature_title: str,
    jira_status: str,
    cause_url: str | None,
    stakeholders: Sequence[tuple[str, str]],
) -> Node:
    """The comment posted when a drifted feature is live again."""
    where = drift.environment or "production"
    content: list[Node] = []
    since = f" since {_format_headline_when(drift.since)}" if drift.since else ""
    content += _paragraph(_strong(f"Live again{_place(drift)}{since}"))
    content += _paragraph(_strong("What happened: "), _text(summary(drift, feature_title)))
    content += _cause_line(drift, cause_url or drift.cause_url)
    content += _paragraph(_text(f"Jira says “{jira_status}” and {where} matches it again."))
    content += _paragraph(
        _strong("What it means: "), _text("Commitments made on this feature can be delivered again.")
    )
    content += _mentions("For your attention: ", stakeholders)
    return _document(content)
