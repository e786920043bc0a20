"""Each issue's timeline, judged by recompute from the same history as its drift and stored for the
pages (store/timelines.py), so a panel view or a report never reads the history itself."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from connect_app.reality import story
from connect_app.reality.drift import (
    BranchIndex,
    TimelineEvent,
    changes_for_keys,
    find_hotfixes,
    timeline_for_key,
)
from connect_app.reality.incremental import RevertIndex
from connect_app.reality.keys import find_keys, find_keys_in_branch
from connect_app.reality.model import Change, Commit, ConfigChange, Deployment, FlagState, Release, RevertAnalysis
from connect_app.store.facts import load_flag_events, load_releases
from connect_app.store.history import TenantHistory


@dataclass
class RepositoryReality:
    """One repository's history run through the reality core, for timelines."""

    branch: BranchIndex
    reverts: RevertIndex
    changes: Mapping[str, list[Change]]
    deployments: Sequence[Deployment]
    hotfixes: Sequence[Commit]
    releases: Sequence[Release] = ()


@dataclass
class TenantReality:
    repositories: list[RepositoryReality] = field(default_factory=list)
    flags: Sequence[FlagState] = ()  # every toggle (store.facts.load_flag_events), not only the state now
    moves: Mapping[str, str] = field(default_factory=dict)
    configs: Sequence[ConfigChange] = ()

    def timeline(self, key: str, done_at: datetime | None) -> list[TimelineEvent]:
        """What happened to the feature `key`, oldest first, across repositories and flags."""
        names = [key, *(old for old, new in self.moves.items() if new == key)]
        events: list[TimelineEvent] = []
        for index, repo in enumerate(self.repositories):
            changes = [c for name in names for c in repo.changes.get(name, [])]
            analysis = repo.reverts.for_issue(key, (c.sha for c in changes))
            found = timeline_for_key(key, changes, analysis, branch=repo.branch,
                                     deployments=repo.deployments, flags=self.flags if index == 0 else (),
                                     hotfixes=repo.hotfixes, done_at=done_at, releases=repo.releases,
                                     configs=self.configs if index == 0 else ())
            events += told_by_meaning(found, repo, self.flags)
        if not self.repositories and (self.flags or self.configs):
            events += timeline_for_key(key, [], RevertAnalysis((), ()), branch=BranchIndex.of([]),
                                       flags=self.flags, configs=self.configs)
        return sorted(events, key=lambda e: (e.when is None, e.when or datetime.min.replace(tzinfo=UTC)))

    def keys(self) -> set[str]:
        """Every issue whose timeline may hold an event: named by a change, an unconfirmed revert
        or a flag (whatever its environment)."""
        found = {self.moves.get(key, key) for repo in self.repositories for key in repo.changes}
        for repo in self.repositories:
            found.update(repo.reverts.unconfirmed_by_key)
        for flag in self.flags:
            found.update(flag.issue_keys, find_keys_in_branch(flag.key), find_keys(flag.name))
        for change in self.configs:
            found.update(change.issue_keys)
        return found


def told_by_meaning(events: list[TimelineEvent], repo: RepositoryReality,
                    flags: Sequence[FlagState]) -> list[TimelineEvent]:
    """The timeline in stakeholder words (reality.story): a deployment says whether it took the
    revert or the feature live, a revert says who and why, a rollback and a flag say what they did."""
    reverts = {e.sha for e in events if e.kind == "revert"}
    changes = {e.sha for e in events if e.kind in ("commit", "pull-request")}
    told = []
    for event in events:
        title = event.title
        if event.kind == "deployment":
            shipped = next((set(d.added) for d in repo.deployments
                            if d.sha == event.sha and d.deployed_at == event.when), set())
            brought = "revert" if shipped & reverts else "feature" if shipped & changes else ""
            title = story.deployment_title(event.environment, brought)
        elif event.kind == "rollback":
            title = story.rollback_title(event.environment)
        elif event.kind == "revert" and event.sha:
            commit = repo.branch.commit(event.sha)
            if commit is not None:
                title = story.revert_title(commit.author, story.revert_reason(commit.message), commit.subject)
        elif event.kind == "flag":
            flag = next((f for f in flags if f.changed_at == event.when and f.environment == event.environment), None)
            if flag is not None:
                title = story.flag_title(flag.name or flag.key, flag.on, flag.environment)
        told.append(replace(event, title=title))
    return told


def tenant_reality(session: Session, tenant_id: int, history: TenantHistory,
                   known: Collection[str] | None) -> TenantReality:
    result = TenantReality(moves=history.moves, flags=load_flag_events(session, tenant_id, history.flags),
                           configs=history.config_changes)
    for repo in history.repositories:
        result.repositories.append(RepositoryReality(
            branch=BranchIndex.of(repo.commits), reverts=RevertIndex.of(repo.analysis),
            changes=changes_for_keys(repo.commits, repo.facts.pulls, repo.analysis, known),
            deployments=repo.facts.deployments,
            hotfixes=find_hotfixes(repo.commits, repo.facts.pulls, repo.analysis, known),
            releases=load_releases(session, repo.connection.id),
        ))
    return result


def each_timeline(reality: TenantReality, keys: Iterable[str],
                  done_at: Mapping[str, datetime]) -> Iterator[tuple[str, list[TimelineEvent]]]:
    """These issues' timelines (empty when nothing happened), one at a time: the full pass writes
    each batch and lets it go rather than holding every issue's at once."""
    for key in sorted(set(keys)):
        yield key, reality.timeline(key, done_at.get(key))
