"""A tenant's history, loaded from stored facts and run through branch order and revert analysis
once: recompute and the panel/report read the same thing."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from connect_app.reality.history import order_branch
from connect_app.reality.keys import project_of
from connect_app.reality.model import Commit, ConfigChange, FlagState, RevertAnalysis
from connect_app.reality.reverts import analyse_reverts
from connect_app.services import Services
from connect_app.store.facts import (
    RepositoryFacts,
    load_config_changes,
    load_flags,
    load_repository,
    production_names,
)
from connect_app.store.models import Connection, IssueMove, Tenant


def branch_commits(facts: RepositoryFacts) -> list[Commit]:
    return [facts.commits[sha] for sha in order_branch(facts.segments) if sha in facts.commits]


def _branch(facts: RepositoryFacts) -> tuple[list[Commit], bool]:
    """The branch's commits in order, and whether we hold every commit the pushes named."""
    order = order_branch(facts.segments)
    commits = [facts.commits[sha] for sha in order if sha in facts.commits]
    return commits, len(commits) == len(order)


@dataclass(frozen=True)
class RepositoryHistory:
    connection: Connection
    facts: RepositoryFacts
    commits: list[Commit]  # the default branch, in the order commits reached it
    analysis: RevertAnalysis
    # Every commit the pushes named is known: the incremental path may extend this branch.
    complete: bool = False


@dataclass(frozen=True)
class TenantHistory:
    """Everything a tenant's repositories and flags say, run through branch order and revert
    analysis once; recompute and the panel/report read the same thing."""

    moves: dict[str, str]  # old issue key -> new key
    flags: list[FlagState]
    repositories: list[RepositoryHistory]
    # Tenant-level like flags: reported through any connection, judged by its production names.
    config_changes: list[ConfigChange] = field(default_factory=list)

    def projects_with_moves(self, projects: Collection[str] | None) -> set[str] | None:
        return projects_with_moves(projects, self.moves)


def projects_with_moves(projects: Collection[str] | None, moves: Mapping[str, str]) -> set[str] | None:
    # Keys of a project an issue moved out of still name the (moved) issue.
    if projects is None:
        return None
    return set(projects) | {project_of(old) for old in moves}


def production_defaults(svc: Services, tenant: Tenant) -> list[str]:
    return list(tenant.settings.get("production_environments") or svc.settings.production_environments)


def load_moves(session: Session, tenant_id: int) -> dict[str, str]:
    return dict(session.execute(select(IssueMove.old_key, IssueMove.new_key)
                                .where(IssueMove.tenant_id == tenant_id)).all())


def tenant_flags(svc: Services, session: Session, tenant: Tenant) -> list[FlagState]:
    return load_flags(session, tenant.id, production_defaults(svc, tenant), tenant.settings.get("flag_links") or {})


def live_connections(session: Session, tenant_id: int) -> list[Connection]:
    """The tenant's connections, in the one order every recomputation weighs them in."""
    return list(session.scalars(select(Connection).where(
        Connection.tenant_id == tenant_id, Connection.deleted_at.is_(None))))


def load_tenant_history(svc: Services, session: Session, tenant: Tenant) -> TenantHistory:
    default_envs = production_defaults(svc, tenant)
    moves = load_moves(session, tenant.id)
    flags = tenant_flags(svc, session, tenant)
    repositories = []
    for connection in live_connections(session, tenant.id):
        facts = load_repository(session, connection, production_names(connection, default_envs))
        commits, complete = _branch(facts)
        repositories.append(RepositoryHistory(connection, facts, commits, analyse_reverts(commits, facts.pulls),
                                              complete))
    return TenantHistory(moves=moves, flags=flags, repositories=repositories,
                         config_changes=load_config_changes(session, tenant.id, default_envs))


