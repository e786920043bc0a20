"""JiraClient against a tiny loopback Jira: signing, request shapes, retries, refusals, audit records."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask, jsonify, request
from werkzeug.serving import make_server

from connect_app.connect import jwt as cj
from connect_app.connect.jira import CallRecord, JiraClient, JiraError

APP_KEY = "system-reality-for-jira"
SECRET = "tenant-shared-secret-0123456789abcdef0123"


@dataclass
class Seen:
    method: str
    path: str
    args: dict[str, list[str]]
    body: Any
    claims: dict[str, Any] | None
    auth_error: str | None


@dataclass
class FakeJira:
    """Records what arrives, verifies the JWT as Jira would, answers from a script per route."""

    base_url: str = ""
    seen: list[Seen] = field(default_factory=list)
    script: dict[tuple[str, str], deque] = field(default_factory=dict)

    def answer(self, method: str, path: str, *responses: tuple[int, Any, dict[str, str]]) -> None:
        self.script.setdefault((method, path), deque()).extend(responses)


def _make_app(fake: FakeJira, context_path: str) -> Flask:
    app = Flask("fake-jira")

    @app.route(f"{context_path}/<path:rest>", methods=["GET", "POST", "PUT", "DELETE"])
    def handle(rest: str):
        # Jira hashes the path as it arrived on the wire (still percent-encoded), not decoded.
        raw_path = request.environ.get("RAW_URI", request.path).split("?", 1)[0]
        token = request.headers.get("Authorization", "")[4:]
        claims, auth_error = None, None
        try:
            claims = cj.verify_tenant_token(
                token,
                shared_secret=SECRET,
                client_key=APP_KEY,  # outbound tokens are issued by the app key
                method=request.method,
                path=cj.relative_path(raw_path, fake.base_url),
                query=request.args,
                allow_context_qsh=False,
            )
        except cj.JwtError as exc:
            auth_error = exc.reason
        fake.seen.append(
            Seen(
                request.method,
                raw_path,
                request.args.to_dict(flat=False),
                request.get_json(silent=True),
                claims,
                auth_error,
            )
        )
        if auth_error:
            return jsonify(errorMessages=[auth_error]), 401
        queue = fake.script.get((request.method, raw_path))
        status, body, headers = queue.popleft() if queue else (200, {}, {})
        if body is None:
            return "", status, headers
        return jsonify(body), status, headers

    return app


@pytest.fixture(scope="module", params=["", "/jira"], ids=["root", "context-path"])
def jira_server(request: pytest.FixtureRequest) -> Iterator[FakeJira]:
    context_path = request.param
    fake = FakeJira()
    server = make_server("127.0.0.1", 0, _make_app(fake, context_path), threaded=True)
    fake.base_url = f"http://127.0.0.1:{server.server_port}{context_path}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    thread.join()


@pytest.fixture
def jira(jira_server: FakeJira) -> FakeJira:
    jira_server.seen.clear()
    jira_server.script.clear()
    return jira_server


class Recorder:
    def __init__(self) -> None:
        self.sleeps: list[float] = []
        self.calls: list[CallRecord] = []


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


def _client(jira: FakeJira, rec: Recorder, **kwargs) -> JiraClient:
    kwargs.setdefault("jitter", lambda ceiling: ceiling)
    return JiraClient(
        base_url=jira.base_url,
        app_key=APP_KEY,
        shared_secret=SECRET,
        sleep=rec.sleeps.append,
        on_call=rec.calls.append,
        **kwargs,
    )


def _p(jira: FakeJira, path: str) -> str:
    return urlsplit(jira.base_url).path + path


def test_every_request_is_signed_for_exactly_what_is_sent(jira: FakeJira, rec: Recorder) -> None:
    jira.answer("GET", _p(jira, "/rest/api/3/issue/FEAT-304"), (200, {"key": "FEAT-304", "fields": {}}, {}))
    issue = _client(jira, rec).get_issue("FEAT-304", fields=("summary", "status"), properties=("system-reality",))
    assert issue["key"] == "FEAT-304"
    (seen,) = jira.seen
    assert seen.auth_error is None, seen.auth_error
    assert seen.claims["iss"] == APP_KEY
    assert seen.claims["exp"] - seen.claims["iat"] <= 180
    assert seen.args == {"fields": ["summary,status"], "properties": ["system-reality"]}


def test_edit_issue_sends_labels_and_properties_in_one_put(jira: FakeJira, rec: Recorder) -> None:
    path = _p(jira, "/rest/api/3/issue/FEAT-304")
    jira.answer("PUT", path, (204, None, {}))
    value = {"drift": "reverted", "since": "2024-05-01T23:31:00Z"}
    done = _client(jira, rec).edit_issue(
        "FEAT-304",
        labels_add=["drift-reverted"],
        labels_remove=["drift-rolled-back"],
        properties={"system-reality": value},
    )
    assert done is True
    (seen,) = jira.seen
    assert seen.auth_error is None
    assert seen.method == "PUT" and seen.args == {"notifyUsers": ["false"]}
    assert seen.body == {
        "update": {"labels": [{"add": "drift-reverted"}, {"remove": "drift-rolled-back"}]},
        "properties": [{"key": "system-reality", "value": value}],
    }
    assert rec.calls[-1].issue_key == "FEAT-304" and rec.calls[-1].status == 204


def test_edit_issue_with_nothing_to_do_makes_no_call(jira: FakeJira, rec: Recorder) -> None:
    assert _client(jira, rec).edit_issue("FEAT-304") is False
    assert jira.seen == [] and rec.calls == []


def test_add_comment_carries_its_properties(jira: FakeJira, rec: Recorder) -> None:
    jira.answer("POST", _p(jira, "/rest/api/3/issue/FEAT-304/comment"), (201, {"id": "10050"}, {}))
    adf = {"type": "doc", "version": 1, "content": []}
    comment = _client(jira, rec).add_comment("FEAT-304", adf, properties={"system-reality-change": {"id": "c1"}})
    assert comment == {"id": "10050"}
    assert jira.seen[0].body == {"body": adf, "properties": [{"key": "system-reality-change", "value": {"id": "c1"}}]}


def test_transition_carries_the_comment(jira: FakeJira, rec: Recorder) -> None:
    jira.answer("POST", _p(jira, "/rest/api/3/issue/FEAT-304/transitions"), (204, None, {}))
    adf = {"type": "doc", "version": 1, "content": []}
    _client(jira, rec).transition("FEAT-304", "31", comment_adf=adf)
    assert jira.seen[0].body == {"transition": {"id": "31"}, "update": {"comment": [{"add": {"body": adf}}]}}


def test_issue_property_is_none_when_missing(jira: FakeJira, rec: Recorder) -> None:
    path = _p(jira, "/rest/api/3/issue/FEAT-304/properties/system-reality")
    jira.answer(
        "GET",
        path,
        (404, {"errorMessages": ["not found"]}, {}),
        (200, {"key": "system-reality", "value": {"drift": "live"}}, {}),
    )
    client = _client(jira, rec)
    assert client.get_issue_property("FEAT-304", "system-reality") is None
    assert client.get_issue_property("FEAT-304", "system-reality") == {"drift": "live"}
    jira.answer("PUT", path, (200, None, {}))
    client.set_issue_property("FEAT-304", "system-reality", {"drift": "reverted"})
    assert jira.seen[-1].body == {"drift": "reverted"}


def test_search_jql_follows_next_page_token(jira: FakeJira, rec: Recorder) -> None:
    path = _p(jira, "/rest/api/3/search/jql")
    jira.answer(
        "POST",
        path,
        (200, {"issues": [{"key": "A-1"}, {"key": "A-2"}], "nextPageToken": "t2"}, {}),
        (200, {"issues": [{"key": "A-3"}], "isLast": True}, {}),
    )
    keys = [issue["key"] for issue in _client(jira, rec).search_jql("drift = reverted", fields=("key", "status"))]
    assert keys == ["A-1", "A-2", "A-3"]
    assert jira.seen[0].body == {"jql": "drift = reverted", "fields": ["key", "status"], "maxResults": 100}
    assert jira.seen[1].body["nextPageToken"] == "t2"


def test_list_projects_pages_through_project_search(jira: FakeJira, rec: Recorder) -> None:
    path = _p(jira, "/rest/api/3/project/search")
    jira.answer(
        "GET",
        path,
        (200, {"values": [{"key": "FEAT"}, {"key": "OPS"}], "isLast": False}, {}),
        (200, {"values": [{"key": "WEB"}], "isLast": True}, {}),
    )
    assert _client(jira, rec).list_projects() == ["FEAT", "OPS", "WEB"]
    assert jira.seen[1].args["startAt"] == ["2"]


def test_check_permissions_and_is_admin(jira: FakeJira, rec: Recorder) -> None:
    path = _p(jira, "/rest/api/3/permissions/check")
    jira.answer("POST", path, (200, {"globalPermissions": ["ADMINISTER"], "projectPermissions": []}, {}))
    assert _client(jira, rec).is_admin("acc-1") is True
    assert jira.seen[0].body == {"accountId": "acc-1", "globalPermissions": ["ADMINISTER"]}
    jira.answer("POST", path, (200, {"globalPermissions": [], "projectPermissions": []}, {}))
    assert _client(jira, rec).is_admin("acc-2") is False


def test_get_comments_pages_and_reads_comment_property(jira: FakeJira, rec: Recorder) -> None:
    jira.answer(
        "GET",
        _p(jira, "/rest/api/3/issue/FEAT-304/comment"),
        (200, {"comments": [{"id": "1"}, {"id": "2"}], "startAt": 0, "total": 3}, {}),
        (200, {"comments": [{"id": "3"}], "startAt": 2, "total": 3}, {}),
    )
    jira.answer(
        "GET", _p(jira, "/rest/api/3/comment/3/properties/system-reality-change"), (200, {"value": {"id": "c1"}}, {})
    )
    client = _client(jira, rec)
    assert [c["id"] for c in client.get_comments("FEAT-304")] == ["1", "2", "3"]
    assert client.get_comment_property("3", "system-reality-change") == {"id": "c1"}
    assert client.get_comment_property("4", "system-reality-change") is None  # 404 from the fake: no script


def test_retry_after_is_honoured(jira: FakeJira, rec: Recorder) -> None:
    path = _p(jira, "/rest/api/3/issue/FEAT-304/properties/system-reality")
    jira.answer("PUT", path, (429, {}, {"Retry-After": "7"}), (429, {}, {"Retry-After": "2"}), (200, None, {}))
    _client(jira, rec).set_issue_property("FEAT-304", "system-reality", {"drift": "reverted"})
    assert rec.sleeps == [7.0, 2.0]
    assert len(jira.seen) == 3 and all(s.auth_error is None for s in jira.seen)
    (call,) = rec.calls
    assert (call.status, call.retries, call.waits, call.issue_key) == (200, 2, (7.0, 2.0), "FEAT-304")


def test_503_backoff_is_exponential_and_capped_then_gives_up(jira: FakeJira, rec: Recorder) -> None:
    path = _p(jira, "/rest/api/3/search/jql")
    jira.answer("POST", path, *[(503, {"errorMessages": ["busy"]}, {})] * 6)
    client = _client(jira, rec, max_retries=5, backoff_cap=5.0)
    with pytest.raises(JiraError) as err:
        list(client.search_jql("project = FEAT"))
    assert err.value.status == 503 and err.value.messages == ["busy"]
    assert rec.sleeps == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert rec.calls[-1].retries == 5 and rec.calls[-1].error == "busy"


def test_full_jitter_stays_within_the_cap(jira: FakeJira, rec: Recorder) -> None:
    path = _p(jira, "/rest/api/3/project/search")
    jira.answer("GET", path, *[(503, {}, {})] * 4, (200, {"values": [], "isLast": True}, {}))
    client = _client(jira, rec, jitter=None, backoff_cap=3.0)
    assert client.list_projects() == []
    assert len(rec.sleeps) == 4 and all(0 <= s <= 3.0 for s in rec.sleeps)


def test_huge_retry_after_is_not_slept_through(jira: FakeJira, rec: Recorder) -> None:
    path = _p(jira, "/rest/api/3/user")
    jira.answer("GET", path, (429, {}, {"Retry-After": "3600"}))
    with pytest.raises(JiraError) as err:
        _client(jira, rec).get_user("acc-1")
    assert err.value.status == 429 and rec.sleeps == []
    # The hint travels with the error, so a job can wait in the queue rather than count a failure.
    assert err.value.retry_after == 3600.0


def test_retry_after_is_carried_when_retries_run_out(jira: FakeJira, rec: Recorder) -> None:
    path = _p(jira, "/rest/api/3/search/jql")
    jira.answer("POST", path, *[(503, {}, {"Retry-After": "5"})] * 3)
    with pytest.raises(JiraError) as err:
        list(_client(jira, rec, max_retries=2).search_jql("project = FEAT"))
    assert (err.value.status, err.value.retry_after) == (503, 5.0) and rec.sleeps == [5.0, 5.0]


def test_errors_without_a_wait_hint_carry_none(jira: FakeJira, rec: Recorder) -> None:
    jira.answer("GET", _p(jira, "/rest/api/3/user"), (500, {"errorMessages": ["boom"]}, {"Retry-After": "9"}))
    with pytest.raises(JiraError) as err:
        _client(jira, rec).get_user("acc-1")
    assert err.value.status == 500 and err.value.retry_after is None


def test_myself_names_the_apps_own_user(jira: FakeJira, rec: Recorder) -> None:
    jira.answer("GET", _p(jira, "/rest/api/3/myself"), (200, {"accountId": "712020:app", "accountType": "app"}, {}))
    assert _client(jira, rec).myself()["accountId"] == "712020:app"
    assert jira.seen[0].method == "GET" and jira.seen[0].auth_error is None


def test_other_errors_raise_with_jiras_messages(jira: FakeJira, rec: Recorder) -> None:
    path = _p(jira, "/rest/api/3/issue/FEAT-304")
    jira.answer("PUT", path, (400, {"errorMessages": [], "errors": {"labels": "bad label"}}, {}))
    with pytest.raises(JiraError) as err:
        _client(jira, rec).edit_issue("FEAT-304", labels_add=["bad label"])
    assert err.value.status == 400 and err.value.messages == ["labels: bad label"]
    assert rec.sleeps == [] and rec.calls[-1].status == 400


def test_redirects_are_not_followed(jira: FakeJira, rec: Recorder) -> None:
    path = _p(jira, "/rest/api/3/user")
    jira.answer("GET", path, (302, {}, {"Location": "http://127.0.0.2:9/steal"}))
    with pytest.raises(JiraError) as err:
        _client(jira, rec).get_user("acc-1")
    assert err.value.status == 302
    assert len(jira.seen) == 1


def test_refuses_a_foreign_host_or_a_path_outside_the_base(jira: FakeJira, rec: Recorder) -> None:
    client = _client(jira, rec)
    for target in (
        "http://127.0.0.2:9/rest/api/3/myself",
        "https://evil.example/rest/api/3/myself",
        jira.base_url.replace("127.0.0.1", "localhost") + "/rest/api/3/myself",
        "/../../etc/passwd",
    ):
        with pytest.raises(JiraError) as err:
            client.request("GET", target)
        assert err.value.status == 0 and "refusing" in err.value.messages[0]
    assert jira.seen == []


def test_issue_keys_cannot_escape_their_path_segment(jira: FakeJira, rec: Recorder) -> None:
    _client(jira, rec).get_issue_property("FEAT-1/../../myself", "system-reality")
    (seen,) = jira.seen
    assert seen.path == _p(jira, "/rest/api/3/issue/FEAT-1%2F..%2F..%2Fmyself/properties/system-reality")
    assert seen.auth_error is None


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
        client.add_comment("FEAT-1", {"type": "doc", "version": 1, "content": []})
    assert err.value.status == 0 and rec.sleeps == []
    assert rec.calls[-1].status == 0 and rec.calls[-1].issue_key == "FEAT-1"
