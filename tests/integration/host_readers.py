"""What the GitLab and Bitbucket reader tests set up alike: a server elsewhere that a hostile
listing's next page points at (and that no request may reach), a hostile host served for one test,
and the check that a simulator's packaged payload templates are the host's documented examples."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flask import Flask, jsonify

from connect_app.sandbox.server import ServedApp

ROOT = Path(__file__).parents[2]


@contextmanager
def served(app: Flask) -> Iterator[str]:
    """`app` served on a loopback port for the block; yields its base URL."""
    server = ServedApp(app).start()
    try:
        yield server.url
    finally:
        server.stop()


@contextmanager
def served_elsewhere(answer: object) -> Iterator[tuple[str, list[str]]]:
    """A server on another port answering `answer` to anything, recording each path asked of it;
    yields its base URL and those paths."""
    hits: list[str] = []
    elsewhere = Flask("elsewhere")

    @elsewhere.get("/<path:rest>")
    def anything(rest: str) -> object:
        hits.append(rest)
        return jsonify(answer)

    with served(elsewhere) as url:
        yield url, hits


def assert_templates_are_the_documented_examples(host: str) -> None:
    """The simulator of `host` builds its webhooks from byte-for-byte copies of the host's
    documented examples (tests/fixtures/<host>-webhooks)."""
    templates = ROOT / "connect_app" / "sandbox" / host / "payload_templates"
    fixtures = sorted((ROOT / "tests" / "fixtures" / f"{host}-webhooks").glob("*.json"))
    assert fixtures
    for fixture in fixtures:
        assert (templates / fixture.name).read_bytes() == fixture.read_bytes(), fixture.name
