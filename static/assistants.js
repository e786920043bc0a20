/* The AI assistants page: personal MCP tokens through /api/mcp/tokens (context JWT). A new token
   is shown once, with a client configuration to copy; the list never shows a token again. */
(function () {
  "use strict";
  var SR = window.SR;
  var el = SR.el;
  var root = document.getElementById("sr-assistants");
  var mcpUrl = root.getAttribute("data-mcp-url");
  var status = document.getElementById("sr-assistants-status");

  function say(text) { status.textContent = text; }

  function when(iso) {
    return iso ? SR.timeNode(iso) : "never";
  }

  function copyButton(label, text) { return SR.copyButton(label, text, say); }

  function secretRow(label, text, id) { return SR.secretRow(label, text, id, say); }

  function clientConfig(token) {
    return JSON.stringify({
      mcpServers: {
        "system-reality": { type: "http", url: mcpUrl, headers: { Authorization: "Bearer " + token } }
      }
    }, null, 2);
  }

  function showCreated(created) {
    var box = document.getElementById("sr-token-created");
    SR.clear(box);
    var config = clientConfig(created.token);
    box.appendChild(el("div", { className: "sr-message sr-message--success", role: "region", "aria-labelledby": "sr-token-created-title" },
      el("div", null,
        el("h3", { id: "sr-token-created-title" }, "Token \u201c" + created.label + "\u201d is ready"),
        el("p", null, el("strong", null, "Copy it now: it is shown only once.")),
        secretRow("Token", created.token, "sr-new-token"),
        el("p", null, "Client configuration (streamable HTTP with a bearer header):"),
        el("div", { className: "sr-secret" }, el("pre", null, el("code", { id: "sr-client-config" }, config)),
          copyButton("client configuration", config)))));
    box.hidden = false;
    box.focus();
    SR.sizeToParent();
  }

  function revoke(token) {
    if (!window.confirm("Revoke \u201c" + token.label + "\u201d? Assistants using it stop working at once.")) { return; }
    SR.api("/api/mcp/tokens/" + encodeURIComponent(token.id), { method: "DELETE", raw: true })
      .then(function () { say("Token \u201c" + token.label + "\u201d revoked."); return load(); })
      .catch(function (error) { say("Not revoked: " + error.message); });
  }

  function load() {
    var box = document.getElementById("sr-tokens");
    return SR.api("/api/mcp/tokens").then(function (answer) {
      SR.clear(box);
      if (!answer.tokens.length) {
        box.appendChild(el("p", { className: "sr-subtle", id: "sr-no-tokens" }, "You have no tokens yet."));
      } else {
        var body = el("tbody");
        answer.tokens.forEach(function (token) {
          body.appendChild(el("tr", { "data-token-id": String(token.id) },
            el("td", null, el("strong", null, token.label)), el("td", null, when(token.created)),
            el("td", null, when(token.last_used)),
            el("td", null, el("button", { type: "button", className: "sr-button sr-button--danger",
              "aria-label": "Revoke " + token.label, onclick: function () { revoke(token); } }, "Revoke"))));
        });
        box.appendChild(el("table", { className: "sr-table", id: "sr-token-table" },
          el("caption", { className: "sr-visually-hidden" }, "Your tokens"),
          el("thead", null, el("tr", null, el("th", { scope: "col" }, "Name"), el("th", { scope: "col" }, "Made"),
            el("th", { scope: "col" }, "Last used"), el("th", { scope: "col" }, el("span", { className: "sr-visually-hidden" }, "Revoke")))),
          body));
      }
      SR.sizeToParent();
    }).catch(function (error) {
      SR.clear(box);
      box.appendChild(el("div", { className: "sr-message sr-message--danger", role: "alert" }, el("p", null, error.message)));
    });
  }

  document.getElementById("sr-token-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var label = document.getElementById("sr-token-label").value.trim();
    if (!label) { say("Give the token a name, such as the assistant or computer it is for."); return; }
    say("Making a token…");
    SR.api("/api/mcp/tokens", { method: "POST", body: { label: label } })
      .then(function (created) {
        document.getElementById("sr-token-label").value = "";
        say("Token made. Copy it now: it is shown only once.");
        showCreated(created);
        return load();
      })
      .catch(function (error) { say("No token made: " + error.message); });
  });

  load();
})();
