"""Every revert form of INTERFACES section 4, made with real git in the GitHub simulator and
delivered as real signed webhooks; what the user sees is checked in Jira (the `system-reality`
property, `drift-*` labels) and on the issue panel (`GET /api/issues/<key>/reality`)."""

from __future__ import annotations

from typing import Any

import pytest

from connect_app.sandbox.stack import Stack

KEYS = ("FEAT-1", "FEAT-2", "FEAT-3", "FEAT-4", "FEAT-5", "FEAT-6", "FEAT-7", "FEAT-8", "FEAT-9", "FEAT-12")


def _start(stack: Stack, *, token: bool = True) -> Any:
    for key in KEYS:
        stack.jira.add_issue(key, f"Feature {key}", status="Done")
    stack.install()
    github = stack.start_github()
    stack.connect_repository(token=github.required_token if token else None)
    github.repo.commit("Initial shop", {"README.md": "shop\n"})
    github.push_branch()
    return github


@pytest.fixture
def github(stack: Stack) -> Any:
    return _start(stack)


def _land(github: Any, message: str, name: str) -> str:
    """A commit on main that adds its own file (so a real `git revert` of it never conflicts)."""
    return github.push(message, {f"src/{name}.py": f"{name} = True\n"})


def _revert(github: Any, sha: str, *, message: str | None = None, mainline: int | None = None) -> str:
    github.repo.checkout(github.default_branch)
    revert = github.repo.revert(sha, message=message, mainline=mainline)
    github.push_branch()
    return revert


def _prop(stack: Stack, key: str) -> dict[str, Any]:
    stack.settle()
    return stack.jira.issues[key]["properties"].get("system-reality") or {}


def _panel(stack: Stack, key: str) -> dict[str, Any]:
    response = stack.admin("GET", f"/api/issues/{key}/reality")
    assert response.status_code == 200, response.text
    return response.json()


def _kinds(panel: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(event["kind"], event["sha"]) for event in reversed(panel["timeline"])]


def _assert_reverted(stack: Stack, key: str, changes: int = 1) -> None:
    prop = _prop(stack, key)
    assert prop["drift"] == "reverted", prop
    assert prop["changes"] == changes and prop["reverted"] == changes
    assert "drift-reverted" in stack.jira.issues[key]["labels"]


def _assert_live(stack: Stack, key: str, *, changes: int = 1, reverted: int = 0) -> None:
    prop = _prop(stack, key)
    assert prop["drift"] == "live", prop
    assert (prop["changes"], prop["reverted"]) == (changes, reverted)
    assert not [label for label in stack.jira.issues[key]["labels"] if label.startswith("drift-")]


# ---- `This reverts commit <sha>` ------------------------------------------------------------


def test_git_revert_full_sha(stack: Stack, github: Any) -> None:
    change = _land(github, "FEAT-1: Add coupons", "coupons")
    assert _prop(stack, "FEAT-1")["drift"] == "live"
    revert = _revert(github, change)
    assert f"This reverts commit {change}." in github.repo.commit_info(revert).message
    _assert_reverted(stack, "FEAT-1")
    panel = _panel(stack, "FEAT-1")
    assert panel["drift"] == "reverted" and panel["in_drift"]
    assert _kinds(panel) == [("commit", change), ("revert", revert)]
    assert len(stack.jira.issues["FEAT-1"]["comments"]) == 1


def test_abbreviated_sha(stack: Stack, github: Any) -> None:
    change = _land(github, "FEAT-2: Gift wrap", "giftwrap")
    _revert(github, change, message=f'Revert "FEAT-2: Gift wrap"\n\nThis reverts commit {change[:7]}.\n')
    _assert_reverted(stack, "FEAT-2")


def test_several_shas_in_one_message(stack: Stack, github: Any) -> None:
    first = _land(github, "FEAT-3: Wishlist model", "wishlist")
    second = _land(github, "FEAT-3: Wishlist page", "wishlist_page")
    other = _land(github, "FEAT-4: Search box", "search")
    github.push("Back out the wishlist\n\n"
                f"This reverts commit {second}.\nThis reverts commit {first[:10]}.\n",
                {"src/wishlist.py": None, "src/wishlist_page.py": None})
    _assert_reverted(stack, "FEAT-3", changes=2)
    _assert_live(stack, "FEAT-4")
    assert other not in str(_panel(stack, "FEAT-3")["timeline"])


# ---- merges ---------------------------------------------------------------------------------


def _pull_request(github: Any, branch: str, title: str, commits: list[tuple[str, str]], method: str) -> tuple[int, str]:
    repo = github.repo
    repo.branch(branch, github.default_branch)
    repo.checkout(branch)
    for message, name in commits:
        repo.commit(message, {f"src/{name}.py": f"{name} = 1\n"})
    number = github.open_pull_request(branch, title, "Please review.")
    return number, github.merge_pull_request(number, method)


def test_revert_of_a_merge_reverts_everything_it_brought_in(stack: Stack, github: Any) -> None:
    _number, merge = _pull_request(github, "feat-5-checkout", "FEAT-5: One-page checkout",
                                   [("Checkout form", "form"), ("FEAT-6: Address helper", "address")], "merge")
    assert _prop(stack, "FEAT-5")["drift"] == "live"
    assert _prop(stack, "FEAT-6")["drift"] == "live"
    revert = _revert(github, merge, mainline=1)
    message = github.repo.commit_info(revert).message
    assert "reversing\nchanges made to" in message
    _assert_reverted(stack, "FEAT-5")
    _assert_reverted(stack, "FEAT-6")
    assert ("revert", revert) in _kinds(_panel(stack, "FEAT-6"))


@pytest.mark.parametrize("method", ["merge", "squash"])
def test_github_revert_button(stack: Stack, github: Any, method: str) -> None:
    number, _merge = _pull_request(github, "feat-7-badges", "FEAT-7: Trust badges",
                                   [("Badges", "badges")], method)
    assert _prop(stack, "FEAT-7")["drift"] == "live"
    revert_pr = github.revert_button(number)
    assert github.pulls[revert_pr].head_ref == f"revert-{number}-feat-7-badges"
    revert_merge = github.merge_pull_request(revert_pr, method)
    # The revert PR's title names FEAT-7, yet it is not a change of FEAT-7: still one change.
    _assert_reverted(stack, "FEAT-7")
    events = _kinds(_panel(stack, "FEAT-7"))
    assert events[0][0] == "pull-request" and events[-1][0] == "revert"
    # The commit that landed the revert on main is on the timeline (a merge-commit revert PR also
    # shows the revert commit it brought in).
    assert ("revert", revert_merge) in events
    assert len(stack.jira.issues["FEAT-7"]["comments"]) == 1


# ---- reverts of reverts -----------------------------------------------------------------------


def test_revert_of_a_revert_makes_it_live_again(stack: Stack, github: Any) -> None:
    change = _land(github, "FEAT-1: Express shipping", "express")
    revert = _revert(github, change)
    _assert_reverted(stack, "FEAT-1")
    again = _revert(github, revert)
    subject = github.repo.commit_info(again).message.splitlines()[0]
    assert subject in ('Revert "Revert "FEAT-1: Express shipping""', 'Reapply "FEAT-1: Express shipping"')
    _assert_live(stack, "FEAT-1", reverted=0)
    assert [k for k, _ in _kinds(_panel(stack, "FEAT-1"))] == ["commit", "revert", "revert"]
    # A third revert takes it out again.
    _revert(github, again)
    _assert_reverted(stack, "FEAT-1")


def test_reapply_written_by_new_git(stack: Stack, github: Any) -> None:
    change = _land(github, "FEAT-2: Loyalty points", "loyalty")
    revert = _revert(github, change)
    _assert_reverted(stack, "FEAT-2")
    _revert(github, revert, message=f'Reapply "FEAT-2: Loyalty points"\n\nThis reverts commit {revert}.\n')
    _assert_live(stack, "FEAT-2")


# ---- by subject, and look-alikes --------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["", " (#42)"])
def test_revert_by_subject_without_sha(stack: Stack, github: Any, suffix: str) -> None:
    change = _land(github, "FEAT-3: Store pickup", "pickup")
    _revert(github, change, message=f'Revert "FEAT-3: Store pickup"{suffix}\n')
    _assert_reverted(stack, "FEAT-3")


def test_unconfirmed_revert_is_shown_but_changes_nothing(stack: Stack, github: Any) -> None:
    _land(github, "FEAT-12: Coupon stacking", "stacking")
    unconfirmed = github.push("Revert FEAT-12 coupon tweak", {"src/stacking.py": "stacking = False\n"})
    _assert_live(stack, "FEAT-12")
    panel = _panel(stack, "FEAT-12")
    assert [e["sha"] for e in panel["unconfirmed_reverts"]] == [unconfirmed]
    assert ("unconfirmed-revert", unconfirmed) in _kinds(panel)
    assert stack.jira.issues["FEAT-12"]["comments"] == []


def test_squash_listing_an_inner_revert_reverts_nothing_on_main(stack: Stack, github: Any) -> None:
    repo = github.repo
    repo.branch("feat-8-reviews", github.default_branch)
    repo.checkout("feat-8-reviews")
    tried = repo.commit("FEAT-8: Star ratings, first try", {"src/stars.py": "STARS = 10\n"})
    repo.revert(tried)
    repo.commit("FEAT-8: Star ratings", {"src/stars_v2.py": "STARS = 5\n"})
    number = github.open_pull_request("feat-8-reviews", "FEAT-8: Reviews", "Stars.")
    squash = github.merge_pull_request(number, "squash")
    assert f"This reverts commit {tried}" in repo.commit_info(squash).message
    prop = _prop(stack, "FEAT-8")
    assert prop["drift"] == "live" and prop["reverted"] == 0 and prop["changes"] >= 1
    assert "revert" not in [k for k, _ in _kinds(_panel(stack, "FEAT-8"))]


def test_reference_form(stack: Stack, github: Any) -> None:
    change = _land(github, "FEAT-4: Saved carts", "saved")
    info = github.repo.commit_info(change)
    _revert(github, change, message=(
        "# *** SAY WHY WE ARE REVERTING ON THE TITLE LINE ***\n\n"
        f"This reverts commit {change[:8]} (FEAT-4: Saved carts, {info.author.date:%Y-%m-%d}).\n"))
    _assert_reverted(stack, "FEAT-4")


def test_revert_naming_another_key_is_not_a_change_of_it(stack: Stack, github: Any) -> None:
    change = _land(github, "FEAT-7: Dark mode", "dark")
    _revert(github, change, message=f'FEAT-9: Revert "FEAT-7: Dark mode"\n\nThis reverts commit {change}.\n')
    _assert_reverted(stack, "FEAT-7")
    assert _prop(stack, "FEAT-9").get("changes", 0) == 0
    assert stack.jira.issues["FEAT-9"]["comments"] == []
    assert _panel(stack, "FEAT-9")["has_changes"] is False


def test_only_latest_unreverted_commit_with_the_subject_is_reverted(stack: Stack, github: Any) -> None:
    first = _land(github, "FEAT-5: Tweak totals", "totals1")
    _revert(github, first)
    _land(github, "FEAT-5: Tweak totals", "totals2")  # re-landed with the same subject
    _assert_live(stack, "FEAT-5", changes=2, reverted=1)
    github.push('Revert "FEAT-5: Tweak totals"', {"src/totals2.py": None})
    _assert_reverted(stack, "FEAT-5", changes=2)


# ---- a reverted commit the app never saw --------------------------------------------------------


def _land_unseen(github: Any, message: str, name: str) -> str:
    """A commit pushed while the webhook was missing (deleted and re-added later)."""
    hook = github.hooks[0]
    github.remove_hook(hook.id)
    sha = _land(github, message, name)
    github.add_hook(hook.url, hook.secret)
    return sha


def test_reverted_sha_never_seen_with_a_token_is_learned_through_the_api(stack: Stack, github: Any) -> None:
    unseen = _land_unseen(github, "FEAT-6: Bulk discounts", "bulk")
    _revert(github, unseen)
    stack.settle()
    # The app was never told about the commit; a backfill through the API (admin button) reads it.
    response = stack.admin("POST", f"/api/connections/{_connection_id(stack)}/backfill", {})
    assert response.status_code == 202
    _assert_reverted(stack, "FEAT-6")


def test_reverted_sha_never_seen_without_a_token_changes_nothing(stack: Stack) -> None:
    github = _start(stack, token=False)
    unseen = _land_unseen(github, "FEAT-6: Bulk discounts", "bulk")
    revert = _revert(github, unseen)
    stack.settle()
    assert "system-reality" not in stack.jira.issues["FEAT-6"]["properties"]
    assert stack.jira.issues["FEAT-6"]["comments"] == []
    assert _panel(stack, "FEAT-6")["has_changes"] is False
    assert revert


def _connection_id(stack: Stack) -> str:
    [connection] = stack.admin("GET", "/api/connections").json()
    return str(connection["id"])


@pytest.mark.parametrize("token", ["gh-sandbox-token", None], ids=["with API", "push data only"])
def test_merge_revert_reverts_the_branch_not_a_mainline_commit_pushed_with_it(stack, token) -> None:
    """One push carries the branch's work (older), a mainline fix (newer) and the merge; reverting
    the merge with -m 1 reverts the branch's feature and leaves the mainline fix live."""
    from datetime import timedelta

    from connect_app.sandbox.story import MONDAY

    stack.jira.add_issue("FEAT-71", "Branch feature", status="Done")
    stack.jira.add_issue("FEAT-72", "Mainline fix", status="Done")
    stack.install()
    github = stack.start_github(token=token)
    stack.connect_repository(token=token)
    repo = github.repo
    repo.commit("Initial", {"README.md": "x\n"}, when=MONDAY)
    github.push_branch()
    repo.branch("feat-71-work")
    repo.checkout("feat-71-work")
    repo.commit("FEAT-71: branch work", {"b.py": "B = 1\n"}, when=MONDAY + timedelta(hours=1))
    repo.checkout(repo.default_branch)
    repo.commit("FEAT-72: mainline fix", {"a.py": "A = 1\n"}, when=MONDAY + timedelta(hours=2))
    merge = repo.merge("feat-71-work", "Merge branch 'feat-71-work'", when=MONDAY + timedelta(hours=3))
    github.push_branch()
    repo.revert(merge, mainline=1, when=MONDAY + timedelta(hours=4))
    github.push_branch()
    stack.settle()
    assert stack.jira.issues["FEAT-71"]["properties"]["system-reality"]["drift"] == "reverted"
    assert stack.jira.issues["FEAT-72"]["properties"]["system-reality"]["drift"] == "live"
