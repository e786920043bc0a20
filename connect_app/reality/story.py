"""The words: what happened to a feature, for a Head of Operations rather than an engineer.

One statement of each state (`headline`, the panel's callout and the comment say the same), no
internal ids (deployment ids, delivery ids): events are told by what they meant. Times reach
people in their own zone: the pages format `<time>` elements in the viewer's Jira time zone and
comments carry ADF `date` nodes, which Jira shows in each reader's zone. The one text form with a
fixed zone is the property's summary sentence (`Wed 26 Nov at 23:31 UTC`; naive datetimes are
taken to be UTC), which JQL users and scripts read. Comments are Atlassian Document Format (ADF);
Jira rejects empty text nodes, so none is built.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, tzinfo
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


def format_when(moment: datetime, zone: tzinfo = UTC) -> str:
    """`Wed 26 Nov at 23:31 UTC`; in a reader's own zone, with that zone's abbreviation
    (`Thu 27 Nov at 08:31 JST`), or its offset from UTC where the zone has no letters (`UTC+04`)."""
    at = _utc(moment).astimezone(zone)
    name = at.tzname() or "UTC"
    return f"{at:%a} {at.day} {at:%b} at {at:%H:%M} {name if name.isalpha() else 'UTC' + name}"


def _place(drift: Drift) -> str:
    return f" in {drift.environment}" if drift.environment else ""


def _cause(drift: Drift) -> str:
    """`commit a1b2c3d`, `feature flag new-checkout`, or empty. A deployment's id is the
    delivery system's bookkeeping (`github:145988749`), never shown: the sentence says what
    the deployment did instead."""
    if drift.cause_ref is None:
        return ""
    if drift.cause_kind == "commit":
        return f"commit {drift.cause_ref[:7]}"
    if drift.cause_kind == "flag":
        return f"feature flag {drift.cause_ref}"
    if drift.cause_kind == "config":
        return "configuration change"
    return ""


def _described(drift: Drift) -> str:
    """` (“Payment retries back to v1”)`: a configuration change's own words, if it sent any."""
    return f" (“{drift.cause_text}”)" if drift.cause_text else ""


def summary(drift: Drift, feature_title: str, *, when: bool = True) -> str:
    """One plain sentence: `Payment retry logic v2 was reverted in production on Wed 26 Nov at
    23:31 UTC by commit a1b2c3d.` Without `when`, the time is left out (a comment or page shows
    it beside the sentence, in the reader's zone)."""
    title = feature_title.strip() or drift.key
    on = f" on {format_when(drift.since)}" if drift.since and when else ""
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
        back = f"{drift.environment or 'production'} went back to an earlier version without it"
        return f"{title} was rolled back{place}{on}{by}: {back}."
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
        again = f" again since {format_when(drift.since)}" if when else " again"
        return f"{title} is live{place}{again}: its configuration was applied again{_described(drift)}."
    if drift.changes == 0:
        return f"No code change has been linked to {title} yet."
    since = f" since {format_when(drift.since)}" if drift.since and when else ""
    return f"{title} is live{place}{since}."


# The one statement of each state: (headline, what the callout says of the feature).
_STATEMENTS = {
    "reverted": ("No longer live", "is no longer live"),
    "rolled-back": ("No longer live", "is no longer live"),
    "flag-off": ("Switched off", "is switched off"),
    "partially-reverted": ("Only partly live", "is only partly live"),
    "hotfixed": ("Changed after Done", "was changed after it was marked Done"),
    "pending-deploy": ("Merged, not yet live", "is merged but not yet live"),
    "live": ("Live", "is live"),
}


def _where(drift: Drift) -> str:
    return f" in {drift.environment or 'production'}" if drift.state != "live" or drift.environment else ""


def headline(drift: Drift) -> str:
    """`No longer live in production`. When it happened is shown beside it, in the reader's zone."""
    if drift.state == "live" and drift.changes == 0:
        return "No code linked yet"
    lead, _ = _STATEMENTS.get(drift.state, (state_label(drift.state), ""))
    return f"{lead}{_where(drift)}"


def when_lead(drift: Drift) -> str:
    """The words before how long ago it happened: `Reverted` (20 hours ago), `Went live` (3 days ago)."""
    return {"live": "Went live", "pending-deploy": "Merged"}.get(drift.state, state_label(drift.state))


def callout(drift: Drift, jira_status: str) -> str:
    """`Jira says Done, but this feature is no longer live in production.` (the headline's words)."""
    _, predicate = _STATEMENTS.get(drift.state, ("", f"is {state_label(drift.state).lower()}"))
    return f"Jira says {jira_status or 'Done'}, but this feature {predicate}{_where(drift)}."


def revert_reason(message: str) -> str:
    """The first line of a revert's own reason: the body line after git's and GitHub's
    boilerplate (`This reverts commit ...`, `Reverts owner/repo#12`, the reverted subject)."""
    for line in message.splitlines()[1:]:
        text = line.strip()
        # git -m 1 goes on: "This reverts commit X, reversing" / "changes made to Y."
        boilerplate = text.startswith(("This reverts commit", "Reverts ", "Revert \"", "Reapply \"", "changes made to ",
                                       "Merge pull request", "Signed-off-by:", "Co-authored-by:"))
        if text and not boilerplate:
            return text
    return ""


def what_happened(drift: Drift, *, reverted_by: str = "", reason: str = "") -> str:
    """What did it, for the panel: who reverted and why, which flag, what went back."""
    place = drift.environment or "production"
    because = f": “{reason}”" if reason else "."
    if drift.state in ("reverted", "partially-reverted"):
        part = "it" if drift.state == "reverted" else f"{drift.reverted} of its {drift.changes} changes"
        who = reverted_by or "Someone on the team"
        return f"{who} reverted {part}{because}"
    if drift.state == "rolled-back" and drift.cause_kind == "config":
        return f"Its configuration was rolled back in {place}{_described(drift)}."
    if drift.state == "rolled-back":
        return f"{place.capitalize()} went back to an earlier version that does not have it."
    if drift.state == "flag-off":
        flag = f" “{drift.cause_ref}”" if drift.cause_kind == "flag" and drift.cause_ref else ""
        return f"The feature flag{flag} was switched off in {place}."
    if drift.state == "hotfixed":
        return f"A hotfix changed its code in {place} after it was marked Done."
    if drift.state == "pending-deploy":
        return f"It is merged and waits for the next deployment to {place}."
    return f"It runs in {place} as Jira says." if drift.changes else ""


def deployment_title(environment: str | None, brought: str) -> str:
    """A deployment told by what it meant for the feature: `The revert went live in production`.
    `brought` is `revert`, `feature` or anything else (a deployment that carried it along)."""
    where = environment or "production"
    if brought == "revert":
        return f"The revert went live in {where}"
    if brought == "feature":
        return f"The feature went live in {where}"
    return f"Deployed to {where}"


def rollback_title(environment: str | None) -> str:
    where = environment or "production"
    return f"{where.capitalize()} went back to an earlier version, without this feature"


def revert_title(author: str, reason: str, subject: str) -> str:
    """`Reverted by Dan Developer: “Card retries double-charged customers”`."""
    who = f" by {author}" if author else ""
    return f"Reverted{who}: “{reason}”" if reason else f"Reverted{who}: {subject}"


def flag_title(name: str, on: bool, environment: str | None) -> str:
    where = f" in {environment}" if environment else ""
    return f"Feature flag “{name}” switched {'on' if on else 'off'}{where}"


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


def _date(moment: datetime) -> list[Node]:
    """ADF's date node: Jira shows it in each reader's own time zone (attrs.timestamp is
    milliseconds since the epoch, as a string; @atlaskit/adf-schema `date`)."""
    return [{"type": "date", "attrs": {"timestamp": str(int(_utc(moment).timestamp() * 1000))}}]


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
        # A deployment has no name worth showing; its link is where a reader clicks through.
        return _paragraph(_text("See "), _link("the deployment", cause_url), _text(" for the details.")) \
            if cause_url and drift.cause_kind == "deployment" else []
    # The summary already names the cause; this line is where a reader clicks through to it.
    if drift.cause_kind == "config":
        # Its ref names our record of the report, nothing a reader knows: the link is the point.
        return _paragraph(_text("See the "), _link("configuration change", cause_url),
                          _text(" for the details.")) if cause_url else []
    kind, _, ref = cause.rpartition(" ")
    return _paragraph(_text(f"See {kind} "), _link(ref, cause_url), _text(" for the details."))


def _when_line(lead: str, drift: Drift) -> list[Node]:
    """The headline in bold, then since when, as a date each reader sees in their own zone."""
    if drift.since is None:
        return _paragraph(_strong(lead))
    return _paragraph(_strong(lead), _text(" since "), _date(drift.since))


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
    reverted_by: str = "",
    reason: str = "",
) -> Node:
    """The comment posted when a Done issue drifts: what happened, when, what did it, that Jira
    still says Done, what it means for commitments, what is still open, and who should know.
    `stakeholders` are (accountId, display name); `still_open` are (key, summary, status)."""
    what = what_it_means or meaning(drift)
    where = drift.environment or "production"
    content: list[Node] = []
    content += _when_line(headline(drift), drift)
    content += _paragraph(_strong("What happened: "), _text(summary(drift, feature_title, when=False)))
    if reverted_by or reason:
        content += _paragraph(_strong("Who and why: "),
                              _text(what_happened(drift, reverted_by=reverted_by, reason=reason)))
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
    content += _when_line(f"Live again{_place(drift)}", drift)
    content += _paragraph(_strong("What happened: "), _text(summary(drift, feature_title, when=False)))
    content += _cause_line(drift, cause_url or drift.cause_url)
    content += _paragraph(_text(f"Jira says “{jira_status}” and {where} matches it again."))
    content += _paragraph(
        _strong("What it means: "), _text("Commitments made on this feature can be delivered again.")
    )
    content += _mentions("For your attention: ", stakeholders)
    return _document(content)
