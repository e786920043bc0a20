"""Whether an issue's work is still live, and what happened to it (INTERFACES 4).

Plain functions over plain data. The usual call is `drift_for_keys(...)`; the parts
(`changes_for_keys`, `production_view`, `compute_drift`, `timeline_for_key`) are public so the
worker and the web layer can reuse what they already computed.

Decisions where the contract leaves room:
- Precedence when several states apply: rolled-back > reverted > partially-reverted > flag-off
  > hotfixed > pending-deploy > live. Losing code in production outranks a flag, which can be
  flipped back in seconds; a hotfix only changes the feature.
- An issue with no changes is `live` with `changes == 0` unless a linked flag is off (then
  `flag-off`: the flag alone says the feature is not available). Unconfirmed reverts never
  change the state; they only appear on the timeline.
- With deployment tracking, `since` is the time of the deployment that made the state true and
  `environment` is that deployment's environment; without it, `since` is the commit's (or the
  flag change's) time and `environment` is None, except for `flag-off`: a flag is switched off
  in a named environment, which is said either way.
- A hotfix counts when it landed after the issue's last change, reached the default branch
  after `done_at` (its push, not its commit date), is not reverted, and (with tracking) is
  deployed. Without `done_at` the issue is not Done and cannot be hotfixed.
- A configuration rollback (`reality.config`) is `rolled-back` like a deployment that took the
  code out, with the same precedence, and its environment is always the configuration's. When a
  deployment and a configuration both roll the feature back, the deployment is named as the
  cause (the code itself is gone); the configuration takes over as the cause once the code is
  back. An `applied` change that ends a configuration rollback is what the feature is live since
  when it came after everything else that made it live.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

from connect_app.reality import story
from connect_app.reality.config import ConfigChange, by_issue, config_standing, config_title, news_for
from connect_app.reality.keys import filter_known, find_keys, find_keys_in_branch
from connect_app.reality.model import (
    Change,
    Commit,
    Deployment,
    Drift,
    DriftState,
    FlagState,
    PullRequest,
    Release,
    RevertAnalysis,
)
from connect_app.reality.reverts import analyse_reverts, revert_shas, reverted_in

PRECEDENCE: tuple[DriftState, ...] = (
    "rolled-back",
    "reverted",
    "partially-reverted",
    "flag-off",
    "hotfixed",
    "pending-deploy",
    "live",
)

_HOTFIX_WORD = re.compile(r"\bhot[-_ ]?fix(?:es|ed|ing)?\b", re.IGNORECASE)


@dataclass(frozen=True)
class BranchIndex:
    """The default branch in order, with lookups by SHA."""

    commits: tuple[Commit, ...]
    position: Mapping[str, int]

    @classmethod
    def of(cls, commits: Sequence[Commit]) -> BranchIndex:
        ordered = tuple(commits)
        return cls(ordered, {commit.sha: index for index, commit in enumerate(ordered)})

    def commit(self, sha: str) -> Commit | None:
        index = self.position.get(sha)
        return None if index is None else self.commits[index]


@dataclass(frozen=True)
class ProductionView:
    """What production holds after the deployments so far (oldest first)."""

    contained: frozenset[str]
    # The deployment that brought each contained commit in (again, after a rollback).
    deployed_by: Mapping[str, Deployment]
    # For commits that were deployed and later taken out: the deployment that took them out.
    removed_by: Mapping[str, Deployment]
    # `reverted_by` restricted to the reverts production actually runs.
    reverted_by: Mapping[str, str]
    latest: Deployment | None = None


def production_view(deployments: Sequence[Deployment], analysis: RevertAnalysis) -> ProductionView:
    contained: set[str] = set()
    deployed_by: dict[str, Deployment] = {}
    removed_by: dict[str, Deployment] = {}
    for deployment in deployments:
        for sha in deployment.removed:
            if sha in contained:
                contained.discard(sha)
                deployed_by.pop(sha, None)
                removed_by[sha] = deployment
        for sha in deployment.added:
            if sha not in contained:
                contained.add(sha)
                deployed_by[sha] = deployment
                removed_by.pop(sha, None)
    return ProductionView(
        contained=frozenset(contained),
        deployed_by=deployed_by,
        removed_by=removed_by,
        reverted_by=reverted_in(analysis, contained),
        latest=deployments[-1] if deployments else None,
    )


# ---- changes ------------------------------------------------------------------------------


def changes_for_keys(
    commits: Sequence[Commit],
    pulls: Sequence[PullRequest],
    analysis: RevertAnalysis,
    known_projects: Collection[str] | None,
) -> dict[str, list[Change]]:
    """Each key's changes, in default-branch order: commits whose message names the key and
    merges (merge or squash commits) of pull requests whose title, body or head branch names it.
    Reverts and unconfirmed reverts are never changes."""
    position = {commit.sha: index for index, commit in enumerate(commits)}
    not_changes = revert_shas(analysis) | {u.sha for u in analysis.unconfirmed}
    found: dict[str, dict[str, Change]] = {}

    def add(key: str, change: Change) -> None:
        existing = found.setdefault(key, {}).get(change.sha)
        if existing is None or (existing.pr_number is None and change.pr_number is not None):
            found[key][change.sha] = change

    for index, commit in enumerate(commits):
        if commit.sha in not_changes:
            continue
        for key in filter_known(find_keys(commit.message), known_projects):
            add(key, Change(commit.sha, index, commit.subject, None, commit.url, commit.timestamp))
    for pull in pulls:
        merge = pull.merge_commit_sha
        if pull.merged_at is None or merge is None or merge not in position or merge in not_changes:
            continue
        if pull.commit_shas and all(sha in not_changes for sha in pull.commit_shas):
            continue  # a request that carries only reverts (a revert's own branch) re-lands nothing
        named = [*find_keys(pull.title), *find_keys(pull.body or ""), *find_keys_in_branch(pull.head_ref)]
        commit = commits[position[merge]]
        for key in filter_known(dict.fromkeys(named), known_projects):
            add(key, Change(merge, position[merge], pull.title, pull.number, pull.url, commit.timestamp))
    return {key: sorted(changes.values(), key=lambda c: c.position) for key, changes in found.items()}


def find_hotfixes(
    commits: Sequence[Commit],
    pulls: Sequence[PullRequest],
    analysis: RevertAnalysis,
    known_projects: Collection[str] | None = None,
) -> list[Commit]:
    """Commits that name no key and call themselves a hotfix, in the message or in the head
    branch of the pull request that merged them (`hotfix/...`)."""
    hotfix_merges = {
        pull.merge_commit_sha
        for pull in pulls
        if pull.merged_at is not None and _HOTFIX_WORD.search(pull.head_ref.replace("/", " "))
    }
    reverts = revert_shas(analysis)
    found = []
    for commit in commits:
        if commit.sha in reverts or filter_known(find_keys(commit.message), known_projects):
            continue
        if commit.sha in hotfix_merges or _HOTFIX_WORD.search(commit.message):
            found.append(commit)
    return found


# ---- drift --------------------------------------------------------------------------------


def flag_names_key(flag: FlagState, key: str) -> bool:
    """A flag is linked to K when linked explicitly or when its key or name names K."""
    return key in flag.issue_keys or key in find_keys_in_branch(flag.key) or key in find_keys(flag.name)


@dataclass
class _Candidate:
    state: DriftState
    since: datetime | None
    cause_kind: Literal["commit", "deployment", "flag", "config", "none"] = "none"
    cause_ref: str | None = None
    cause_url: str | None = None
    environment: str | None = None
    cause_text: str | None = None

    @classmethod
    def of_config(cls, state: DriftState, change: ConfigChange) -> _Candidate:
        return cls(state, change.changed_at, "config", change.ref, change.url, change.environment,
                   change.description)


@dataclass
class _Facts:
    key: str
    changes: Sequence[Change]
    branch: BranchIndex
    view: ProductionView | None
    reverted_by: Mapping[str, str]
    live_changes: list[Change] = field(default_factory=list)

    def commit_time(self, sha: str) -> datetime | None:
        commit = self.branch.commit(sha)
        return commit.timestamp if commit else None

    def commit_url(self, sha: str) -> str | None:
        commit = self.branch.commit(sha)
        return commit.url if commit else None

    def landed(self, sha: str) -> tuple[datetime | None, str | None]:
        """When a commit took effect (deployed, with tracking) and where."""
        if self.view is not None and sha in self.view.deployed_by:
            deployment = self.view.deployed_by[sha]
            return deployment.deployed_at, deployment.environment
        return self.commit_time(sha), None

    def caused_by_commit(self, state: DriftState, sha: str) -> _Candidate:
        when, environment = self.landed(sha)
        return _Candidate(state, when, "commit", sha, self.commit_url(sha), environment)


def _revert_state(facts: _Facts, counted: Sequence[Change]) -> _Candidate | None:
    reverted = [change for change in counted if change.sha in facts.reverted_by]
    if not reverted:
        return None
    reverts = {facts.reverted_by[change.sha] for change in reverted}
    latest = max(reverts, key=lambda sha: facts.branch.position.get(sha, -1))
    latest_position = facts.branch.position.get(latest, -1)
    if len(reverted) == len(counted):
        return facts.caused_by_commit("reverted", latest)
    relanded = any(
        change.position > latest_position for change in counted if change.sha not in facts.reverted_by
    )
    return None if relanded else facts.caused_by_commit("partially-reverted", latest)


def _flag_state(key: str, flags: Sequence[FlagState]) -> _Candidate | None:
    off = [flag for flag in flags if flag.production and not flag.on and flag_names_key(flag, key)]
    if not off:
        return None
    first = min(off, key=lambda flag: (flag.changed_at, flag.key))
    return _Candidate("flag-off", first.changed_at, "flag", first.key, first.url, first.environment)


def _config_states(key: str, configs: Sequence[ConfigChange], live: _Candidate) -> tuple[_Candidate, ...]:
    """The configuration rollback in effect, or the live candidate with the `applied` change that
    ended one, when that came after everything else that made the feature live."""
    standing = config_standing(key, configs)
    if standing.rolled_back:
        return (_Candidate.of_config("rolled-back", standing.rolled_back[0]), live)
    restored = standing.restored
    if restored is not None and (live.since is None or _as_utc(restored.changed_at) > _as_utc(live.since)):
        return (_Candidate.of_config("live", restored),)
    return (live,)


def _files_of(facts: _Facts) -> set[str]:
    files: set[str] = set()
    for change in facts.changes:
        commit = facts.branch.commit(change.sha)
        if commit is None:
            continue
        files.update(commit.files)
        for inner in commit.brought_in:
            inner_commit = facts.branch.commit(inner)
            if inner_commit is not None:
                files.update(inner_commit.files)
    return files


def _hotfix_state(
    facts: _Facts, hotfixes: Sequence[Commit], done_at: datetime | None
) -> _Candidate | None:
    if done_at is None or not facts.changes:
        return None
    files = _files_of(facts)
    last_change = max(change.position for change in facts.changes)
    for hotfix in sorted(hotfixes, key=lambda c: facts.branch.position.get(c.sha, -1)):
        position = facts.branch.position.get(hotfix.sha, -1)
        if position <= last_change or hotfix.sha in facts.reverted_by:
            continue
        if facts.view is not None and hotfix.sha not in facts.view.contained:
            continue
        landed = hotfix.reached_branch
        if landed is None or _as_utc(landed) <= _as_utc(done_at):
            continue
        if files.intersection(hotfix.files):
            return facts.caused_by_commit("hotfixed", hotfix.sha)
    return None


def _as_utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _live_state(facts: _Facts, analysis: RevertAnalysis, counted: Sequence[Change]) -> _Candidate:
    """Live since the latest thing that made it so: the latest change landing, or the latest
    undo of one of its reverts."""
    shas = {change.sha for change in counted}
    events = [change.sha for change in counted]
    touching: set[str] = set()
    for revert in analysis.reverts:
        if shas.intersection(revert.targets) or touching.intersection(revert.undoes):
            touching.add(revert.sha)
            if revert.undoes and touching.intersection(revert.undoes):
                events.append(revert.sha)
    if facts.view is not None:
        deployed = [sha for sha in events if sha in facts.view.deployed_by]
        if deployed:
            latest = max(deployed, key=lambda sha: facts.view.deployed_by[sha].deployed_at)  # type: ignore[union-attr]
            deployment = facts.view.deployed_by[latest]
            return _Candidate(
                "live", deployment.deployed_at, "deployment", deployment.id, deployment.url,
                deployment.environment,
            )
    if not events:
        return _Candidate("live", None)
    latest = max(events, key=lambda sha: facts.branch.position.get(sha, -1))
    return facts.caused_by_commit("live", latest)


def compute_drift(
    key: str,
    changes: Sequence[Change],
    analysis: RevertAnalysis,
    *,
    branch: BranchIndex,
    deployments: Sequence[Deployment] | ProductionView | None = None,
    flags: Sequence[FlagState] = (),
    hotfixes: Sequence[Commit] = (),
    done_at: datetime | None = None,
    feature_title: str | None = None,
    configs: Sequence[ConfigChange] = (),
) -> Drift:
    """The drift of issue `key` given its changes (from `changes_for_keys`).

    `deployments` are the production deployments oldest first (or a `production_view` of them,
    to share the work across keys); None means the connection has no deployment tracking, and an
    empty list means it has, but no deployment is known to contain anything yet. `hotfixes` are
    candidates from `find_hotfixes`; `done_at` is when the issue went Done (None: not Done).
    `feature_title` is used in the summary (default: the key).
    """
    view = deployments if isinstance(deployments, ProductionView) else None
    if view is None and deployments is not None:
        view = production_view(deployments, analysis)  # type: ignore[arg-type]
    reverted_by = view.reverted_by if view is not None else analysis.reverted_by
    facts = _Facts(key, changes, branch, view, reverted_by)

    candidates: list[_Candidate] = []
    if view is None:
        counted = list(changes)
    else:
        counted = [change for change in changes if change.sha in view.contained]
        rolled = [c for c in changes if c.sha not in view.contained and c.sha in view.removed_by]
        if rolled:
            latest = max((view.removed_by[c.sha] for c in rolled), key=lambda d: d.deployed_at)
            candidates.append(
                _Candidate("rolled-back", latest.deployed_at, "deployment", latest.id, latest.url,
                           latest.environment)
            )
        if not counted and not rolled and changes:
            newest = changes[-1]
            environment = view.latest.environment if view.latest else None
            candidates.append(
                _Candidate("pending-deploy", newest.timestamp or facts.commit_time(newest.sha), "commit",
                           newest.sha, newest.url or facts.commit_url(newest.sha), environment)
            )
    for candidate in (
        _revert_state(facts, counted) if counted else None,
        _flag_state(key, flags),
        _hotfix_state(facts, hotfixes, done_at),
    ):
        if candidate is not None:
            candidates.append(candidate)
    candidates += _config_states(key, configs, _live_state(facts, analysis, counted))
    chosen = min(candidates, key=lambda c: PRECEDENCE.index(c.state))
    if view is not None and chosen.environment is None and view.latest is not None:
        chosen.environment = view.latest.environment
    drift = Drift(
        key=key,
        state=chosen.state,
        since=chosen.since,
        summary="",
        changes=len(changes),
        reverted=sum(1 for change in counted if change.sha in reverted_by),
        # A configuration change and a flag each say where they happened, tracked deployments or not.
        environment=chosen.environment if view is not None or chosen.cause_kind in ("config", "flag") else None,
        cause_kind=chosen.cause_kind,
        cause_ref=chosen.cause_ref,
        cause_url=chosen.cause_url,
        cause_text=chosen.cause_text,
    )
    return replace(drift, summary=story.summary(drift, feature_title or key))


def drift_for_keys(
    commits: Sequence[Commit],
    pulls: Sequence[PullRequest] = (),
    *,
    known_projects: Collection[str] | None = None,
    deployments: Sequence[Deployment] | None = None,
    flags: Sequence[FlagState] = (),
    done_at: Mapping[str, datetime] | None = None,
    titles: Mapping[str, str] | None = None,
    analysis: RevertAnalysis | None = None,
    configs: Sequence[ConfigChange] = (),
) -> dict[str, Drift]:
    """Drift of every key named by the default branch (`commits` in order), by a flag or by a
    production configuration change."""
    analysis = analysis if analysis is not None else analyse_reverts(commits, pulls)
    changes = changes_for_keys(commits, pulls, analysis, known_projects)
    flagged = {
        key
        for flag in flags
        for key in filter_known([*flag.issue_keys, *find_keys_in_branch(flag.key), *find_keys(flag.name)],
                                known_projects)
    }
    configured = by_issue(configs)
    branch = BranchIndex.of(commits)
    # An empty list still means "this repository deploys to production": nothing is live there yet
    # (the first deployment is still being compared), which is not the same as "not tracked".
    view = production_view(deployments, analysis) if deployments is not None else None
    hotfixes = find_hotfixes(commits, pulls, analysis, known_projects)
    done_at = done_at or {}
    titles = titles or {}
    return {
        key: compute_drift(
            key, changes.get(key, []), analysis, branch=branch, deployments=view, flags=flags,
            hotfixes=hotfixes, done_at=done_at.get(key), feature_title=titles.get(key),
            configs=configured.get(key, ()),
        )
        for key in sorted(set(changes) | flagged | set(filter_known(configured, known_projects)))
    }


# ---- timeline -----------------------------------------------------------------------------

EventKind = Literal[
    "commit", "pull-request", "deployment", "revert", "rollback", "flag", "unconfirmed-revert", "hotfix",
    "release", "config",
]


@dataclass(frozen=True, slots=True)
class TimelineEvent:
    kind: EventKind
    when: datetime | None
    title: str
    sha: str | None = None
    url: str | None = None
    environment: str | None = None

    @property
    def short(self) -> str | None:
        return self.sha[:7] if self.sha else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "when": self.when.isoformat() if self.when else None,
            "title": self.title,
            "sha": self.sha,
            "short": self.short,
            "url": self.url,
            "environment": self.environment,
        }


def timeline_for_key(
    key: str,
    changes: Sequence[Change],
    analysis: RevertAnalysis,
    *,
    branch: BranchIndex,
    deployments: Sequence[Deployment] = (),
    flags: Sequence[FlagState] = (),
    hotfixes: Sequence[Commit] = (),
    done_at: datetime | None = None,
    releases: Sequence[Release] = (),
    configs: Sequence[ConfigChange] = (),
) -> list[TimelineEvent]:
    """What happened to a feature, oldest first: its changes, the reverts that touched them (and
    undid those reverts), deployments that shipped or took them out, its flags, configuration
    rollbacks naming it and the changes that ended them (in any environment), unconfirmed reverts
    naming it, hotfixes on its files and the releases that carry it."""
    ordered: list[tuple[int, TimelineEvent]] = []

    def commit_event(kind: EventKind, sha: str, title: str | None = None, url: str | None = None) -> None:
        commit = branch.commit(sha)
        ordered.append((
            branch.position.get(sha, len(branch.commits)),
            TimelineEvent(kind, commit.timestamp if commit else None,
                          title or (commit.subject if commit else sha), sha,
                          url or (commit.url if commit else None)),
        ))

    for change in changes:
        kind: EventKind = "pull-request" if change.pr_number is not None else "commit"
        title = f"{change.subject} (#{change.pr_number})" if change.pr_number is not None else change.subject
        commit_event(kind, change.sha, title, change.url)
    related = {change.sha for change in changes}
    for revert in analysis.reverts:
        if related.intersection(revert.targets) or related.intersection(revert.undoes):
            related.add(revert.sha)
            commit_event("revert", revert.sha)
    for unconfirmed in analysis.unconfirmed:
        if key in unconfirmed.keys:
            commit_event("unconfirmed-revert", unconfirmed.sha)
    if done_at is not None:
        facts = _Facts(key, changes, branch, None, analysis.reverted_by)
        files = _files_of(facts)
        for hotfix in hotfixes:
            landed = hotfix.reached_branch
            late = landed is not None and _as_utc(landed) > _as_utc(done_at)
            if late and files.intersection(hotfix.files):
                commit_event("hotfix", hotfix.sha)
    last = len(branch.commits) + 1
    for deployment in deployments:
        where, short = deployment.environment, deployment.sha[:7]
        if related.intersection(deployment.removed):
            title = f"{where} went back to {short}, without this feature's changes"
            ordered.append((last, TimelineEvent("rollback", deployment.deployed_at, title,
                                                deployment.sha, deployment.url, where)))
        if related.intersection(deployment.added):
            ordered.append((last, TimelineEvent("deployment", deployment.deployed_at, f"{short} deployed to {where}",
                                                deployment.sha, deployment.url, where)))
    for flag in flags:
        if flag_names_key(flag, key):
            switched = "on" if flag.on else "off"
            ordered.append((last, TimelineEvent("flag", flag.changed_at,
                                                f"Flag {flag.name or flag.key} turned {switched}",
                                                None, flag.url, flag.environment)))
    for change in news_for(key, configs):
        ordered.append((last, TimelineEvent("config", change.changed_at, config_title(change), None,
                                            change.url, change.environment)))
    for release in releases:
        at = _release_position(release, changes, analysis, branch)
        if at is not None:
            title = f"Released in {release.tag}" + (f" ({release.name})" if release.name not in ("", release.tag)
                                                    else "")
            ordered.append((at, TimelineEvent("release", release.published_at, title, release.sha, release.url)))
    # Events with a time sort by it; the branch order breaks ties and places undated commits.
    ordered.sort(key=lambda item: (
        item[1].when is None, _as_utc(item[1].when) if item[1].when else datetime.min, item[0]
    ))
    return [event for _, event in ordered]


@dataclass(frozen=True)
class _UpTo:
    """The default branch as it stood at one position: the commits a tag there contains."""

    position: Mapping[str, int]
    last: int

    def __contains__(self, sha: object) -> bool:
        at = self.position.get(sha) if isinstance(sha, str) else None
        return at is not None and at <= self.last


def _release_position(release: Release, changes: Sequence[Change], analysis: RevertAnalysis,
                      branch: BranchIndex) -> int | None:
    """Where the release's tag sits on the default branch, when it carries at least one of these
    changes: landed at or before the tag and not reverted as of the tag (a release cut after a
    feature was reverted does not ship it). None otherwise, or while the tag's commit is unknown."""
    at = branch.position.get(release.sha) if release.sha else None
    if at is None:
        return None
    carried = [c for c in changes if branch.position.get(c.sha, c.position) <= at]
    if not carried:
        return None
    reverted = reverted_in(analysis, _UpTo(branch.position, at))
    return at if any(c.sha not in reverted for c in carried) else None
