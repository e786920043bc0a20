"""The things every request and job needs, built once per process by the application factory."""

from __future__ import annotations

from dataclasses import dataclass, field

import requests
from flask import current_app
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from connect_app.config import Settings
from connect_app.connect.net import GuardedSession
from connect_app.store.db import make_engine, make_session_factory
from connect_app.store.secrets import SecretBox


@dataclass
class Services:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    box: SecretBox
    # Outgoing Jira calls: checked against ALLOWED_JIRA_BASE_URLS when each request is sent, and
    # read under a time and size budget (the Jira client checks its own tenant's origin on top).
    http: requests.Session = field(default_factory=requests.Session)

    @classmethod
    def build(cls, settings: Settings) -> Services:
        engine = make_engine(settings.database_url)
        return cls(
            settings=settings,
            engine=engine,
            sessions=make_session_factory(engine),
            box=SecretBox(settings.secret_key),
            http=GuardedSession(settings.allowed_jira_base_urls, timeout=(3.05, 20)),
        )


def services() -> Services:
    return current_app.extensions["system-reality"]
