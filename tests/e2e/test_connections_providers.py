"""`POST /api/connections` for the three hosts: each one's repository form, API address and
webhook URL; bad input is a 400 that saves nothing."""

from __future__ import annotations

import pytest

from connect_app.sandbox.stack import Stack


@pytest.mark.parametrize(("body", "detail"), [
    ({"provider": "gitea", "repository": "a/b"}, 'provider must be "github", "gitlab" or "bitbucket"'),
    ({"provider": "bitbucket", "repository": "ws/group/repo"}, "workspace/repo_slug"),
    ({"provider": "gitlab", "repository": "project"}, "group/subgroup/project"),
    ({"provider": "gitlab", "repository": "acme/shop", "api_url": "http://127.0.0.1:9"}, "ending in /api/v4"),
    ({"provider": "bitbucket", "repository": "acme/shop", "api_url": "https://api.bitbucket.org/2.0"},
     "ask whoever runs System Reality"),
])
def test_bad_connections_are_refused_and_nothing_is_saved(stack: Stack, body: dict, detail: str) -> None:
    stack.install()
    response = stack.admin("POST", "/api/connections", body)
    assert response.status_code == 400, response.text
    assert detail in response.json()["detail"] + response.json()["error"]
    assert stack.admin("GET", "/api/connections").json() == []


def test_each_host_gets_its_own_webhook_url_and_settings(stack: Stack) -> None:
    stack.install()
    made = {}
    for provider, repository, api in (("github", "acme/shop", "http://127.0.0.1:9"),
                                      ("gitlab", "acme/checkout/shop", "http://127.0.0.1:9/api/v4"),
                                      ("bitbucket", "acme/shop", "http://127.0.0.1:9/2.0")):
        response = stack.admin("POST", "/api/connections", {"provider": provider, "repository": repository,
                                                            "api_url": api})
        assert response.status_code == 201, response.text
        made[provider] = response.json()
        assert made[provider]["webhook_url"] == f"{stack.app_url}/{provider}/webhook/{made[provider]['id']}"
        assert f"{provider}_settings" in made[provider]
    listed = {c["provider"]: c for c in stack.admin("GET", "/api/connections").json()}
    assert {p: c["webhook_url"] for p, c in listed.items()} == {p: c["webhook_url"] for p, c in made.items()}
    assert listed["gitlab"]["repository"] == "acme/checkout/shop"
    assert all("webhook_secret" not in c for c in listed.values())
