"""Telling the app's own comments apart: never by guessing."""

from __future__ import annotations

import pytest

from connect_app.connect.jira import JiraError
from connect_app.sync import _our_comments


class FakeJira:
    base_url = "https://acme.atlassian.net"

    def __init__(self, me: dict) -> None:
        self.me = me

    def myself(self) -> dict:
        return self.me

    def get_comments(self, key: str) -> list[dict]:
        return [{"id": "1", "author": {"accountId": "app-1"}}, {"id": "2", "author": {"accountId": "priya"}}]


def test_only_comments_written_by_the_app_are_ours() -> None:
    assert [c["id"] for c in _our_comments(FakeJira({"accountId": "app-1"}), 9001, "FEAT-1")] == ["1"]


def test_an_app_account_jira_does_not_name_stops_the_job_instead_of_guessing() -> None:
    with pytest.raises(JiraError):
        _our_comments(FakeJira({}), 9002, "FEAT-1")
