"""The "AI assistants" page in the sandbox's Jira (issue 12): a user makes a token, sees it once with
a client configuration to copy, finds it listed (never shown again), revokes it, and the revoked
token then gets 401 at /mcp."""

from __future__ import annotations

import json
import re

import pytest
import requests
from playwright.sync_api import expect

from connect_app.connect.descriptor import APP_KEY

pytestmark = pytest.mark.browser

DAN = "557058:dev-dan"  # a user, not an admin: tokens are for anyone who uses Jira


def mcp_status(app_url: str, token: str) -> int:
    return requests.post(f"{app_url}/mcp", timeout=30, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                         headers={"Authorization": f"Bearer {token}",
                                  "Accept": "application/json, text/event-stream",
                                  "MCP-Protocol-Version": "2025-06-18"}).status_code


def test_a_user_makes_copies_lists_and_revokes_a_token(story_stack, page) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{story_stack.jira.base_url}/plugins/servlet/ac/{APP_KEY}/ai-assistants?as={DAN}")
    assistants = page.frame_locator("#app-page")
    expect(assistants.locator("h1")).to_have_text("AI assistants")
    expect(assistants.locator("#sr-tokens")).to_contain_text("You have no tokens yet.")

    assistants.get_by_label("Name").fill("Laptop assistant")
    assistants.get_by_role("button", name="Make token").click()

    # Shown once, with a client configuration that names this app's /mcp and the very token.
    token_box = assistants.locator("#sr-new-token")
    expect(token_box).to_have_text(re.compile(r"^srmcp\S{20,}$"))
    token = token_box.inner_text()
    config = json.loads(assistants.locator("#sr-client-config").inner_text())
    server = config["mcpServers"]["system-reality"]
    assert server == {"type": "http", "url": f"{story_stack.app_url}/mcp",
                      "headers": {"Authorization": f"Bearer {token}"}}
    # One box around the whole configuration, not a box around each of its lines.
    assert assistants.locator("#sr-client-config").evaluate("code => code.getClientRects().length") == 1
    # The sandbox's host page frames the app from another origin without a clipboard permission,
    # so the button says either that it copied or to select and copy: it answers either way.
    assistants.get_by_role("button", name="Copy client configuration").click()
    expect(assistants.locator("#sr-assistants-status")).to_have_text(
        re.compile(r"^(client configuration copied\.|Select the client configuration and copy it\.)$"))
    assert mcp_status(story_stack.app_url, token) == 200

    # Listed, and never shown again once the page is reloaded.
    expect(assistants.locator("#sr-token-table")).to_contain_text("Laptop assistant")
    page.reload()
    assistants = page.frame_locator("#app-page")
    expect(assistants.locator("#sr-token-table")).to_contain_text("Laptop assistant")
    expect(assistants.locator("#sr-token-created")).to_be_hidden()
    assert token not in assistants.locator("body").inner_text()

    # Revoked at once: the list empties and the token no longer opens /mcp.
    page.once("dialog", lambda dialog: dialog.accept())
    assistants.get_by_role("button", name="Revoke Laptop assistant").click()
    expect(assistants.locator("#sr-assistants-status")).to_have_text("Token \u201cLaptop assistant\u201d revoked.")
    expect(assistants.locator("#sr-tokens")).to_contain_text("You have no tokens yet.")
    assert mcp_status(story_stack.app_url, token) == 401
