"""Which reader a connection reads its repository with: its host's (GitHub, GitLab or Bitbucket
Cloud), with the connection's own credentials, behind the one `HistoryReader` interface."""

from __future__ import annotations

from connect_app.providers import github
from connect_app.providers.base import HistoryReader, ProviderUnavailable
from connect_app.providers.bitbucket import BitbucketReader
from connect_app.providers.gitlab import GitLabReader
from connect_app.services import Services
from connect_app.store.models import Connection


def reader_for(svc: Services, connection: Connection) -> HistoryReader | None:
    """API access for a connection, or None when it has no credentials or its API address is not
    allowed (public reads still need a token here: an anonymous rate limit is shared by every
    tenant on one host)."""
    if connection.provider == "github":
        return github.reader_for(svc, connection)
    token = svc.box.open(connection.token_sealed) if connection.token_sealed else None
    if not token:
        return None
    allowed = svc.settings.allowed_github_api_urls
    try:
        if connection.provider == "gitlab":
            return GitLabReader(api_url=connection.api_url, repository=connection.repository, token=token,
                                allowed_api_urls=allowed)
        if connection.provider == "bitbucket":
            return BitbucketReader(api_url=connection.api_url, repository=connection.repository, token=token,
                                   allowed_api_urls=allowed)
    except ProviderUnavailable:
        return None
    return None
