"""What an admin pastes as a repository: the path each host names it by."""

from __future__ import annotations

from connect_app.web.admin import repository_path


def test_a_self_managed_gitlab_project_keeps_its_whole_group_path() -> None:
    pasted = "https://git.example.com/acme/checkout/payments/-/merge_requests"
    assert repository_path(pasted, "gitlab") == "acme/checkout/payments"
    assert repository_path("git@git.example.com:acme/checkout/payments.git", "gitlab") == "acme/checkout/payments"


def test_github_and_bitbucket_addresses_stop_at_owner_and_name() -> None:
    assert repository_path("https://github.com/acme/web/tree/main/src", "github") == "acme/web"
    assert repository_path("https://bitbucket.org/acme/web/src/main/", "bitbucket") == "acme/web"
