"""A 500+ commit history with reverts, re-lands and revert-of-reverts, delivered in order, with
the pushes shuffled, and duplicated: every issue ends with the same Jira state each time."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from connect_app.sandbox.stack import Stack

pytestmark = pytest.mark.timeout(240)

KEYS = [f"FEAT-{n}" for n in range(1, 31)]
COMMITS = 520


def _seed(stack: Stack) -> None:
    for key in KEYS:
        stack.jira.add_issue(key, f"Feature {key}", status="Done")
    stack.install()


def _build_history(github: Any, rng: random.Random) -> list[str]:
    """Commit a mixed history on main and announce it in pushes of 10 to 40 commits.
    Returns the GUIDs of the push deliveries, in push order."""
    repo = github.repo
    changes: list[tuple[str, str]] = []  # (sha, subject) of commits that name a key
    reverts: list[tuple[str, str]] = []  # (sha, subject) of reverts
    repo.commit("Initial shop")
    made = 1
    next_push = rng.randint(10, 40)
    while made < COMMITS:
        roll = rng.random()
        if roll < 0.55 or not changes:
            subject = f"{rng.choice(KEYS)}: step {made}"
            changes.append((repo.commit(subject), subject))
        elif roll < 0.63:
            repo.commit(f"Tidy build scripts {made}")
        elif roll < 0.78:
            sha, subject = rng.choice(changes[-60:])
            shown = sha if rng.random() < 0.7 else sha[:10]
            reverts.append((repo.commit(f'Revert "{subject}"\n\nThis reverts commit {shown}.\n'), subject))
        elif roll < 0.85:
            _sha, subject = rng.choice(changes[-60:])  # re-land under the same subject
            changes.append((repo.commit(subject), subject))
        elif roll < 0.93 and reverts:
            sha, subject = rng.choice(reverts[-30:])
            again = (f'Revert "Revert "{subject}""' if rng.random() < 0.5 else f'Reapply "{subject}"')
            reverts.append((repo.commit(f"{again}\n\nThis reverts commit {sha}.\n"), f"Revert \"{subject}\""))
        else:
            _sha, subject = rng.choice(changes[-40:])
            reverts.append((repo.commit(f'Revert "{subject}"'), subject))  # by subject, no SHA
        made += 1
        if made >= next_push or made == COMMITS:
            github.push_branch()
            next_push = made + rng.randint(10, 40)
    return [d.guid for d in github.deliveries_of("push")]


def _final_state(stack: Stack) -> dict[str, Any]:
    stack.settle()
    state = {}
    for key in KEYS:
        issue = stack.jira.issues[key]
        prop = dict(issue["properties"].get("system-reality") or {})
        prop.pop("updated", None)
        state[key] = (prop, sorted(label for label in issue["labels"] if label.startswith("drift-")))
    return state


def _fresh_stack(root: Path, name: str, source: Any) -> tuple[Stack, str, str]:
    """Another installation of the app connected to the same repository; returns the stack, its
    webhook URL and secret."""
    stack = Stack(root / name).start()
    stack.seed_jira()
    _seed(stack)
    response = stack.admin("POST", "/api/connections", {
        "provider": "github", "repository": source.full_name, "api_url": source.api_url,
        "token": source.required_token})
    response.raise_for_status()
    data = response.json()
    return stack, data["webhook_url"], data["webhook_secret"]


def test_replayed_history_gives_the_same_result_in_any_order(stack: Stack, tmp_path: Path) -> None:
    _seed(stack)
    github = stack.start_github()
    stack.connect_repository()
    guids = _build_history(github, random.Random(304))
    assert len(github.repo.rev_list(None, "main")) >= 500
    assert len(guids) >= 12
    in_order = _final_state(stack)
    drifts = {prop.get("drift") for prop, _labels in in_order.values()}
    assert "live" in drifts and len(drifts) >= 2, "the history exercises reverts and re-lands"
    assert sum(1 for prop, _labels in in_order.values() if prop["reverted"]) >= 10
    assert all(prop for prop, _labels in in_order.values())
    bodies = {d.guid: d.body for d in github.deliveries_of("push")}

    shuffled_stack, url, secret = _fresh_stack(tmp_path, "shuffled", github)
    try:
        order = list(guids)
        random.Random(7).shuffle(order)
        assert order != guids
        for n, guid in enumerate(order):
            assert github.send_raw(url, "push", bodies[guid], secret, guid).ok
            if n % 8 == 7:
                shuffled_stack.settle()  # intermediate states happen, as they would live
        assert _final_state(shuffled_stack) == in_order
    finally:
        shuffled_stack.stop()

    duplicated_stack, url, secret = _fresh_stack(tmp_path, "duplicated", github)
    try:
        for guid in guids:
            assert github.send_raw(url, "push", bodies[guid], secret, guid).ok
        duplicated_stack.settle()
        resend = list(guids)
        random.Random(11).shuffle(resend)
        for guid in resend:
            # The same GUID again (GitHub's redeliver) and the same push under a new GUID.
            assert github.send_raw(url, "push", bodies[guid], secret, guid).status == 200
            assert github.send_raw(url, "push", bodies[guid], secret).ok
        assert _final_state(duplicated_stack) == in_order
    finally:
        duplicated_stack.stop()
