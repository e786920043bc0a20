"""The personal data reporting cycle: tell Atlassian which accounts the app keeps something about,
and erase what it keeps about the ones that were closed.

What the app keeps per Atlassian account, looked up afresh on every report:
- any `accountId` / `account_id` value (or list) in the site's settings, and any key of the
  settings that is itself an account id;
- every row of a table with both a `tenant_id` and an `account_id` column (tokens or grants kept
  per user);
- account ids written into the audit log (a path or a note quoting Jira's answer).
Comment intents keep no account: the mentions live in the comment itself, in Jira, which
anonymises them there. The app's own account is the app, not a person, and is never reported.

`updatedAt` is when the app last wrote that data. Atlassian answers `closed` (erase) or `updated`
(the profile changed: refresh what is kept of it). The app keeps no profile data (names, emails,
avatars), only ids, so `updated` needs nothing refreshed.

Source: the "Personal data reporting API" of developer.atlassian.com/cloud/jira/platform/
user-privacy-developer-guide/ — `POST /app/report-accounts/`, at most 90 accounts a request,
200 with the accounts to act on or 204 when there is nothing to do, 429 with Retry-After; the
default cycle is 7 days and no account should be reported more often. Connect apps call it with
their JWT (`JiraClient.report_accounts`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Table, delete, func, or_, select, update

from connect_app.connect import accounts
from connect_app.connect.audited import jira_for
from connect_app.connect.jira import REPORT_ACCOUNTS_LIMIT, JiraError
from connect_app.jobs import queue
from connect_app.services import Services
from connect_app.store.db import transaction
from connect_app.store.models import AuditEntry, Base, Tenant

log = logging.getLogger(__name__)

REPORT_CYCLE = timedelta(days=7)
ERASED = "[closed account]"
# Atlassian account ids: 24 hex digits (older accounts) or `<6 digits>:<uuid>`.
ACCOUNT_ID = re.compile(
    r"(?<![0-9A-Za-z])(?:\d{6}:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{24})"
    r"(?![0-9A-Za-z])")
_ACCOUNT_KEYS = frozenset({"accountId", "account_id", "accountIds", "account_ids"})
_DROP = object()


@dataclass
class Report:
    reported: int = 0
    closed: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)


def rfc3339(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


# ---- what is kept ---------------------------------------------------------------------------------


def _account_tables() -> Iterator[Table]:
    for table in Base.metadata.sorted_tables:
        if "tenant_id" in table.c and "account_id" in table.c:
            yield table


def _time_column(table: Table) -> Any:
    for name in ("updated_at", "created_at", "at"):
        if name in table.c:
            return table.c[name]
    return None


def _ids_in(value: Any, *, named: bool = False) -> Iterator[str]:
    """Account ids in a settings value: values of account keys, and keys shaped like account ids."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str) and ACCOUNT_ID.fullmatch(key):
                yield key
            yield from _ids_in(item, named=key in _ACCOUNT_KEYS)
    elif isinstance(value, list):
        for item in value:
            yield from _ids_in(item, named=named)
    elif named and isinstance(value, str) and value:
        yield value


def stored_accounts(svc: Services, tenant_id: int) -> dict[str, datetime]:
    """Every account id the app keeps for this site, with when it last wrote data about it."""
    found: dict[str, datetime] = {}

    def seen(account: str, at: datetime | None) -> None:
        if account and at is not None and (account not in found or at > found[account]):
            found[account] = at

    with svc.sessions() as session:
        tenant = session.get(Tenant, tenant_id)
        if tenant is None:
            return {}
        for account in _ids_in(tenant.settings or {}):
            seen(account, tenant.updated_at)
        for table in _account_tables():
            at = _time_column(table)
            stamp = func.max(at) if at is not None else func.count()
            for account, when in session.execute(
                    select(table.c.account_id, stamp).where(table.c.tenant_id == tenant_id)
                    .group_by(table.c.account_id)):
                seen(str(account or ""), when if isinstance(when, datetime) else tenant.updated_at)
        rows = session.execute(
            select(AuditEntry.at, AuditEntry.path, AuditEntry.note).where(AuditEntry.tenant_id == tenant_id)
            .execution_options(yield_per=1000))
        for at, path, note in rows:
            for text in (path, note):
                for account in ACCOUNT_ID.findall(text or ""):
                    seen(account, at)
    return found


# ---- erasing a closed account ---------------------------------------------------------------------


def _without(value: Any, account: str, *, named: bool = False) -> Any:
    """`value` with the account gone: a record naming it is dropped whole (a token of that user),
    a key that is the account is dropped, a list loses the account."""
    if isinstance(value, Mapping):
        if any(key in _ACCOUNT_KEYS and item == account for key, item in value.items()):
            return _DROP
        kept = {}
        for key, item in value.items():
            if key == account:
                continue
            cleaned = _without(item, account, named=key in _ACCOUNT_KEYS)
            if cleaned is not _DROP:
                kept[key] = cleaned
        return kept
    if isinstance(value, list):
        return [cleaned for item in value
                if (cleaned := _without(item, account, named=named)) is not _DROP]
    if named and value == account:
        return _DROP
    return value


def erase_account(svc: Services, tenant_id: int, account: str) -> None:
    """Everything the app keeps about a closed account, gone (audit rows stay, with the id blanked)."""
    with transaction(svc.sessions) as session:
        tenant = session.get(Tenant, tenant_id, with_for_update=True)
        if tenant is not None:
            cleaned = _without(tenant.settings or {}, account)
            if cleaned != (tenant.settings or {}):
                tenant.settings = cleaned if cleaned is not _DROP else {}
        for table in _account_tables():
            session.execute(delete(table).where(table.c.tenant_id == tenant_id, table.c.account_id == account))
        pattern = f"%{account}%"
        for entry in session.scalars(select(AuditEntry).where(
                AuditEntry.tenant_id == tenant_id,
                or_(AuditEntry.path.like(pattern), AuditEntry.note.like(pattern)))):
            session.execute(update(AuditEntry).where(AuditEntry.id == entry.id).values(
                path=entry.path.replace(account, ERASED)[:500],
                note=entry.note.replace(account, ERASED) if entry.note else entry.note,
            ).execution_options(synchronize_session=False))
    accounts.forget(account)


# ---- the report -----------------------------------------------------------------------------------


def report_accounts(svc: Services, tenant_id: int) -> Report:
    """Report what this site's data names, at most 90 accounts a call, and act on the answer."""
    report = Report()
    with svc.sessions() as session:
        tenant = session.get(Tenant, tenant_id)
        if tenant is None or not tenant.active:
            return report  # an uninstalled site's data is deleted by housekeeping instead
        session.expunge(tenant)
    kept = sorted(stored_accounts(svc, tenant_id).items())
    if not kept:
        return report
    jira = jira_for(svc, tenant)
    for start in range(0, len(kept), REPORT_ACCOUNTS_LIMIT):
        batch = kept[start:start + REPORT_ACCOUNTS_LIMIT]
        try:
            answers = jira.report_accounts([(account, rfc3339(at)) for account, at in batch])
        except JiraError as exc:
            if exc.retry_after is not None:  # Atlassian asked for a longer wait than a worker sleeps
                raise queue.Retry(exc.retry_after, f"personal data report: {exc}") from exc
            raise
        report.reported += len(batch)
        asked = {account for account, _at in batch}
        for answer in answers:
            account, status = str(answer.get("accountId") or ""), answer.get("status")
            if account not in asked:
                continue  # only ever act on what this request named
            if status == "closed":
                erase_account(svc, tenant_id, account)
                report.closed.append(account)
            elif status == "updated":
                report.updated.append(account)  # only ids are kept: nothing to refresh
    if report.closed:
        log.info("tenant %s: erased %d closed accounts", tenant_id, len(report.closed))
    return report
