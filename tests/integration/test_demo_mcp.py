"""`connect-app demo` prints the MCP URL and a working token for its sandbox user (issue 12). That an
assistant pointed at them gets FEAT-304's reality is proven on the running demo, which
tests/browser/test_demo.py starts once for all it checks; here: the token was made through the
tokens API (it is listed there, for the sandbox user)."""

from __future__ import annotations


def test_the_demo_token_is_made_through_the_tokens_api(stack, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    """No back door: the token the demo prints is one the tokens API lists for the sandbox user."""
    from connect_app.sandbox.demo import print_assistant_access
    from connect_app.sandbox.stack import ADMIN

    stack.install()
    calls: list[tuple[str, str]] = []
    real = stack.admin

    def spy(method: str, path: str, json=None, *, account_id: str = ADMIN):  # type: ignore[no-untyped-def]
        calls.append((method, path))
        return real(method, path, json, account_id=account_id)

    monkeypatch.setattr(stack, "admin", spy)
    print_assistant_access(stack)
    assert calls == [("POST", "/api/mcp/tokens")]
    listed = real("GET", "/api/mcp/tokens").json()
    assert [t["label"] for t in listed["tokens"]] == ["Demo assistant"]
    assert listed["mcp_url"] in capsys.readouterr().out
