"""Configuration rollbacks as drift (INTERFACES 4): the pure rule, its words and its record."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from connect_app.reality import story
from connect_app.reality.config import config_standing
from connect_app.reality.drift import BranchIndex, changes_for_keys, drift_for_keys, timeline_for_key
from connect_app.reality.model import Commit, ConfigChange, Deployment, FlagState
from connect_app.reality.record import change_id, drift_from_record, drift_record
from connect_app.reality.reverts import analyse_reverts

KEY = "FEAT-304"


def at(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=UTC)


def sha(name: str) -> str:
    return hashlib.sha1(name.encode()).hexdigest()


SHIPPED = Commit(sha("a"), "FEAT-304 payment retry", timestamp=at(24, 10), files=("retry.py",))


def config(ref: str, change: str, day: int, hour: int = 12, *, keys: tuple[str, ...] = (KEY,),
           environment: str = "production", production: bool = True, arrival: int = 0) -> ConfigChange:
    return ConfigChange(ref=ref, environment=environment, change=change,  # type: ignore[arg-type]
                        issue_keys=keys, description=f"retry settings {ref}", changed_at=at(day, hour),
                        url=f"https://argocd.example.com/applications/shop?rev={ref}", production=production,
                        arrival=arrival)


def drift(configs, commits=(SHIPPED,), **kwargs):
    return drift_for_keys(list(commits), known_projects={"FEAT"}, configs=configs, **kwargs)


def test_a_production_config_revert_rolls_the_issue_back_with_the_config_as_cause():
    result = drift([config("c1", "reverted", 26, 23)], titles={KEY: "Payment retry logic v2"})[KEY]
    assert (result.state, result.since, result.environment) == ("rolled-back", at(26, 23), "production")
    assert (result.cause_kind, result.cause_ref, result.cause_text) == ("config", "c1", "retry settings c1")
    assert result.cause_url == "https://argocd.example.com/applications/shop?rev=c1"
    assert result.summary == ("Payment retry logic v2 was rolled back in production on Thu 26 Nov at 23:00 UTC: "
                              "its configuration was reverted (“retry settings c1”).")
    assert result.changes == 1


def test_a_later_applied_change_restores_it_and_is_what_it_is_live_since():
    result = drift([config("c1", "reverted", 26), config("c2", "applied", 27)])[KEY]
    assert (result.state, result.since, result.cause_kind, result.cause_ref) == ("live", at(27), "config", "c2")
    assert "live in production again since Fri 27 Nov at 12:00 UTC" in result.summary
    assert change_id(result) is None


def test_an_applied_change_that_ended_no_rollback_is_not_the_cause_of_live():
    result = drift([config("c0", "applied", 27)])[KEY]
    assert (result.state, result.cause_kind) == ("live", "commit")


def test_order_is_changed_at_then_arrival_never_the_order_given():
    revert, apply = config("c1", "reverted", 26, arrival=1), config("c2", "applied", 27, arrival=2)
    assert drift([apply, revert])[KEY].state == "live"
    # Same instant: the one that reached us later wins.
    late_revert = config("c3", "reverted", 27, arrival=3)
    assert drift([late_revert, apply, revert])[KEY].state == "rolled-back"
    early_revert = config("c3", "reverted", 27, arrival=0)
    assert drift([apply, early_revert, revert])[KEY].state == "live"


def test_staging_and_other_environments_change_nothing():
    staging = config("s1", "reverted", 26, environment="staging", production=False)
    assert drift([staging])[KEY].state == "live"
    # Nor is an issue named only by a staging change judged at all.
    assert drift([config("s2", "reverted", 26, keys=("FEAT-9",), environment="staging", production=False)]
                 ).keys() == {KEY}


def test_an_applied_change_restores_only_its_own_environment_and_keys():
    both = config("c1", "reverted", 26, keys=(KEY, "FEAT-305"))
    eu = config("c2", "reverted", 26, 13, environment="prod-eu")
    back = config("c3", "applied", 27, keys=(KEY,))
    result = drift([both, eu, back])
    assert result[KEY].state == "rolled-back" and result[KEY].cause_ref == "c2"
    assert result["FEAT-305"].state == "rolled-back" and result["FEAT-305"].cause_ref == "c1"
    assert result["FEAT-305"].changes == 0  # named by configuration only, never by code
    assert drift([both, eu, back, config("c4", "applied", 28, environment="PROD-EU")])[KEY].state == "live"


def test_a_second_revert_while_rolled_back_keeps_the_first_as_the_cause():
    """Replays and repeated rollbacks must not read as a new drift (a second comment)."""
    first = drift([config("c1", "reverted", 26)])[KEY]
    again = drift([config("c1", "reverted", 26), config("c2", "reverted", 27)])[KEY]
    assert change_id(first) == change_id(again) and again.since == at(26)
    # Reverted, applied, reverted again is a new rollback: its own change, its own comment.
    later = drift([config("c1", "reverted", 26), config("c2", "applied", 27), config("c3", "reverted", 28)])[KEY]
    assert later.state == "rolled-back" and change_id(later) != change_id(first)


def test_a_deployment_rollback_is_named_first_and_config_takes_over_when_the_code_is_back():
    deploy = Deployment("d1", "production", SHIPPED.sha, at(24, 11), added=(SHIPPED.sha,))
    undeploy = Deployment("d2", "production", sha("old"), at(25), removed=(SHIPPED.sha,))
    revert = config("c1", "reverted", 26)
    both = drift([revert], deployments=[deploy, undeploy])[KEY]
    assert (both.state, both.cause_kind, both.cause_ref) == ("rolled-back", "deployment", "d2")
    redeploy = Deployment("d3", "production", SHIPPED.sha, at(27), added=(SHIPPED.sha,))
    config_only = drift([revert], deployments=[deploy, undeploy, redeploy])[KEY]
    assert (config_only.state, config_only.cause_kind) == ("rolled-back", "config")


def test_a_config_rollback_outranks_a_flag_and_a_code_revert_does_not_outrank_it():
    flag = FlagState("generic", "feat-304-retry", "Retry", "production", False, at(25))
    assert drift([config("c1", "reverted", 26)], flags=[flag])[KEY].state == "rolled-back"
    reverting = Commit(sha("r"), f'Revert "FEAT-304 payment retry"\n\nThis reverts commit {SHIPPED.sha}.',
                       timestamp=at(25))
    result = drift([config("c1", "reverted", 26)], commits=(SHIPPED, reverting))[KEY]
    assert (result.state, result.cause_kind) == ("rolled-back", "config")


def test_record_round_trip_keeps_the_description_and_leaves_other_records_as_they_were():
    result = drift([config("c1", "reverted", 26)], titles={KEY: "Retry"})[KEY]
    record = drift_record(result)
    assert record["cause_text"] == "retry settings c1"
    assert drift_from_record(KEY, record, "Retry") == result
    assert "cause_text" not in drift_record(drift([])[KEY])


def test_the_comment_says_configuration_description_link_done_and_commitments():
    result = drift([config("c1", "reverted", 26)], titles={KEY: "Retry"})[KEY]
    adf = story.drift_comment_adf(result, feature_title="Retry", jira_status="Done", cause_url=None,
                                  stakeholders=[("acc-1", "Ann")])
    text = str(adf)
    assert "No longer live in production" in text
    assert "its configuration was reverted (“retry settings c1”)" in text
    assert "https://argocd.example.com/applications/shop?rev=c1" in text
    assert "Jira still says “Done”" in text
    assert story.CONFIG_MEANING in text


def test_timeline_shows_config_changes_of_every_environment():
    staging = config("s1", "reverted", 25, environment="staging", production=False)
    analysis = analyse_reverts([SHIPPED], [])
    changes = changes_for_keys([SHIPPED], [], analysis, None)[KEY]
    other_issue = config("x", "reverted", 26, keys=("FEAT-9",))
    events = timeline_for_key(KEY, changes, analysis, branch=BranchIndex.of([SHIPPED]),
                              configs=[config("c1", "reverted", 26), staging, other_issue])
    assert [(e.kind, e.environment, e.title) for e in events if e.kind == "config"] == [
        ("config", "staging", "Configuration reverted: retry settings s1"),
        ("config", "production", "Configuration reverted: retry settings c1"),
    ]


def test_routine_applies_are_not_news_but_the_one_that_ends_a_rollback_is():
    analysis = analyse_reverts([SHIPPED], [])
    changes = changes_for_keys([SHIPPED], [], analysis, None)[KEY]
    history = [config("sync-1", "applied", 24), config("undo", "reverted", 25), config("redo", "applied", 26),
               config("sync-2", "applied", 27), config("eu-sync", "applied", 27, environment="prod-eu")]
    events = timeline_for_key(KEY, changes, analysis, branch=BranchIndex.of([SHIPPED]), configs=history)
    assert [e.title for e in events if e.kind == "config"] == [
        "Configuration reverted: retry settings undo", "Configuration applied: retry settings redo"]


def test_standing_per_environment():
    standing = config_standing(KEY, [config("c1", "reverted", 26), config("c2", "reverted", 25, environment="eu")])
    assert [c.ref for c in standing.rolled_back] == ["c2", "c1"] and standing.restored is None
