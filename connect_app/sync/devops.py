"""Jira's own DevOps surfaces agree with the panel: deployments and feature flags, reconciled.

Desired: every deployment and flag the app knows, as Jira Software's bulk APIs take them
(`reality.devops`). Applied: what was last submitted (`DevOpsSubmission`). Only records whose
content moved, or that the current install of the site never received, are sent, each with an
`updateSequenceNumber` (`updateSequenceId`) one above the last: replays and restarts send
nothing, a re-install sends the whole history again, and Jira never ignores a newer record.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from connect_app.connect.audited import jira_for
from connect_app.connect.jira import JiraError
from connect_app.jobs import queue
from connect_app.jobs.locks import exclusive
from connect_app.reality.devops import (
    DeploymentRun,
    Pipeline,
    RepositoryRuns,
    deployment_records,
    flag_records,
    web_url,
)
from connect_app.services import Services
from connect_app.store.db import transaction
from connect_app.store.facts import production_names
from connect_app.store.history import RepositoryHistory, load_tenant_history
from connect_app.store.models import DeploymentFact, DevOpsSubmission, Tenant, utcnow

log = logging.getLogger(__name__)

# Records per bulk request: well inside Jira's payload limit (413 "submit fewer").
BATCH = 100

# A site that refused DevOps data (403: provider module not granted; 404: no Jira Software) is
# not asked again for an hour, or until it is installed again (a new install, as when an admin
# grants the app's new modules): else every recompute re-posts the whole history for nothing.
# Kept per process, by (tenant, install, kind of record): each worker asks at most once an hour.
REFUSAL_PAUSE = 3600.0
_refused_until: dict[tuple[int, datetime | None, str], float] = {}
_clock = time.monotonic  # a test moves it past the pause


def digest(record: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(record, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def repository_url(history: RepositoryHistory) -> str:
    """Where people see the repository: from a commit's web link, else GitHub's address for it."""
    fallback = f"https://github.com/{history.connection.repository}"
    for commit in history.commits:
        if commit.url and "/commit/" in commit.url:
            return web_url(commit.url.split("/commit/", 1)[0], fallback)
    return fallback


def _runs(session: Session, history: RepositoryHistory, production: frozenset[str]) -> list[DeploymentRun]:
    rows = session.scalars(select(DeploymentFact).where(
        DeploymentFact.connection_id == history.connection.id).order_by(DeploymentFact.id)).all()
    runs = []
    for row in rows:
        in_production = row.environment.lower() in production
        compared = in_production and row.compared
        runs.append(DeploymentRun(
            number=row.id, environment=row.environment, production=in_production, sha=row.sha,
            status=row.status, at=row.deployed_at, url=row.url,
            added=tuple(row.added) if compared else None, removed=tuple(row.removed) if compared else None))
    return runs


def desired_records(svc: Services, session: Session, tenant: Tenant) -> dict[str, dict[str, Any]]:
    """Every deployment and flag record Jira should hold for this site, by record key."""
    history = load_tenant_history(svc, session, tenant)
    known = history.projects_with_moves(tenant.known_projects if tenant.known_projects_at else None)
    default_envs = tenant.settings.get("production_environments") or svc.settings.production_environments
    records: dict[str, dict[str, Any]] = {}
    for repo in history.repositories:
        production = production_names(repo.connection, default_envs)
        pipeline = Pipeline(id=repo.connection.id, name=repo.connection.repository, url=repository_url(repo))
        runs = RepositoryRuns(pipeline=pipeline, commits=repo.commits, pulls=repo.facts.pulls,
                              analysis=repo.analysis, runs=_runs(session, repo, production))
        records.update(deployment_records(runs, known, history.moves))
    records.update(flag_records(history.flags, svc.settings.app_base_url, known, history.moves))
    return records


def _due(records: Mapping[str, dict[str, Any]], applied: Mapping[str, DevOpsSubmission],
         install_at: datetime | None) -> list[tuple[str, dict[str, Any], int]]:
    """(record key, record, next sequence number) of what Jira does not hold yet."""
    due = []
    for key, record in sorted(records.items()):
        row = applied.get(key)
        if row is not None and row.digest == digest(record) and row.install_at == install_at:
            continue
        due.append((key, record, (row.sequence if row is not None else 0) + 1))
    return due


def submit_devops(svc: Services, tenant_id: int) -> int:
    """Send Jira the deployments and flags it does not hold yet; returns how many were sent.
    One run per tenant at a time, so two never send the same sequence number."""
    with exclusive(svc, f"devops:{tenant_id}"):
        try:
            return _submit_devops(svc, tenant_id)
        except JiraError as exc:
            if exc.retry_after is None:
                raise
            # Jira's quota: come back when it says, without counting a failed attempt.
            raise queue.Retry(exc.retry_after, str(exc)) from exc


def _submit_devops(svc: Services, tenant_id: int) -> int:
    with svc.sessions() as session:
        tenant = session.get(Tenant, tenant_id)
        if tenant is None or not tenant.active:
            return 0
        records = desired_records(svc, session, tenant)
        applied = {row.record_key: row for row in session.scalars(
            select(DevOpsSubmission).where(DevOpsSubmission.tenant_id == tenant_id))}
        install_at = tenant.installed_at
        due = _due(records, applied, install_at)
        session.expunge_all()
    if not due:
        return 0
    jira = jira_for(svc, tenant)
    deployments = [(k, {**r, "updateSequenceNumber": n}, n) for k, r, n in due if k.startswith("deployment:")]
    flags = [(k, {**r, "updateSequenceId": n}, n) for k, r, n in due if k.startswith("flag:")]
    _send(svc, tenant_id, install_at, deployments, jira.submit_deployments, "rejectedDeployments")
    _send(svc, tenant_id, install_at, flags, jira.submit_feature_flags, "failedFeatureFlags")
    return len(due)


def _send(svc: Services, tenant_id: int, install_at: datetime | None,
          items: Sequence[tuple[str, dict[str, Any], int]],
          submit: Callable[[Sequence[Mapping[str, Any]]], dict[str, Any]], refused: str) -> None:
    refusal = (tenant_id, install_at, refused)
    if _refused_until.get(refusal, 0.0) > _clock():
        return
    for start in range(0, len(items), BATCH):
        batch = items[start:start + BATCH]
        try:
            answer = submit([record for _key, record, _n in batch])
        except JiraError as exc:
            if exc.status not in (403, 404):
                raise
            # 403: the site has not granted the provider module yet (an install from before it
            # was declared); 404: a site without Jira Software. Nothing is recorded, so everything
            # is sent once the site takes it (after the pause, or at once on a new install).
            log.warning("Jira refused DevOps data of tenant %s: %s", tenant_id, exc)
            _refused_until[refusal] = _clock() + REFUSAL_PAUSE
            return
        if answer.get(refused):
            # Jira keeps refusing a record it found malformed: retrying would change nothing.
            log.warning("Jira refused some %s of tenant %s: %s", refused, tenant_id, answer[refused])
        _remember(svc, tenant_id, install_at, batch)


def _remember(svc: Services, tenant_id: int, install_at: datetime | None,
              batch: Sequence[tuple[str, dict[str, Any], int]]) -> None:
    with transaction(svc.sessions) as session:
        rows = {row.record_key: row for row in session.scalars(select(DevOpsSubmission).where(
            DevOpsSubmission.tenant_id == tenant_id,
            DevOpsSubmission.record_key.in_([key for key, _r, _n in batch])))}
        for key, record, sequence in batch:
            content = {k: v for k, v in record.items() if k not in ("updateSequenceNumber", "updateSequenceId")}
            row = rows.get(key) or DevOpsSubmission(tenant_id=tenant_id, record_key=key)
            if row.id is None:
                session.add(row)
            row.sequence = max(sequence, row.sequence or 0)
            row.digest = digest(content)
            row.install_at = install_at
            row.submitted_at = utcnow()
