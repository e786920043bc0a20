"""What Jira's Releases and Deployments are told, decided without Jira: which issues each
deployment carried or took out, and how flags are grouped (reality.devops, pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from connect_app.reality.devops import (
    DeploymentRun,
    Pipeline,
    RepositoryRuns,
    deployment_outcomes,
    deployment_records,
    environment_type,
    flag_records,
    web_url,
)
from connect_app.reality.model import Commit, FlagState
from connect_app.reality.reverts import analyse_reverts

T0 = datetime(2026, 11, 23, 10, tzinfo=UTC)
PIPELINE = Pipeline(id="c1", name="acme/shop", url="https://github.com/acme/shop")


def _repo(commits: list[Commit], runs: list[DeploymentRun]) -> RepositoryRuns:
    return RepositoryRuns(pipeline=PIPELINE, commits=commits, pulls=(), analysis=analyse_reverts(commits, ()),
                          runs=runs)


def _run(number: int, sha: str, *, env: str = "production", status: str = "success") -> DeploymentRun:
    return DeploymentRun(number=number, environment=env, production=env == "production", sha=sha, status=status,
                         at=T0 + timedelta(hours=number))


COMMITS = [Commit("a" * 40, "Initial"), Commit("b" * 40, "FEAT-1: coupons"), Commit("c" * 40, "FEAT-2: wrap"),
           Commit("d" * 40, f'Revert "FEAT-1: coupons"\n\nThis reverts commit {"b" * 40}.')]


def _outcomes(runs: list[DeploymentRun]) -> list[tuple[int, str, list[str]]]:
    return [(run.number, state, keys) for run, state, keys in deployment_outcomes(_repo(COMMITS, runs), None, {})]


def test_a_deployment_behind_the_previous_one_rolls_back_what_it_took_out() -> None:
    assert _outcomes([_run(1, "b" * 40), _run(2, "c" * 40), _run(3, "b" * 40)]) == [
        (1, "successful", ["FEAT-1"]), (2, "successful", ["FEAT-2"]), (3, "rolled_back", ["FEAT-2"])]


def test_a_shipped_revert_rolls_back_the_issue_it_reverts_and_nothing_else() -> None:
    assert _outcomes([_run(1, "c" * 40), _run(2, "d" * 40)]) == [
        (1, "successful", ["FEAT-1", "FEAT-2"]), (2, "rolled_back", ["FEAT-1"])]


def test_a_failed_deployment_names_what_it_tried_to_ship_and_changes_nothing() -> None:
    assert _outcomes([_run(1, "b" * 40), _run(2, "c" * 40, status="failure"), _run(3, "c" * 40)]) == [
        (1, "successful", ["FEAT-1"]), (2, "failed", ["FEAT-2"]), (3, "successful", ["FEAT-2"])]


def test_environments_are_followed_apart_and_typed() -> None:
    assert _outcomes([_run(1, "c" * 40, env="staging"), _run(2, "b" * 40)]) == [
        (1, "successful", ["FEAT-1", "FEAT-2"]), (2, "successful", ["FEAT-1"])]
    assert [environment_type(n, False) for n in ("staging", "QA", "dev-eu", "canary")] == [
        "staging", "testing", "development", "unmapped"]


def test_carried_and_taken_out_are_jira_deployments_with_distinct_increasing_numbers() -> None:
    records = deployment_records(_repo(COMMITS, [_run(7, "c" * 40), _run(9, "b" * 40)]), None, {"FEAT-2": "SHOP-2"})
    numbers = {key: r["deploymentSequenceNumber"] for key, r in records.items()}
    assert numbers == {"deployment:c1:production:7168": 7 * 1024, "deployment:c1:production:9728": 9 * 1024 + 512}
    rolled = records["deployment:c1:production:9728"]
    assert rolled["state"] == "rolled_back"
    assert rolled["associations"] == [{"associationType": "issueIdOrKeys", "values": ["SHOP-2"]}]
    assert rolled["url"] == f"https://github.com/acme/shop/commit/{'b' * 40}"


def test_flags_are_one_record_per_flag_with_a_detail_per_environment() -> None:
    def state(env: str, on: bool, hours: int, production: bool) -> FlagState:
        return FlagState(provider="generic", key="feat-1-coupons", name="Coupons", environment=env, on=on,
                         changed_at=T0 + timedelta(hours=hours), issue_keys=("FEAT-1",), production=production)

    flags = [state("production", False, 2, True), state("staging", True, 1, False), state("production", True, 1, True)]
    quiet = FlagState(provider="generic", key="dark-mode", name="", environment="production", on=False,
                      changed_at=T0, issue_keys=())
    (record,) = flag_records([*flags, quiet], "https://app.example.com", None, {}).values()
    assert record["id"] == "generic:feat-1-coupons" and record["issueKeys"] == ["FEAT-1"]
    assert record["summary"]["status"] == {"enabled": False}
    assert [(d["environment"], d["status"]["enabled"]) for d in record["details"]] == [
        ({"name": "production", "type": "production"}, False), ({"name": "staging", "type": "staging"}, True)]


def test_an_odd_link_gives_way_to_the_fallback_so_jira_takes_the_batch() -> None:
    fallback = "https://github.com/acme/shop/commit/abc"
    for odd in (None, "", "javascript:alert(1)", "ci.example.com/run/7", "https://ci.example.com/a b",
                "https://x.example/" + "a" * 2000):
        assert web_url(odd, fallback) == fallback
    assert web_url("https://ci.example.com/run/7", fallback) == "https://ci.example.com/run/7"


def test_a_deployment_carrying_the_whole_history_is_sliced_to_jiras_500_issues() -> None:
    commits = [Commit(f"{n:040x}", f"FEAT-{n}: change") for n in range(1, 1201)]
    records = deployment_records(_repo(commits, [_run(3, commits[-1].sha)]), None, {})
    sizes = {r["deploymentSequenceNumber"]: len(r["associations"][0]["values"]) for r in records.values()}
    assert sizes == {3072: 500, 3073: 500, 3074: 200}
    carried = {k for r in records.values() for k in r["associations"][0]["values"]}
    assert len(carried) == 1200
