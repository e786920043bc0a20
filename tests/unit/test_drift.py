"""Every drift state, with and without deployment tracking."""

import hashlib
from datetime import UTC, datetime

from connect_app.reality.drift import (
    BranchIndex,
    changes_for_keys,
    compute_drift,
    drift_for_keys,
    find_hotfixes,
    timeline_for_key,
)
from connect_app.reality.model import Commit, Deployment, FlagState, PullRequest
from connect_app.reality.reverts import analyse_reverts

KEY = "FEAT-304"


def at(day: int, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(2025, 11, day, hour, minute, tzinfo=UTC)


def sha(name: str) -> str:
    return hashlib.sha1(name.encode()).hexdigest()


def commit(name: str, message: str, day: int = 24, hour: int = 10, **kwargs) -> Commit:
    kwargs.setdefault("files", ("payments/retry.py",))
    return Commit(sha(name), message, timestamp=at(day, hour), **kwargs)


def revert_of(name: str, target: Commit, day: int = 26, hour: int = 23) -> Commit:
    return commit(name, f'Revert "{target.subject}"\n\nThis reverts commit {target.sha}.', day, hour)


def drift(commits, pulls=(), **kwargs):
    return drift_for_keys(commits, pulls, known_projects={"FEAT", "OPS"}, **kwargs)[KEY]


def deploy(ident: str, day: int, hour: int, added=(), removed=(), minute: int = 0) -> Deployment:
    return Deployment(ident, "production", sha(ident), at(day, hour, minute),
                      tuple(c.sha for c in added), tuple(c.sha for c in removed))


# ---- without deployment tracking ------------------------------------------------------------


def test_a_change_is_live():
    a = commit("a", "FEAT-304 payment retry")
    result = drift([a])
    assert (result.state, result.changes, result.reverted, result.environment) == ("live", 1, 0, None)
    assert not result.in_drift


def test_all_changes_reverted_is_reverted_since_the_revert():
    a = commit("a", "FEAT-304 payment retry")
    r = revert_of("r", a)
    result = drift([a, r], titles={KEY: "Payment retry logic v2"})
    assert result.state == "reverted"
    assert result.since == r.timestamp
    assert (result.cause_kind, result.cause_ref) == ("commit", r.sha)
    assert (result.changes, result.reverted) == (1, 1)
    assert result.summary.startswith("Payment retry logic v2 was reverted on Wed 26 Nov at 23:00 UTC")


def test_some_reverted_is_partially_reverted():
    a = commit("a", "FEAT-304 part one")
    b = commit("b", "FEAT-304 part two")
    r = revert_of("r", b)
    result = drift([a, b, r])
    assert (result.state, result.changes, result.reverted) == ("partially-reverted", 2, 1)


def test_a_new_change_after_the_revert_is_a_reland():
    a = commit("a", "FEAT-304 payment retry")
    r = revert_of("r", a)
    again = commit("again", "FEAT-304 payment retry, fixed", day=27)
    assert drift([a, r, again]).state == "live"


def test_revert_of_revert_makes_it_live_again():
    a = commit("a", "FEAT-304 payment retry")
    r = revert_of("r", a)
    rr = commit("rr", f'Revert "{r.subject}"\n\nThis reverts commit {r.sha}.', day=28)
    result = drift([a, r, rr])
    assert result.state == "live"
    assert (result.cause_ref, result.since) == (rr.sha, rr.timestamp)


def test_reapply_makes_it_live_again():
    a = commit("a", "FEAT-304 payment retry")
    r = commit("r", 'Revert "FEAT-304 payment retry"', day=26)
    again = commit("again", 'Reapply "FEAT-304 payment retry"', day=27)
    assert drift([a, r]).state == "reverted"
    assert drift([a, r, again]).state == "live"


def test_a_revert_naming_the_key_is_never_a_change():
    a = commit("a", "FEAT-304 payment retry")
    r = commit("r", f'FEAT-304: Revert "FEAT-304 payment retry"\n\nThis reverts commit {a.sha}.')
    analysis = analyse_reverts([a, r])
    changes = changes_for_keys([a, r], [], analysis, {"FEAT"})
    assert [c.sha for c in changes[KEY]] == [a.sha]


def test_unconfirmed_revert_changes_no_state_but_shows_on_the_timeline():
    a = commit("a", "FEAT-304 payment retry")
    vague = commit("v", "Revert FEAT-304 for now", day=26)
    assert drift([a, vague]).state == "live"
    analysis = analyse_reverts([a, vague])
    changes = changes_for_keys([a, vague], [], analysis, None)
    events = timeline_for_key(KEY, changes[KEY], analysis, branch=BranchIndex.of([a, vague]))
    assert [e.kind for e in events] == ["commit", "unconfirmed-revert"]


def test_pull_request_merge_is_a_change_by_title_body_or_branch():
    x = commit("x", "Add retry loop")
    merge = commit("m", "Merge pull request #7 from acme/feat-304-retry", brought_in=(x.sha,))
    squash = commit("s", "Tidy up (#9)")
    pulls = [
        PullRequest(7, "Payment retry", "", "feat-304-retry", merge.sha, at(24), (x.sha,)),
        PullRequest(9, "Tidy up", "Part of OPS-12", "tidy", squash.sha, at(24)),
        PullRequest(10, "FEAT-304 never merged", "", "x", sha("unmerged"), None),
    ]
    analysis = analyse_reverts([x, merge, squash], pulls)
    changes = changes_for_keys([x, merge, squash], pulls, analysis, {"FEAT", "OPS"})
    assert [(c.sha, c.pr_number, c.position) for c in changes[KEY]] == [(merge.sha, 7, 1)]
    assert [c.sha for c in changes["OPS-12"]] == [squash.sha]


def test_keys_of_unknown_projects_are_ignored():
    a = commit("a", "NODE-18 bump and FEAT-304")
    analysis = analyse_reverts([a])
    assert set(changes_for_keys([a], [], analysis, {"FEAT"})) == {KEY}


# ---- with deployment tracking ---------------------------------------------------------------


def test_merged_but_never_deployed_is_pending_deploy():
    a = commit("a", "FEAT-304 payment retry")
    other = commit("o", "OPS-1 something else")
    result = drift([other, a], deployments=[deploy("d1", 24, 9, added=[other])])
    assert result.state == "pending-deploy"
    assert not result.in_drift
    assert result.environment == "production"


def test_revert_counts_only_once_deployed():
    a = commit("a", "FEAT-304 payment retry")
    r = revert_of("r", a, hour=23)
    d1 = deploy("d1", 24, 12, added=[a])
    merged_only = drift([a, r], deployments=[d1])
    assert merged_only.state == "live"
    d2 = deploy("d2", 26, 23, added=[r], minute=31)
    shipped = drift([a, r], deployments=[d1, d2], titles={KEY: "Payment retry logic v2"})
    assert shipped.state == "reverted"
    assert shipped.since == at(26, 23, 31)
    assert shipped.environment == "production"
    assert shipped.cause_ref == r.sha
    assert shipped.summary == (
        f"Payment retry logic v2 was reverted in production on Wed 26 Nov at 23:31 UTC by commit {r.sha[:7]}."
    )


def test_rollback_deploy_then_redeploy():
    a = commit("a", "FEAT-304 payment retry")
    d1 = deploy("d1", 24, 12, added=[a])
    rollback = deploy("d2", 25, 9, removed=[a])
    result = drift([a], deployments=[d1, rollback])
    assert result.state == "rolled-back"
    assert (result.cause_kind, result.cause_ref, result.since) == ("deployment", "d2", at(25, 9))
    again = deploy("d3", 25, 15, added=[a])
    restored = drift([a], deployments=[d1, rollback, again])
    assert restored.state == "live"
    assert (restored.cause_kind, restored.cause_ref, restored.since) == ("deployment", "d3", at(25, 15))


def test_diverged_deployment_rolls_back_what_only_the_old_one_had():
    base = commit("base", "OPS-1 base")
    a = commit("a", "FEAT-304 payment retry")
    hotbranch = commit("h", "OPS-2 other line of work")
    d1 = deploy("d1", 24, 12, added=[base, a])
    diverged = deploy("d2", 25, 12, added=[hotbranch], removed=[a])
    assert drift([base, a, hotbranch], deployments=[d1, diverged]).state == "rolled-back"


def test_rollback_outranks_reverted():
    a = commit("a", "FEAT-304 one")
    b = commit("b", "FEAT-304 two")
    r = revert_of("r", b)
    d1 = deploy("d1", 24, 12, added=[a, b])
    d2 = deploy("d2", 26, 23, added=[r], removed=[a])
    assert drift([a, b, r], deployments=[d1, d2]).state == "rolled-back"


def test_rolling_back_the_revert_makes_the_feature_live():
    a = commit("a", "FEAT-304 payment retry")
    r = revert_of("r", a)
    d1 = deploy("d1", 24, 12, added=[a])
    d2 = deploy("d2", 26, 23, added=[r])
    d3 = deploy("d3", 27, 8, removed=[r])
    assert drift([a, r], deployments=[d1, d2, d3]).state == "live"


# ---- flags and hotfixes ---------------------------------------------------------------------


def flag(on: bool, production: bool = True, **kwargs) -> FlagState:
    return FlagState("launchdarkly", kwargs.pop("key", "payment-retry"), "Payment retry",
                     "production" if production else "staging", on, at(26, 8), production=production,
                     **kwargs)


def test_linked_flag_off_in_production_is_flag_off():
    a = commit("a", "FEAT-304 payment retry")
    result = drift([a], flags=[flag(False, issue_keys=(KEY,))])
    assert (result.state, result.cause_kind, result.cause_ref, result.since) == (
        "flag-off", "flag", "payment-retry", at(26, 8),
    )


def test_flag_named_after_the_key_is_linked_and_staging_does_not_count():
    a = commit("a", "FEAT-304 payment retry")
    assert drift([a], flags=[flag(False, key="feat-304-retry")]).state == "flag-off"
    assert drift([a], flags=[flag(False, production=False, key="feat-304-retry")]).state == "live"
    assert drift([a], flags=[flag(True, key="feat-304-retry")]).state == "live"


def test_flag_alone_makes_an_issue_without_changes_flag_off():
    result = drift_for_keys([], flags=[flag(False, issue_keys=(KEY,))])[KEY]
    assert (result.state, result.changes) == ("flag-off", 0)


def test_flag_off_names_its_environment_without_deployment_tracking():
    a = commit("a", "FEAT-304 payment retry")
    result = drift([a], flags=[flag(False, issue_keys=(KEY,))])
    assert (result.state, result.environment) == ("flag-off", "production")


def test_reverted_outranks_flag_off():
    a = commit("a", "FEAT-304 payment retry")
    r = revert_of("r", a)
    assert drift([a, r], flags=[flag(False, issue_keys=(KEY,))]).state == "reverted"


def test_hotfix_on_the_same_files_after_done_is_hotfixed():
    a = commit("a", "FEAT-304 payment retry", day=24)
    fix = commit("fix", "Hotfix: stop double charging", day=27)
    unrelated = commit("u", "hotfix: header colour", day=27, files=("web/header.css",))
    assert drift([a, unrelated], done_at={KEY: at(25)}).state == "live"
    result = drift([a, fix], done_at={KEY: at(25)})
    assert (result.state, result.cause_ref) == ("hotfixed", fix.sha)
    assert drift([a, fix], done_at={KEY: at(28)}).state == "live"  # before Done: not a hotfix
    assert drift([a, fix]).state == "live"  # not Done at all


def test_hotfix_after_done_is_judged_by_when_it_reached_the_branch():
    # Written on the 23rd (before Done on the 25th), pushed on the 27th: a hotfix after Done.
    a = commit("a", "FEAT-304 payment retry", day=22)
    late_push = commit("fix", "Hotfix: stop double charging", day=23, landed_at=at(27))
    result = drift([a, late_push], done_at={KEY: at(25)})
    assert (result.state, result.cause_ref) == ("hotfixed", late_push.sha)
    # Dated after Done (a rebase rewrote the date) but pushed before it: not after Done.
    early_push = commit("fix2", "Hotfix: stop double charging", day=27, landed_at=at(24))
    assert drift([a, early_push], done_at={KEY: at(25)}).state == "live"


def test_hotfix_marked_by_branch_and_naming_a_key_is_not_a_hotfix():
    a = commit("a", "FEAT-304 payment retry", day=24)
    fix = commit("fix", "Stop double charging (#20)", day=27)
    keyed = commit("k", "Hotfix OPS-3 double charging", day=27)
    pulls = [PullRequest(20, "Stop double charging", "", "hotfix/double-charge", fix.sha, at(27))]
    analysis = analyse_reverts([a, fix, keyed], pulls)
    assert [c.sha for c in find_hotfixes([a, fix, keyed], pulls, analysis, {"OPS"})] == [fix.sha]


def test_hotfix_with_tracking_counts_once_deployed():
    a = commit("a", "FEAT-304 payment retry", day=24)
    fix = commit("fix", "hotfix double charge", day=27)
    d1 = deploy("d1", 24, 12, added=[a])
    assert drift([a, fix], deployments=[d1], done_at={KEY: at(25)}).state == "live"
    d2 = deploy("d2", 27, 14, added=[fix])
    result = drift([a, fix], deployments=[d1, d2], done_at={KEY: at(25)})
    assert (result.state, result.since) == ("hotfixed", at(27, 14))


def test_tracked_repository_with_no_compared_deployment_yet_is_pending_not_untracked():
    # A repository that deploys to production, whose first deployment is still being compared:
    # nothing counts as live there yet. Treating it as untracked would call a merged-but-not-
    # deployed revert "reverted" and post a comment before production changed.
    a = commit("a", "FEAT-304 payment retry")
    analysis = analyse_reverts([a])
    changes = changes_for_keys([a], [], analysis, None)[KEY]
    tracked = compute_drift(KEY, changes, analysis, branch=BranchIndex.of([a]), deployments=[],
                            feature_title="Payment retry")
    assert tracked.state == "pending-deploy"
    untracked = compute_drift(KEY, changes, analysis, branch=BranchIndex.of([a]), deployments=None,
                              feature_title="Payment retry")
    assert untracked.state == "live" and untracked.environment is None


def test_timeline_tells_the_story_in_order():
    a = commit("a", "FEAT-304 payment retry", day=24, hour=10)
    r = revert_of("r", a, day=26, hour=23)
    d1 = deploy("d1", 24, 12, added=[a])
    d2 = deploy("d2", 26, 23, added=[r], minute=31)
    analysis = analyse_reverts([a, r])
    changes = changes_for_keys([a, r], [], analysis, None)[KEY]
    events = timeline_for_key(KEY, changes, analysis, branch=BranchIndex.of([a, r]), deployments=[d1, d2],
                              flags=[flag(False, issue_keys=(KEY,))])
    assert [e.kind for e in events] == ["commit", "deployment", "flag", "revert", "deployment"]
    assert events[3].as_dict()["short"] == r.sha[:7]
    assert events[4].environment == "production"
