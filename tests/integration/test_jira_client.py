"""JiraClient against the Jira Cloud simulator: signing, request shapes, retries, refusals, audit records.

The simulator verifies every request's JWT (qsh included) and checks every request against
Jira's OpenAPI spec, so `sim.violations == []` says the client spoke Jira's API correctly.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jwt
import pytest
import requests
from atlassian_jwt.url_utils import hash_url
from requests.adapters import BaseAdapter

from connect_app.connect.jira import CallRecord, JiraClient, JiraError
from connect_app.sandbox.jira.adf import paragraph
from connect_app.sandbox.jira.simulator import JiraSimulator

APP_KEY = "system-reality-for-jira"
SECRET = "tenant-shared-secret-0123456789abcdef0123"
PROPERTY = "system-reality"
COMMENT_PROPERTY = "system-reality-change"


@pytest.fixture
def sim() -> Iterator[JiraSimulator]:
    simulator = JiraSimulator().start()
    simulator.register_tenant_secret(APP_KEY, SECRET)
    simulator.add_project("FEAT", "Features")
    simulator.add_issue("FEAT-304", "Retry failed payouts", status="Done")
    yield simulator
    simulator.stop()


class Recorder:
    def __init__(self) -> None:
        self.sleeps: list[float] = []
        self.calls: list[CallRecord] = []


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


def _client(sim: JiraSimulator, rec: Recorder, **kwargs: Any) -> JiraClient:
    kwargs.setdefault("jitter", lambda ceiling: ceiling)
    kwargs.setdefault("shared_secret", SECRET)
    return JiraClient(
        base_url=sim.base_url,
        app_key=APP_KEY,
        sleep=rec.sleeps.append,
        on_call=rec.calls.append,
        **kwargs,
    )


def test_every_request_is_signed_for_exactly_what_is_sent(sim: JiraSimulator, rec: Recorder) -> None:
    tokens: list[str] = []
    session = requests.Session()
    session.hooks["response"].append(lambda r, *_a, **_k: tokens.append(r.request.headers["Authorization"][4:]))
    issue = _client(sim, rec, session=session).get_issue(
        "FEAT-304", fields=("summary", "status"), properties=(PROPERTY,)
    )
    assert issue["key"] == "FEAT-304" and issue["fields"]["summary"] == "Retry failed payouts"
    (call,) = sim.requests_log
    # The simulator answers 401 to a token whose qsh does not cover this method, path and query.
    assert (call.status, call.issuer) == (200, APP_KEY)
    assert call.query == {"fields": ["summary,status"], "properties": [PROPERTY]}
    claims = jwt.decode(tokens[0], SECRET, algorithms=["HS256"])
    assert claims["exp"] - claims["iat"] <= 180
    assert sim.violations == []


def test_a_client_with_the_wrong_secret_is_refused(sim: JiraSimulator, rec: Recorder) -> None:
    client = _client(sim, rec, shared_secret="not-the-tenant-secret-0123456789abcdef")
    with pytest.raises(JiraError) as err:
        client.set_issue_property("FEAT-304", PROPERTY, {"drift": "reverted"})
    assert err.value.status == 401 and rec.sleeps == []
    assert PROPERTY not in sim.issues["FEAT-304"]["properties"]
    (violation,) = sim.violations
    assert violation.startswith("401 PUT")


def test_edit_issue_sends_labels_and_properties_in_one_put(sim: JiraSimulator, rec: Recorder) -> None:
    sim.issues["FEAT-304"]["labels"] = ["customer-x", "drift-rolled-back"]
    value = {"drift": "reverted", "since": "2024-05-01T23:31:00Z"}
    done = _client(sim, rec).edit_issue(
        "FEAT-304",
        labels_add=["drift-reverted"],
        labels_remove=["drift-rolled-back"],
        properties={PROPERTY: value},
    )
    assert done is True
    (call,) = sim.requests_log
    assert (call.method, call.status, call.query) == ("PUT", 204, {"notifyUsers": ["false"]})
    assert sim.issues["FEAT-304"]["labels"] == ["customer-x", "drift-reverted"]
    assert sim.issues["FEAT-304"]["properties"][PROPERTY] == value
    assert rec.calls[-1].issue_key == "FEAT-304" and rec.calls[-1].status == 204
    assert sim.violations == []


def test_edit_issue_with_nothing_to_do_makes_no_call(sim: JiraSimulator, rec: Recorder) -> None:
    assert _client(sim, rec).edit_issue("FEAT-304") is False
    assert sim.requests_log == [] and rec.calls == []


def test_add_comment_carries_its_properties(sim: JiraSimulator, rec: Recorder) -> None:
    comment = _client(sim, rec).add_comment(
        "FEAT-304", paragraph("Reverted in abc1234"), properties={COMMENT_PROPERTY: {"id": "c1"}}
    )
    (stored,) = sim.issues["FEAT-304"]["comments"]
    assert comment["id"] == stored["id"]
    assert stored["body"] == paragraph("Reverted in abc1234")
    assert stored["author"] == sim.app_user(APP_KEY)
    assert stored["properties"] == {COMMENT_PROPERTY: {"id": "c1"}}
    assert len(sim.writes()) == 1 and sim.violations == []


def test_transition_carries_the_comment(sim: JiraSimulator, rec: Recorder) -> None:
    client = _client(sim, rec)
    reopen = next(t for t in client.get_transitions("FEAT-304") if t["name"] == "Reopen")
    client.transition("FEAT-304", reopen["id"], comment_adf=paragraph("Reopened: reverted"))
    assert sim.issues["FEAT-304"]["status"] == "Reopened"
    assert [c["body"] for c in sim.issues["FEAT-304"]["comments"]] == [paragraph("Reopened: reverted")]
    assert len(sim.writes()) == 1 and sim.violations == []


def test_issue_property_is_none_when_missing(sim: JiraSimulator, rec: Recorder) -> None:
    client = _client(sim, rec)
    assert client.get_issue_property("FEAT-304", PROPERTY) is None
    client.set_issue_property("FEAT-304", PROPERTY, {"drift": "reverted"})
    assert sim.issues["FEAT-304"]["properties"][PROPERTY] == {"drift": "reverted"}
    assert client.get_issue_property("FEAT-304", PROPERTY) == {"drift": "reverted"}
    assert [c.status for c in sim.requests_log] == [404, 201, 200]
    assert sim.violations == []


def test_search_jql_follows_next_page_token(sim: JiraSimulator, rec: Recorder) -> None:
    for n in range(1, 6):
        sim.add_issue(f"FEAT-{n}", f"Issue {n}")
    issues = _client(sim, rec).search_jql("project = FEAT ORDER BY key ASC", fields=("key", "status"), max_results=2)
    keys = [issue["key"] for issue in issues]
    assert keys == ["FEAT-1", "FEAT-2", "FEAT-3", "FEAT-4", "FEAT-5", "FEAT-304"]
    bodies = [call.json for call in sim.requests_log]
    assert len(bodies) == 3
    assert bodies[0] == {"jql": "project = FEAT ORDER BY key ASC", "fields": ["key", "status"], "maxResults": 2}
    assert all(body.get("nextPageToken") for body in bodies[1:])
    assert sim.writes() == [] and sim.violations == []


def test_list_projects_pages_through_project_search(sim: JiraSimulator, rec: Recorder) -> None:
    # The client asks for 50 a page; 55 projects make Jira answer a second page.
    extra = [f"P{n:02d}" for n in range(54)]
    for key in extra:
        sim.add_project(key, f"Project {key}")
    assert _client(sim, rec).list_projects() == sorted(["FEAT", *extra])
    assert [call.query["startAt"] for call in sim.requests_log] == [["0"], ["50"]]
    assert sim.violations == []


def test_check_permissions_and_is_admin(sim: JiraSimulator, rec: Recorder) -> None:
    sim.add_user("acc-1", "Ada Admin", admin=True)
    sim.add_user("acc-2", "Rita Reporter")
    client = _client(sim, rec)
    assert client.is_admin("acc-1") is True
    assert client.is_admin("acc-2") is False
    assert sim.requests_log[0].json == {"accountId": "acc-1", "globalPermissions": ["ADMINISTER"]}
    assert sim.writes() == [] and sim.violations == []


def test_get_comments_pages_and_reads_comment_property(sim: JiraSimulator, rec: Recorder) -> None:
    # The client asks for 100 a page; 101 comments make it ask again.
    issue = sim.issues["FEAT-304"]
    comments = [sim.state.new_comment(issue, "u-someone", paragraph(f"note {n}")) for n in range(101)]
    comments[-1]["properties"][COMMENT_PROPERTY] = {"id": "c1"}
    client = _client(sim, rec)
    assert [c["id"] for c in client.get_comments("FEAT-304")] == [c["id"] for c in comments]
    assert [call.query["startAt"] for call in sim.requests_log] == [["0"], ["100"]]
    assert client.get_comment_property(comments[-1]["id"], COMMENT_PROPERTY) == {"id": "c1"}
    assert client.get_comment_property(comments[0]["id"], COMMENT_PROPERTY) is None
    assert sim.violations == []


def test_retry_after_is_honoured(sim: JiraSimulator, rec: Recorder) -> None:
    sim.fail_next(429, retry_after=7, path_contains="/properties/")
    sim.fail_next(429, retry_after=2, path_contains="/properties/")
    _client(sim, rec).set_issue_property("FEAT-304", PROPERTY, {"drift": "reverted"})
    assert rec.sleeps == [7.0, 2.0]
    assert [c.status for c in sim.requests_log] == [429, 429, 201]
    assert sim.issues["FEAT-304"]["properties"][PROPERTY] == {"drift": "reverted"}
    (call,) = rec.calls
    assert (call.status, call.retries, call.waits, call.issue_key) == (201, 2, (7.0, 2.0), "FEAT-304")
    assert sim.violations == []


def test_503_backoff_is_exponential_and_capped_then_gives_up(sim: JiraSimulator, rec: Recorder) -> None:
    sim.fail_next(503, count=6, path_contains="/search/jql")
    client = _client(sim, rec, max_retries=5, backoff_cap=5.0)
    with pytest.raises(JiraError) as err:
        list(client.search_jql("project = FEAT"))
    assert err.value.status == 503 and err.value.messages == ["Internal server error."]
    assert rec.sleeps == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert len(sim.requests_log) == 6
    assert rec.calls[-1].retries == 5 and rec.calls[-1].error == "Internal server error."
    assert sim.violations == []


def test_full_jitter_stays_within_the_cap(sim: JiraSimulator, rec: Recorder) -> None:
    sim.fail_next(503, count=4, path_contains="/project/search")
    client = _client(sim, rec, jitter=None, backoff_cap=3.0)
    assert client.list_projects() == ["FEAT"]
    assert len(rec.sleeps) == 4 and all(0 <= s <= 3.0 for s in rec.sleeps)
    assert sim.violations == []


def test_huge_retry_after_is_not_slept_through(sim: JiraSimulator, rec: Recorder) -> None:
    sim.fail_next(429, retry_after=3600, path_contains="/rest/api/3/user")
    with pytest.raises(JiraError) as err:
        _client(sim, rec).get_user(sim.app_user(APP_KEY))
    assert err.value.status == 429 and rec.sleeps == []
    assert len(sim.requests_log) == 1
    # The hint travels with the error, so a job can wait in the queue rather than count a failure.
    assert err.value.retry_after == 3600.0
    assert sim.violations == []


def test_retry_after_is_carried_when_retries_run_out(sim: JiraSimulator, rec: Recorder) -> None:
    sim.fail_next(503, count=3, retry_after=5, path_contains="/search/jql")
    with pytest.raises(JiraError) as err:
        list(_client(sim, rec, max_retries=2).search_jql("project = FEAT"))
    assert (err.value.status, err.value.retry_after) == (503, 5.0) and rec.sleeps == [5.0, 5.0]
    assert sim.violations == []


def test_errors_without_a_wait_hint_carry_none(sim: JiraSimulator, rec: Recorder) -> None:
    # A Retry-After on a 500 is not a rate limit: neither waited for nor handed on.
    sim.fail_next(500, retry_after=9, path_contains="/rest/api/3/user")
    with pytest.raises(JiraError) as err:
        _client(sim, rec).get_user(sim.app_user(APP_KEY))
    assert err.value.status == 500 and err.value.retry_after is None and rec.sleeps == []
    assert sim.violations == []


def test_myself_names_the_apps_own_user(sim: JiraSimulator, rec: Recorder) -> None:
    me = _client(sim, rec).myself()
    assert me["accountId"] == sim.app_user(APP_KEY) and me["accountType"] == "app"
    assert sim.violations == []


def test_other_errors_raise_with_jiras_messages(sim: JiraSimulator, rec: Recorder) -> None:
    with pytest.raises(JiraError) as err:
        _client(sim, rec).edit_issue("FEAT-304", labels_add=["bad label"])
    assert err.value.status == 400
    assert err.value.messages == ["labels: The label 'bad label' contains spaces which is invalid."]
    assert rec.sleeps == [] and rec.calls[-1].status == 400
    assert sim.issues["FEAT-304"]["labels"] == []
    # Jira refusing the label is what the simulator records; the request itself was spec-valid.
    (violation,) = sim.violations
    assert violation.startswith("400 PUT /rest/api/3/issue/FEAT-304")


def test_redirects_are_not_followed(sim: JiraSimulator, rec: Recorder) -> None:
    sim.redirect_next("http://127.0.0.2:9/steal", path_contains="/rest/api/3/user")
    with pytest.raises(JiraError) as err:
        _client(sim, rec).get_user(sim.app_user(APP_KEY))
    assert err.value.status == 302
    assert [c.status for c in sim.requests_log] == [302]
    assert sim.violations == []


def test_refuses_a_foreign_host_or_a_path_outside_the_base(sim: JiraSimulator, rec: Recorder) -> None:
    client = _client(sim, rec)
    for target in (
        "http://127.0.0.2:9/rest/api/3/myself",
        "https://evil.example/rest/api/3/myself",
        sim.base_url.replace("127.0.0.1", "localhost") + "/rest/api/3/myself",
        "/../../etc/passwd",
    ):
        with pytest.raises(JiraError) as err:
            client.request("GET", target)
        assert err.value.status == 0 and "refusing" in err.value.messages[0]
    assert sim.requests_log == []


def test_issue_keys_cannot_escape_their_path_segment(sim: JiraSimulator, rec: Recorder) -> None:
    assert _client(sim, rec).get_issue_property("FEAT-304/../../myself", PROPERTY) is None
    (call,) = sim.requests_log
    # Signed as sent: the simulator checks the qsh against the still-encoded path.
    assert call.issuer == APP_KEY and call.status == 404
    assert call.raw_path == "/rest/api/3/issue/FEAT-304%2F..%2F..%2Fmyself/properties/system-reality"
    # The spec checker decodes `%2F` and so finds no such resource; Jira, too, has no issue by
    # that key. That 404 is the only thing the simulator notes.
    (violation,) = sim.violations
    assert "Path not found" in violation


def test_unreachable_jira_is_reported_without_retrying_a_write(rec: Recorder) -> None:
    client = JiraClient(
        base_url="http://127.0.0.1:9",
        app_key=APP_KEY,
        shared_secret=SECRET,
        sleep=rec.sleeps.append,
        on_call=rec.calls.append,
        timeout=(0.5, 0.5),
    )
    with pytest.raises(JiraError) as err:
        client.add_comment("FEAT-1", paragraph("hello"))
    assert err.value.status == 0 and rec.sleeps == []
    assert rec.calls[-1].status == 0 and rec.calls[-1].issue_key == "FEAT-1"


# ---- a Jira base URL with a context path ----------------------------------------------------
# The simulator serves at the root of its origin, so a site under `/jira` is checked without HTTP:
# an adapter keeps the request the client would send and refuses the connection.


class _Unreachable(BaseAdapter):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[requests.PreparedRequest] = []

    def send(self, request: requests.PreparedRequest, *_args: Any, **_kwargs: Any) -> requests.Response:
        self.sent.append(request)
        raise requests.ConnectionError("no network in this test")

    def close(self) -> None:
        pass


def _context_path_client(rec: Recorder) -> tuple[JiraClient, _Unreachable]:
    adapter = _Unreachable()
    session = requests.Session()
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    client = JiraClient(
        base_url="https://jira.example/jira",
        app_key=APP_KEY,
        shared_secret=SECRET,
        session=session,
        sleep=rec.sleeps.append,
        max_retries=0,
    )
    return client, adapter


def test_a_context_path_prefixes_every_call_and_is_left_out_of_the_qsh(rec: Recorder) -> None:
    client, adapter = _context_path_client(rec)
    with pytest.raises(JiraError):
        client.get_issue("FEAT-304", fields=("summary",))
    (sent,) = adapter.sent
    assert sent.url == "https://jira.example/jira/rest/api/3/issue/FEAT-304?fields=summary"
    claims = jwt.decode(sent.headers["Authorization"][4:], SECRET, algorithms=["HS256"])
    # Jira hashes the path relative to its base URL, as it does for a site at the root.
    assert claims["qsh"] == hash_url("GET", "/rest/api/3/issue/FEAT-304?fields=summary")


def test_a_context_path_refuses_paths_outside_it_before_sending(rec: Recorder) -> None:
    client, adapter = _context_path_client(rec)
    for target in ("https://jira.example/rest/api/3/myself", "https://jira.example/jira2/rest/api/3/myself"):
        with pytest.raises(JiraError) as err:
            client.request("GET", target)
        assert err.value.status == 0 and "refusing" in err.value.messages[0]
    assert adapter.sent == []
