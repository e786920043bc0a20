"""The GitHub simulator behaves like GitHub where the app can tell: PyGithub reads it, its
payloads validate against GitHub's published schemas, its deliveries are signed like GitHub's,
and its Revert button leaves GitHub's shapes."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from flask import Flask, request
from github import Auth, Github, GithubException, RateLimitExceededException
from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7
from werkzeug.serving import make_server

from connect_app.sandbox.github.gitrepo import GitRepo
from connect_app.sandbox.github.simulator import GitHubSimulator, signature_256

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "github-webhooks"
SCHEMAS = FIXTURES / "payload-schemas" / "api.github.com"
SECRET = "It's a Secret to Everybody"


# --- helpers --------------------------------------------------------------------------------


def _registry() -> Registry:
    """Every schema under its `$id` and under its path, so `common/x.schema.json` and the
    sibling-relative `x.schema.json` refs inside common/ both resolve."""
    resources = []
    for path in SCHEMAS.rglob("*.schema.json"):
        contents = json.loads(path.read_text("utf-8"))
        resource = Resource.from_contents(contents, default_specification=DRAFT7)
        rel = path.relative_to(SCHEMAS).as_posix()
        resources.append((rel, resource))
        resources.append((contents.get("$id", rel), resource))
    return Registry().with_resources(resources)


REGISTRY = _registry()


def validate(event_schema: str, payload: dict) -> None:
    schema = json.loads((SCHEMAS / event_schema).read_text("utf-8"))
    validator = Draft7Validator(schema, registry=REGISTRY)
    errors = sorted(validator.iter_errors(payload), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:5])


class Receiver:
    """A throwaway Flask webhook receiver that verifies signatures like a careful app would."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.received: list[dict] = []
        app = Flask("receiver")

        @app.post("/hook")
        def hook():
            body = request.get_data()
            expected = "sha256=" + hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
            given = request.headers.get("X-Hub-Signature-256", "")
            valid = hmac.compare_digest(expected, given)
            self.received.append(
                {"event": request.headers.get("X-GitHub-Event"), "guid": request.headers.get("X-GitHub-Delivery"),
                 "headers": dict(request.headers), "body": body, "valid": valid}
            )
            return ("", 204) if valid else ({"error": "bad signature"}, 401)

        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_port}/hook"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    repo = GitRepo(tmp_path / "shop")
    repo.commit("Initial commit", {"README.md": "# shop\n"})
    return repo


@pytest.fixture
def sim(repo: GitRepo):
    simulator = GitHubSimulator(repo, "acme/shop").start()
    yield simulator
    simulator.stop()


@pytest.fixture
def receiver():
    rec = Receiver(SECRET)
    yield rec
    rec.stop()


def client(sim: GitHubSimulator, base: str | None = None) -> Github:
    # retry=None: PyGithub would otherwise sleep until the rate-limit reset.
    return Github(base_url=base or sim.api_url, auth=Auth.Token("t"), retry=None)


def feature_branch(repo: GitRepo, name: str, commits: list[tuple[str, dict]]) -> None:
    repo.branch(name, "main")
    repo.checkout(name)
    for message, files in commits:
        repo.commit(message, files)
    repo.checkout("main")


# --- git --------------------------------------------------------------------------------------


def test_git_repo_is_deterministic(tmp_path: Path) -> None:
    shas = []
    for name in ("a", "b"):
        repo = GitRepo(tmp_path / name)
        repo.commit("FEAT-1 one", {"x.txt": "1\n"})
        shas.append(repo.commit("FEAT-2 two", {"x.txt": "2\n"}))
    assert shas[0] == shas[1]


def test_git_revert_writes_gits_own_messages(repo: GitRepo) -> None:
    feature = repo.commit("FEAT-304 retry payments", {"pay.py": "retry = True\n"})
    revert = repo.revert(feature)
    info = repo.commit_info(revert)
    assert info.message == f'Revert "FEAT-304 retry payments"\n\nThis reverts commit {feature}.\n'
    assert [(f.path, f.status) for f in info.files] == [("pay.py", "removed")]

    feature_branch(repo, "topic", [("FEAT-5 topic work", {"t.txt": "t\n"})])
    before_merge = repo.rev_parse("main")
    merge = repo.merge("topic", "Merge branch 'topic'")
    merge_revert = repo.commit_info(repo.revert(merge, mainline=1))
    assert merge_revert.message == (
        f"Revert \"Merge branch 'topic'\"\n\nThis reverts commit {merge}, reversing\n"
        f"changes made to {before_merge}.\n"
    )
    assert repo.log_first_parent("main")[:2] == [merge_revert.sha, merge]
    assert repo.is_ancestor(before_merge, "main") and not repo.is_ancestor("main", before_merge)


# --- REST API through PyGithub -------------------------------------------------------------


def test_pygithub_reads_commits_and_single_commit(sim: GitHubSimulator, repo: GitRepo) -> None:
    first = sim.push("FEAT-1 add cart", {"cart.py": "items = []\n"})
    second = sim.push("FEAT-2 add checkout\n\nLonger body.", {"checkout.py": "pay()\n", "cart.py": None})
    gh_repo = client(sim).get_repo("acme/shop")
    assert gh_repo.default_branch == "main"
    listed = [c.sha for c in gh_repo.get_commits(sha="main")]
    assert listed == [second, first, repo.log_first_parent("main")[-1]]

    commit = gh_repo.get_commit(second)
    assert commit.commit.message == "FEAT-2 add checkout\n\nLonger body."
    assert [p.sha for p in commit.parents] == [first]
    assert sorted((f.filename, f.status, f.additions, f.deletions) for f in commit.files) == [
        ("cart.py", "removed", 0, 1),
        ("checkout.py", "added", 1, 0),
    ]
    assert commit.commit.author.date == repo.commit_info(second).author.date
    assert commit.html_url == f"https://github.com/acme/shop/commit/{second}"


def test_commit_list_pages_with_link_headers(sim: GitHubSimulator, repo: GitRepo) -> None:
    for i in range(45):
        repo.commit(f"FEAT-{i + 1} step", {"n.txt": f"{i}\n"})
    response = requests.get(f"{sim.api_url}/repos/acme/shop/commits", params={"per_page": 20}, timeout=10)
    assert response.status_code == 200 and len(response.json()) == 20
    assert 'rel="next"' in response.headers["Link"] and "page=3" in response.headers["Link"]
    everything = list(client(sim).get_repo("acme/shop").get_commits(sha="main"))
    assert len(everything) == 46
    assert [c.sha for c in everything] == repo.log_first_parent("main")


def test_compare_pages_past_250_commits(sim: GitHubSimulator, repo: GitRepo) -> None:
    base = repo.rev_parse("main")
    made = [repo.commit(f"FEAT-{i + 1} change", {"f.txt": f"{i}\n"}) for i in range(260)]
    comparison = client(sim).get_repo("acme/shop").compare(base, "main")
    assert comparison.status == "ahead"
    assert comparison.ahead_by == 260 and comparison.total_commits == 260
    assert [c.sha for c in comparison.commits] == made  # oldest first, all pages
    assert [f.filename for f in comparison.files] == ["f.txt"]

    unpaged = requests.get(f"{sim.api_url}/repos/acme/shop/compare/{base}...main", timeout=30).json()
    assert len(unpaged["commits"]) == 250 and unpaged["commits"][-1]["sha"] == made[-1]


def test_compare_after_a_reset_is_behind_or_diverged(sim: GitHubSimulator, repo: GitRepo) -> None:
    old = repo.rev_parse("main")
    deployed = sim.push("FEAT-7 new pricing", {"price.py": "2\n"})
    gh_repo = client(sim).get_repo("acme/shop")
    assert gh_repo.compare(deployed, deployed).status == "identical"

    sim.push_branch(before=deployed, after=old)  # force-push main back
    behind = gh_repo.compare(deployed, "main")
    assert (behind.status, behind.ahead_by, behind.behind_by) == ("behind", 0, 1)

    hotfix = sim.push("FEAT-8 hotfix on the old line", {"hot.py": "1\n"})
    diverged = gh_repo.compare(deployed, hotfix)
    assert (diverged.status, diverged.ahead_by, diverged.behind_by) == ("diverged", 1, 1)
    assert diverged.merge_base_commit.sha == old
    assert sim.deliveries_of("push") == []  # no hook registered: nothing sent


def test_pull_request_endpoints_and_enterprise_prefix(sim: GitHubSimulator, repo: GitRepo) -> None:
    feature_branch(repo, "feat-304-retry", [("FEAT-304 retry", {"r.py": "1\n"}), ("FEAT-304 tests", {"t.py": "1\n"})])
    number = sim.open_pull_request("feat-304-retry", "FEAT-304 Retry failed payments", "Adds retries")
    merge_sha = sim.merge_pull_request(number)
    for base in (sim.api_url, sim.enterprise_api_url):
        pull = client(sim, base).get_repo("acme/shop").get_pull(number)
        assert pull.merged and pull.merge_commit_sha == merge_sha
        assert pull.head.ref == "feat-304-retry" and pull.title == "FEAT-304 Retry failed payments"
        assert [c.commit.message for c in pull.get_commits()] == ["FEAT-304 retry", "FEAT-304 tests"]
    message = repo.commit_info(merge_sha).message
    assert message == "Merge pull request #1 from acme/feat-304-retry\n\nFEAT-304 Retry failed payments\n"


def test_token_and_rate_limit_like_github(sim: GitHubSimulator) -> None:
    now = [1_700_000_000.0]
    sim.clock = lambda: now[0]
    sim.require_token("t")
    url = f"{sim.api_url}/repos/acme/shop"
    assert requests.get(url, timeout=10).status_code == 401
    bad = requests.get(url, headers={"Authorization": "token nope"}, timeout=10)
    assert bad.status_code == 401 and bad.json()["message"] == "Bad credentials"
    ok = requests.get(url, headers={"Authorization": "Bearer t"}, timeout=10)
    assert ok.status_code == 200 and int(ok.headers["X-RateLimit-Remaining"]) < 5000

    sim.exhaust_rate_limit(reset_in_seconds=120)
    limited = requests.get(url, headers={"Authorization": "token t"}, timeout=10)
    assert limited.status_code == 403
    assert limited.headers["X-RateLimit-Remaining"] == "0"
    assert limited.headers["X-RateLimit-Reset"] == str(1_700_000_000 + 120)
    with pytest.raises(RateLimitExceededException):
        client(sim).get_repo("acme/shop")
    now[0] += 121
    assert client(sim).get_repo("acme/shop").full_name == "acme/shop"
    with pytest.raises(GithubException) as missing:
        client(sim).get_repo("acme/shop").get_commit("0123456789abcdef0123456789abcdef01234567")
    assert missing.value.status == 422


# --- webhooks ---------------------------------------------------------------------------------


def test_signature_matches_githubs_test_vector() -> None:
    assert signature_256(SECRET, b"Hello, World!") == (
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    )


def test_push_delivery_is_signed_and_lists_commits_oldest_first(
    sim: GitHubSimulator, repo: GitRepo, receiver: Receiver
) -> None:
    hook_id = sim.add_hook(receiver.url, SECRET)
    before = repo.rev_parse("main")
    one = repo.commit("FEAT-1 first", {"a.txt": "a\n"})
    two = repo.commit("FEAT-2 second", {"a.txt": "b\n", "b.txt": "b\n"})
    guid = sim.push_branch(before, two)

    [got] = receiver.received
    assert got["valid"] and got["event"] == "push" and got["guid"] == guid
    headers = got["headers"]
    assert headers["User-Agent"].startswith("GitHub-Hookshot/")
    assert headers["X-Github-Hook-Id"] == str(hook_id)
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Hub-Signature"].startswith("sha1=")
    payload = json.loads(got["body"])
    assert (payload["ref"], payload["before"], payload["after"]) == ("refs/heads/main", before, two)
    assert [c["id"] for c in payload["commits"]] == [one, two]
    assert payload["commits"][1]["modified"] == ["a.txt"] and payload["commits"][1]["added"] == ["b.txt"]
    assert payload["head_commit"]["id"] == two
    assert payload["repository"]["full_name"] == "acme/shop"
    assert payload["repository"]["commits_url"] == f"{sim.api_url}/repos/acme/shop/commits{{/sha}}"
    # GitHub's quirk, kept from the real template: a push's repository.url is the web URL.
    assert payload["repository"]["url"] == "https://github.com/acme/shop"
    assert sim.deliveries[0].status == 204


def test_redeliver_and_raw_sends(sim: GitHubSimulator, receiver: Receiver) -> None:
    sim.add_hook(receiver.url, SECRET)
    sim.push("FEAT-3 thing", {"c.txt": "c\n"})
    original = sim.deliveries[0]
    [again] = sim.redeliver(original.guid)
    assert again.guid == original.guid and again.body == original.body and again.status == 204
    assert receiver.received[1]["guid"] == original.guid

    forged = sim.send_raw(receiver.url, "push", b'{"ref": "refs/heads/main"}', "wrong secret")
    assert forged.status == 401 and not receiver.received[-1]["valid"]
    signed = sim.send_raw(receiver.url, "push", b"not json at all", SECRET, guid="fixed-guid")
    assert signed.status == 204 and receiver.received[-1]["guid"] == "fixed-guid"


def test_generated_payloads_validate_against_githubs_schemas(
    sim: GitHubSimulator, repo: GitRepo, receiver: Receiver
) -> None:
    sim.add_hook(receiver.url, SECRET)
    sim.push("FEAT-1 first", {"a.txt": "a\n"})
    feature_branch(repo, "feat-2", [("FEAT-2 work", {"b.txt": "b\n"})])
    number = sim.open_pull_request("feat-2", "FEAT-2 Feature", "Body")
    merge_sha = sim.merge_pull_request(number)
    dep = sim.create_deployment(merge_sha, "production")
    sim.set_deployment_status(dep, "success")
    sim.publish_release("v1.0.0", name="One")

    by_event = {}
    for got in receiver.received:
        assert got["valid"]
        by_event.setdefault(got["event"], []).append(json.loads(got["body"]))
    for payload in by_event["push"]:
        validate("push/event.schema.json", payload)
    [closed] = by_event["pull_request"]
    validate("pull_request/closed.schema.json", closed)
    assert closed["action"] == "closed" and closed["pull_request"]["merged"] is True
    assert closed["pull_request"]["merge_commit_sha"] == merge_sha
    assert closed["pull_request"]["head"]["ref"] == "feat-2" and closed["number"] == number
    [deployment] = by_event["deployment"]
    validate("deployment/created.schema.json", deployment)
    assert deployment["deployment"]["sha"] == merge_sha and deployment["deployment"]["id"] == dep
    [status] = by_event["deployment_status"]
    validate("deployment_status/created.schema.json", status)
    assert status["deployment_status"]["state"] == "success"
    [release] = by_event["release"]
    assert release["action"] == "published" and release["release"]["tag_name"] == "v1.0.0"
    # The merge push carries the PR's commit (already pushed on its branch) and the merge.
    merge_push = by_event["push"][-1]
    assert [(c["message"].split("\n")[0], c["distinct"]) for c in merge_push["commits"]] == [
        ("FEAT-2 work", False),
        ("Merge pull request #1 from acme/feat-2", True),
    ]


def test_form_encoded_hook_signs_the_form_body(sim: GitHubSimulator, receiver: Receiver) -> None:
    sim.add_hook(receiver.url, SECRET, content_type="form")
    sim.push("FEAT-9 formed", {"f.txt": "f\n"})
    [got] = receiver.received
    assert got["valid"] and got["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    from urllib.parse import parse_qs

    assert json.loads(parse_qs(got["body"].decode())["payload"][0])["ref"] == "refs/heads/main"


# --- Revert button ----------------------------------------------------------------------------


def test_revert_button_on_merge_commit_pr(sim: GitHubSimulator, repo: GitRepo) -> None:
    feature_branch(repo, "patch-1", [("FEAT-304 retry payments", {"pay.py": "retry\n"})])
    number = sim.open_pull_request("patch-1", "FEAT-304 Retry payments")
    sim.merge_pull_request(number)
    revert_number = sim.revert_button(number)

    revert_pr = sim.pulls[revert_number]
    assert revert_pr.head_ref == f"revert-{number}-patch-1"
    assert revert_pr.title == 'Revert "FEAT-304 Retry payments"'
    assert revert_pr.body == f"Reverts acme/shop#{number}"
    [revert_commit] = sim.pull_commits(revert_number)
    assert repo.commit_info(revert_commit).message == 'Revert "FEAT-304 Retry payments"\n'  # no SHA, no body

    merged = sim.merge_pull_request(revert_number)
    assert repo.commit_info(merged).subject == f"Merge pull request #{revert_number} from acme/revert-1-patch-1"
    assert "pay.py" not in [f.path for f in repo.diff_files(None, "main")]

    again = sim.revert_button(revert_number)
    assert sim.pulls[again].head_ref == f"revert-{revert_number}-revert-1-patch-1"
    assert sim.pulls[again].title == 'Revert "Revert "FEAT-304 Retry payments""'


def test_revert_button_on_squash_merged_pr(sim: GitHubSimulator, repo: GitRepo) -> None:
    feature_branch(repo, "feat", [("FEAT-10 part one", {"x.txt": "1\n"}), ("FEAT-10 part two", {"y.txt": "2\n"})])
    number = sim.open_pull_request("feat", "FEAT-10 Both parts")
    squash = sim.merge_pull_request(number, method="squash")
    assert repo.commit_info(squash).message == (
        f"FEAT-10 Both parts (#{number})\n\n* FEAT-10 part one\n\n* FEAT-10 part two\n"
    )
    revert_number = sim.revert_button(number)
    [revert_commit] = sim.pull_commits(revert_number)
    assert repo.commit_info(revert_commit).message == (
        f'Revert "FEAT-10 Both parts (#{number})"\n\nThis reverts commit {squash}.\n'
    )
    merged = sim.merge_pull_request(revert_number, method="squash")
    assert repo.commit_info(merged).message == (
        f'Revert "FEAT-10 Both parts (#{number})" (#{revert_number})\n\nThis reverts commit {squash}.\n'
    )


def test_events_follow_the_scripted_clock(sim: GitHubSimulator, receiver: Receiver) -> None:
    sim.add_hook(receiver.url, SECRET)
    shipped = sim.push("FEAT-304 ship", {"s.txt": "1\n"}, when=datetime(2024, 3, 4, 10, 0, tzinfo=UTC))
    sim.deploy(shipped, when=datetime(2024, 3, 6, 23, 31, tzinfo=UTC))
    status = json.loads(receiver.received[-1]["body"])
    assert status["deployment_status"]["created_at"] == "2024-03-06T23:31:00Z"
    push = json.loads(receiver.received[0]["body"])
    assert push["head_commit"]["timestamp"] == "2024-03-04T10:00:00+00:00"


def test_push_commit_list_is_capped_and_unreachable_hooks_are_recorded(repo: GitRepo, receiver: Receiver) -> None:
    sim = GitHubSimulator(repo, "acme/shop", push_commit_limit=3).start()
    try:
        sim.add_hook(receiver.url, SECRET)
        dead = sim.add_hook("http://127.0.0.1:9/nowhere", SECRET)
        made = [repo.commit(f"FEAT-{i + 1} bulk", {"bulk.txt": f"{i}\n"}) for i in range(5)]
        guid = sim.push_branch()
        payload = json.loads(receiver.received[0]["body"])
        assert [c["id"] for c in payload["commits"]] == made[-3:]
        assert payload["head_commit"]["id"] == made[-1]
        [failed] = [d for d in sim.deliveries if d.hook_id == dead]
        assert failed.guid == guid and failed.status is None and failed.error and not failed.ok
    finally:
        sim.stop()
