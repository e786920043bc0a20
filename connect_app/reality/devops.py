"""What Jira's own DevOps surfaces (the issue's Releases field, the Deployments page) should say.

Pure functions from the facts the app knows to the records Jira Software's bulk APIs take
(`POST /rest/deployments/0.1/bulk`, `POST /rest/featureflags/0.1/bulk`; schemas transcribed in
tests/fixtures/jira-software-openapi/). The sequence numbers are not decided here: sync keeps
them, so that a record whose content did not move is never sent again.

A deployment of ours can be several Jira deployments: the issues it carried (state `successful`,
or `failed`) and the issues it took out (a rollback, or a revert it shipped: `rolled_back`), each
in slices of at most 500 issues (Jira's limit per deployment; a first deployment carries the
whole history). Jira keys a deployment by pipeline, environment and `deploymentSequenceNumber`,
so our deployment number n takes the numbers from n * 1024: carried slices first, taken-out
slices from n * 1024 + 512. They stay unique and increase with n.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from connect_app.reality.drift import changes_for_keys
from connect_app.reality.history import difference_on_branch
from connect_app.reality.keys import project_of
from connect_app.reality.model import Commit, FlagState, PullRequest, RevertAnalysis
from connect_app.reality.record import iso
from connect_app.reality.reverts import reverted_in

SUCCESS = "success"
# Jira takes at most 500 issues per deployment; SLICES of them per state and deployment.
KEYS_PER_DEPLOYMENT = 500
SLICES = 512
FAILED = frozenset({"failure", "error"})
# Jira's environment types; a name that says none of these is `unmapped`.
_ENVIRONMENT_WORDS = (("staging", ("stag", "preprod", "pre-prod", "uat")), ("testing", ("test", "qa")),
                      ("development", ("dev", "local", "sandbox")))


@dataclass(frozen=True)
class DeploymentRun:
    """One deployment the app knows of, in any environment and state.

    `number` increases as deployments are recorded (the stored row's id). `added`/`removed` are
    what it changed against the environment's previous successful deployment when a comparison
    was made (production); None lets the recorded branch order decide."""

    number: int
    environment: str
    production: bool
    sha: str
    status: str
    at: datetime
    url: str | None = None
    added: tuple[str, ...] | None = None
    removed: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Pipeline:
    """A repository as Jira's Deployments page lists it."""

    id: str
    name: str
    url: str


@dataclass(frozen=True)
class RepositoryRuns:
    pipeline: Pipeline
    commits: Sequence[Commit]  # the default branch, in order
    pulls: Sequence[PullRequest]
    analysis: RevertAnalysis
    runs: Sequence[DeploymentRun]


def web_url(value: str | None, fallback: str) -> str:
    """A link Jira takes (`format: uri`, at most 2000 characters); anything else gives way to the
    fallback, so that one odd link a CI tool sent never makes Jira refuse a whole batch."""
    if value and value.startswith(("https://", "http://")) and len(value) <= 2000 \
            and not any(c.isspace() or c in '<>"' for c in value):
        return value
    return fallback


def environment_type(name: str, production: bool) -> str:
    if production:
        return "production"
    lowered = name.lower()
    for kind, words in _ENVIRONMENT_WORDS:
        if any(word in lowered for word in words):
            return kind
    return "unmapped"


@dataclass(frozen=True)
class _Index:
    """Which issues each commit is a change of, and what each revert undoes, built once."""

    keys_by_sha: Mapping[str, set[str]]
    shas_by_key: Mapping[str, set[str]]
    revert_targets: Mapping[str, tuple[str, ...]]  # revert -> the commits (and reverts) it undoes
    reverted_by_revert: Mapping[str, tuple[str, ...]]  # revert -> the commits it reverts

    @classmethod
    def of(cls, repo: RepositoryRuns, known: Collection[str] | None, moves: Mapping[str, str]) -> _Index:
        keys_by_sha: dict[str, set[str]] = {}
        shas_by_key: dict[str, set[str]] = {}
        for key, changes in changes_for_keys(repo.commits, repo.pulls, repo.analysis, known).items():
            for change in changes:
                keys_by_sha.setdefault(change.sha, set()).add(moves.get(key, key))
                shas_by_key.setdefault(moves.get(key, key), set()).add(change.sha)
        return cls(keys_by_sha, shas_by_key,
                   {r.sha: (*r.targets, *r.undoes) for r in repo.analysis.reverts},
                   {r.sha: r.targets for r in repo.analysis.reverts})

    def touched(self, shas: Iterable[str]) -> set[str]:
        """Issues whose changes these commits are, or whose changes they revert (or re-apply)."""
        keys: set[str] = set()
        for sha in shas:
            keys |= self.keys_by_sha.get(sha, set())
            for target in self.revert_targets.get(sha, ()):
                keys |= self.keys_by_sha.get(target, set())
                for again in self.reverted_by_revert.get(target, ()):
                    keys |= self.keys_by_sha.get(again, set())
        return keys

    def live(self, keys: Iterable[str], contained: set[str], reverted: Mapping[str, str]) -> set[str]:
        """Those of `keys` with a change in the environment that no revert there undoes."""
        return {key for key in keys
                if any(sha in contained and sha not in reverted for sha in self.shas_by_key.get(key, ()))}


def _difference(run: DeploymentRun, branch: list[str], base: str | None) -> tuple[list[str], list[str]]:
    if run.added is not None and run.removed is not None:
        return list(run.added), list(run.removed)
    return difference_on_branch(branch, base, run.sha) or ([], [])


def deployment_outcomes(repo: RepositoryRuns, known: Collection[str] | None,
                        moves: Mapping[str, str]) -> list[tuple[DeploymentRun, str, list[str]]]:
    """(run, Jira state, issue keys) for every deployment that concerns at least one issue:
    `successful` for the issues a successful deployment carried, `rolled_back` for those it took
    out of the environment, `failed` for those a failed deployment tried to ship."""
    index = _Index.of(repo, known, moves)
    branch = [commit.sha for commit in repo.commits]
    contained: dict[str, set[str]] = {}
    last_sha: dict[str, str] = {}
    outcomes: list[tuple[DeploymentRun, str, list[str]]] = []
    for run in sorted(repo.runs, key=lambda r: (r.at, r.number)):
        env = run.environment.lower()
        here = contained.setdefault(env, set())
        if run.status in FAILED:
            tried = difference_on_branch(branch, last_sha.get(env), run.sha) or ([], [])
            keys = index.touched(tried[0])
            if keys:
                outcomes.append((run, "failed", sorted(keys)))
            continue
        if run.status != SUCCESS:
            continue
        added, removed = _difference(run, branch, last_sha.get(env))
        touched = index.touched([*added, *removed])
        before = index.live(touched, here, reverted_in(repo.analysis, here))
        here.difference_update(removed)
        here.update(added)
        last_sha[env] = run.sha
        after = index.live(touched, here, reverted_in(repo.analysis, here))
        if after:
            outcomes.append((run, "successful", sorted(after)))
        if before - after:
            outcomes.append((run, "rolled_back", sorted(before - after)))
    return outcomes


def deployment_records(repo: RepositoryRuns, known: Collection[str] | None,
                       moves: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """Jira deployment records (all but `updateSequenceNumber`) by a stable identity."""
    records: dict[str, dict[str, Any]] = {}
    for run, state, all_keys in deployment_outcomes(repo, known, moves):
        for slice_number, start in enumerate(range(0, min(len(all_keys), SLICES * KEYS_PER_DEPLOYMENT),
                                                   KEYS_PER_DEPLOYMENT)):
            keys = all_keys[start:start + KEYS_PER_DEPLOYMENT]
            sequence = run.number * 2 * SLICES + (SLICES if state == "rolled_back" else 0) + slice_number
            key, record = _deployment_record(repo, run, state, keys, sequence)
            records[key] = record
    return records


def _deployment_record(repo: RepositoryRuns, run: DeploymentRun, state: str, keys: list[str],
                       sequence: int) -> tuple[str, dict[str, Any]]:
    env_id = run.environment.lower()
    record = {
        "deploymentSequenceNumber": sequence,
        "displayName": f"Deployment of {run.sha[:7]} to {run.environment}"[:255],
        "url": web_url(run.url, f"{repo.pipeline.url}/commit/{run.sha}"),
        "description": _description(state, run, keys)[:255],
        "lastUpdated": iso(run.at),
        "label": run.sha[:7],
        "state": state,
        "pipeline": {"id": repo.pipeline.id, "displayName": repo.pipeline.name[:255], "url": repo.pipeline.url},
        "environment": {"id": env_id[:255], "displayName": run.environment[:255],
                        "type": environment_type(run.environment, run.production)},
        "associations": [{"associationType": "issueIdOrKeys", "values": keys}],
        "schemaVersion": "1.0",
    }
    return f"deployment:{repo.pipeline.id}:{env_id}:{sequence}", record


def _description(state: str, run: DeploymentRun, keys: Sequence[str]) -> str:
    named = ", ".join(keys[:5]) + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")
    if state == "rolled_back":
        return f"{named} no longer live in {run.environment}: this deployment took it out."
    if state == "failed":
        return f"The deployment of {named} to {run.environment} failed."
    return f"{named} live in {run.environment}."


def flag_records(flags: Sequence[FlagState], fallback_url: str, known: Collection[str] | None,
                 moves: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """Jira feature flag records (all but `updateSequenceId`), one per provider and flag key,
    with a detail per environment; flags that name no issue are not Jira's business."""
    grouped: dict[str, list[FlagState]] = {}
    for flag in flags:
        grouped.setdefault(f"{flag.provider}:{flag.key}", []).append(flag)
    records: dict[str, dict[str, Any]] = {}
    for flag_id, states in sorted(grouped.items()):
        keys = sorted({moves.get(k, k) for state in states for k in state.issue_keys
                       if known is None or project_of(k) in known})
        if not keys:
            continue
        latest = _latest_per_environment(states)
        production = [s for s in latest if s.production] or latest
        newest = max(latest, key=lambda s: s.changed_at)
        first = states[0]
        records[f"flag:{flag_id}"] = {
            "id": flag_id[:255],
            "key": first.key[:255],
            "displayName": (first.name or first.key)[:255],
            "issueKeys": keys[:100],
            "summary": {"url": web_url(newest.url, fallback_url), "lastUpdated": iso(newest.changed_at),
                        "status": {"enabled": all(s.on for s in production)}},
            "details": [{"url": web_url(s.url, fallback_url), "lastUpdated": iso(s.changed_at),
                         "environment": {"name": s.environment[:255],
                                         **_flag_environment_type(s)},
                         "status": {"enabled": s.on}} for s in latest],
            "schemaVersion": "1.0",
        }
    return records


def _latest_per_environment(states: Sequence[FlagState]) -> list[FlagState]:
    latest: dict[str, FlagState] = {}
    for state in states:
        seen = latest.get(state.environment.lower())
        if seen is None or state.changed_at > seen.changed_at:
            latest[state.environment.lower()] = state
    return [latest[name] for name in sorted(latest)]


def _flag_environment_type(state: FlagState) -> dict[str, str]:
    # Feature flag environments have no `unmapped` type: leave the type out instead.
    kind = environment_type(state.environment, state.production)
    return {} if kind == "unmapped" else {"type": kind}
