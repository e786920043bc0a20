"""A tenant's history, loaded from stored facts and run through branch order and revert analysis
once: recompute and the panel/report read the same thing."""

from __future__ import annotations

from collections.abc import Collection
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


@dataclass(frozen=True)
class RepositoryHistory:
    connection: Connection
    facts: RepositoryFacts
    commits: list[Commit]  # the default branch, in the order commits reached it
    analysis: RevertAnalysis


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
        # Keys of a project an issue moved out of still name the (moved) issue.
        if projects is None:
            return None
        return set(projects) | {project_of(old) for old in self.moves}


def load_tenant_history(svc: Services, session: Session, tenant: Tenant) -> TenantHistory:
    default_envs = tenant.settings.get("production_environments") or svc.settings.production_environments
    moves = dict(session.execute(select(IssueMove.old_key, IssueMove.new_key)
                                 .where(IssueMove.tenant_id == tenant.id)).all())
    flags = load_flags(session, tenant.id, default_envs, tenant.settings.get("flag_links") or {})
    repositories = []
    for connection in session.scalars(select(Connection).where(
            Connection.tenant_id == tenant.id, Connection.deleted_at.is_(None))):
        facts = load_repository(session, connection, production_names(connection, default_envs))
        commits = branch_commits(facts)
        repositories.append(RepositoryHistory(connection, facts, commits, analyse_reverts(commits, facts.pulls)))
    return TenantHistory(moves=moves, flags=flags, repositories=repositories,
                         config_changes=load_config_changes(session, tenant.id, default_envs))


