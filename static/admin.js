/* The admin page: repositories, policy, deliveries, parked jobs, audit log and dry run, all
   through the admin JSON API with the signed-in admin's context JWT. */
(function () {
  "use strict";
  var SR = window.SR;
  var el = SR.el;
  var status = document.getElementById("sr-admin-status");
  var POLICIES = [["observe", "Observe"], ["comment", "Comment"], ["reopen", "Reopen"]];
  var GITHUB_EVENTS = ["push", "pull_request", "deployment", "deployment_status", "release"];
  var backfillTimers = {};

  function say(text) { status.textContent = text; }

  function when(iso) {
    if (!iso) { return el("span", { className: "sr-subtlest" }, "never"); }
    return SR.timeNode(iso);
  }

  function table(caption, headers, rows) {
    var head = el("tr");
    // A column of buttons still names itself to screen readers (axe: empty-table-header).
    headers.forEach(function (h) {
      head.appendChild(el("th", { scope: "col" }, h || el("span", { className: "sr-visually-hidden" }, "Actions")));
    });
    var body = el("tbody");
    rows.forEach(function (cells) {
      var tr = el("tr");
      cells.forEach(function (cell) {
        tr.appendChild(el("td", null, cell === null || cell === undefined ? "" : (typeof cell === "object" ? cell : String(cell))));
      });
      body.appendChild(tr);
    });
    return el("table", { className: "sr-table" }, el("caption", { className: "sr-visually-hidden" }, caption),
      el("thead", null, head), body);
  }

  function fill(id, content) {
    var node = document.getElementById(id);
    SR.clear(node);
    node.appendChild(content);
    SR.sizeToParent();
  }

  function failed(id) {
    return function (error) {
      fill(id, el("div", { className: "sr-message sr-message--danger", role: "alert" }, el("p", null, error.message)));
    };
  }

  function secretRow(label, text, id) { return SR.secretRow(label, text, id, say); }

  // ---- repositories ------------------------------------------------------------------------

  function backfillCell(connection) {
    var progress = connection.backfill;
    var cell = el("div", { "aria-live": "polite" });
    if (progress && progress.state && progress.state !== "done" && progress.state !== "failed") {
      var total = progress.total || 0;
      var doneCount = progress.recorded || 0;
      var bar = el("progress", { className: "sr-progress", max: total || 1, value: total ? doneCount : 0,
        "aria-label": "Backfill of " + connection.repository });
      if (!total) { bar.removeAttribute("value"); }
      cell.appendChild(bar);
      cell.appendChild(el("div", { className: "sr-subtlest" },
        progress.state + (progress.read ? ", " + progress.read + " commits read" : "") + (total ? ", " + doneCount + " of " + total + " recorded" : "")));
      watchBackfill(connection.id);
    } else {
      if (progress && progress.state) {
        cell.appendChild(el("div", { className: "sr-subtlest" }, progress.state === "done"
          ? "History read" + (progress.recorded !== undefined ? ": " + progress.recorded + " commits" : "")
          : "Backfill failed: " + (progress.note || "see parked jobs")));
      }
      cell.appendChild(el("button", { type: "button", className: "sr-button", onclick: function () { startBackfill(connection); } },
        "Backfill history"));
    }
    return cell;
  }

  function watchBackfill(id) {
    if (backfillTimers[id]) { return; }
    backfillTimers[id] = setTimeout(function () {
      delete backfillTimers[id];
      loadConnections();
    }, 1500);
  }

  function startBackfill(connection) {
    say("Starting the backfill of " + connection.repository + "…");
    SR.api("/api/connections/" + encodeURIComponent(connection.id) + "/backfill", { method: "POST", body: {} })
      .then(function () { say("Backfill of " + connection.repository + " queued."); loadConnections(); })
      .catch(function (error) { say(error.message); });
  }

  function deleteConnection(connection) {
    if (!window.confirm("Disconnect " + connection.repository + "? Its history stays; new events are ignored.")) { return; }
    SR.api("/api/connections/" + encodeURIComponent(connection.id), { method: "DELETE", raw: true })
      .then(function () { say(connection.repository + " disconnected."); loadConnections(); })
      .catch(function (error) { say(error.message); });
  }

  function loadConnections() {
    return SR.api("/api/connections").then(function (connections) {
      if (!connections.length) {
        fill("sr-connections", el("p", { className: "sr-subtle" },
          "No repository is connected yet. Connect one below, then add the webhook in GitHub."));
        return;
      }
      fill("sr-connections", table("Connected repositories",
        ["Repository", "Webhook URL", "Connected", "Last delivery", "History", ""],
        connections.map(function (c) {
          return [el("strong", null, c.repository), el("code", null, c.webhook_url), when(c.created), when(c.last_delivery),
            backfillCell(c),
            el("button", { type: "button", className: "sr-button sr-button--danger", "aria-label": "Disconnect " + c.repository,
              onclick: function () { deleteConnection(c); } }, "Disconnect")];
        })));
    }).catch(failed("sr-connections"));
  }

  function showCreated(created, repository) {
    var box = document.getElementById("sr-created");
    SR.clear(box);
    var settings = created.github_settings || {};
    var list = el("dl", { className: "sr-compare" },
      el("dt", null, "Payload URL"), el("dd", null, el("code", null, settings.payload_url || created.webhook_url)),
      el("dt", null, "Content type"), el("dd", null, el("code", null, settings.content_type || "application/json")),
      el("dt", null, "Secret"), el("dd", null, "the webhook secret above"),
      el("dt", null, "SSL verification"), el("dd", null, "Enable"),
      el("dt", null, "Events"), el("dd", null, "Let me select individual events: ",
        el("code", null, (settings.events || GITHUB_EVENTS).join(", "))));
    box.appendChild(el("div", { className: "sr-message sr-message--success", role: "region", "aria-labelledby": "sr-created-title" },
      el("div", null,
        el("h3", { id: "sr-created-title" }, repository + " is connected"),
        el("p", null, el("strong", null, "Copy these now: the secret and the deploy token are shown only once.")),
        secretRow("Webhook URL", created.webhook_url, "sr-new-webhook-url"),
        secretRow("Webhook secret", created.webhook_secret, "sr-new-webhook-secret"),
        secretRow("Deploy token", created.deploy_token, "sr-new-deploy-token"),
        el("p", null, "In GitHub, open the repository's Settings → Webhooks → Add webhook, and use:"),
        list,
        created.deployments_url ? el("p", { className: "sr-help" }, "CI/CD tools without GitHub deployments can report to ",
          el("code", null, created.deployments_url), " with the header ", el("code", null, "Authorization: Bearer <deploy token>"), ".") : null)));
    box.hidden = false;
    box.focus();
  }

  document.getElementById("sr-connection-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var form = event.currentTarget;
    var repository = form.repository.value.trim();
    var body = { provider: "github", repository: repository, api_url: form.api_url.value.trim() };
    if (form.token.value) { body.token = form.token.value; }
    var envs = form.production_environments.value.split(",").map(function (s) { return s.trim(); }).filter(Boolean);
    if (envs.length) { body.production_environments = envs; }
    say("Connecting " + repository + "…");
    SR.api("/api/connections", { method: "POST", body: body }).then(function (created) {
      form.reset();
      showCreated(created, repository);
      say(repository + " connected. The secret and deploy token are shown once, below the list.");
      return loadConnections();
    }).catch(function (error) { say("Could not connect " + repository + ": " + error.message); });
  });

  // ---- policy ------------------------------------------------------------------------------

  function policySelect(value, label) {
    var select = el("select", { className: "sr-select", "aria-label": label });
    POLICIES.forEach(function (p) { select.appendChild(el("option", { value: p[0], selected: p[0] === value }, p[1])); });
    return select;
  }

  function projectRow(key, policy) {
    var keyInput = el("input", { className: "sr-input", value: key || "", size: 8, "aria-label": "Project key",
      pattern: "[A-Z][A-Z0-9_]*", required: true });
    var row = el("tr", { className: "sr-project-row" },
      el("td", null, keyInput),
      el("td", null, policySelect((policy || {}).policy || "comment", "Policy")),
      el("td", null, el("input", { className: "sr-input", value: (policy || {}).reopen_to || "", size: 14,
        placeholder: "To Do", "aria-label": "Reopen to status" })),
      el("td", null, el("button", { type: "button", className: "sr-button sr-button--subtle", "aria-label": "Remove this project",
        onclick: function () { row.remove(); SR.sizeToParent(); } }, "Remove")));
    return row;
  }

  function loadSettings() {
    return SR.api("/api/settings").then(function (settings) {
      document.getElementById("sr-default-policy").value = settings.default_policy || "comment";
      document.getElementById("sr-owner-field").value = settings.business_owner_field || "";
      document.getElementById("sr-prod-envs").value = (settings.production_environments || []).join(", ");
      document.getElementById("sr-mcp-enabled").checked = settings.mcp_enabled !== false;
      var body = document.querySelector("#sr-projects tbody");
      SR.clear(body);
      Object.keys(settings.projects || {}).sort().forEach(function (key) { body.appendChild(projectRow(key, settings.projects[key])); });
      SR.sizeToParent();
    }).catch(function (error) { say(error.message); });
  }

  document.getElementById("sr-add-project").addEventListener("click", function () {
    var row = projectRow("", null);
    document.querySelector("#sr-projects tbody").appendChild(row);
    row.querySelector("input").focus();
    SR.sizeToParent();
  });

  document.getElementById("sr-settings-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var projects = {};
    document.querySelectorAll("#sr-projects tbody tr").forEach(function (row) {
      var inputs = row.querySelectorAll("input");
      var key = inputs[0].value.trim().toUpperCase();
      if (!key) { return; }
      projects[key] = { policy: row.querySelector("select").value };
      if (inputs[1].value.trim()) { projects[key].reopen_to = inputs[1].value.trim(); }
    });
    var body = { default_policy: document.getElementById("sr-default-policy").value, projects: projects };
    var owner = document.getElementById("sr-owner-field").value.trim();
    if (owner) { body.business_owner_field = owner; }
    var envs = document.getElementById("sr-prod-envs").value.split(",").map(function (s) { return s.trim(); }).filter(Boolean);
    if (envs.length) { body.production_environments = envs; }
    body.mcp_enabled = document.getElementById("sr-mcp-enabled").checked;
    say("Saving the policy…");
    SR.api("/api/settings", { method: "PUT", body: body })
      .then(function () { say("Policy saved. Issues are being rechecked under it."); return loadSettings(); })
      .catch(function (error) { say("Not saved: " + error.message); });
  });

  // ---- deliveries, jobs, audit, dry run ------------------------------------------------------

  function retryButton(label, path, reload) {
    return el("button", { type: "button", className: "sr-button", "aria-label": label, onclick: function () {
      SR.api(path, { method: "POST", body: {} }).then(function () { say("Queued again."); reload(); })
        .catch(function (error) { say(error.message); });
    } }, "Retry");
  }

  function statusLozenge(text) {
    var look = /fail|error|rejected|parked/.test(text || "") ? "removed" : (/done|processed|ok/.test(text || "") ? "success" : "default");
    return el("span", { className: "sr-lozenge sr-lozenge--" + look }, text || "unknown");
  }

  function loadDeliveries() {
    return SR.api("/api/deliveries").then(function (rows) {
      if (!rows.length) { fill("sr-deliveries", el("p", { className: "sr-subtle" }, "Nothing received yet.")); return; }
      fill("sr-deliveries", table("Recent deliveries", ["Received", "Source", "Event", "Status", "Problem", ""],
        rows.map(function (d) {
          var failedRow = /fail|error/.test(d.status || "") && d.body_kept !== false;
          var problem = d.error || "";
          if (d.body_kept === false) { problem = (problem ? problem + " " : "") + "(raw body dropped after the retention period)"; }
          return [when(d.received), d.source, d.event, statusLozenge(d.status), problem,
            failedRow ? retryButton("Retry delivery " + d.id, "/api/deliveries/" + d.id + "/retry", loadDeliveries) : ""];
        })));
    }).catch(failed("sr-deliveries"));
  }

  function loadJobs() {
    return SR.api("/api/jobs?status=parked").then(function (rows) {
      if (!rows.length) { fill("sr-jobs", el("p", { className: "sr-subtle" }, "No parked jobs. Everything is flowing.")); return; }
      fill("sr-jobs", table("Parked jobs", ["Created", "Kind", "Attempts", "Last error", ""],
        rows.map(function (j) {
          return [when(j.created), j.kind, j.attempts, j.error || "", retryButton("Retry job " + j.id, "/api/jobs/" + j.id + "/retry", loadJobs)];
        })));
    }).catch(failed("sr-jobs"));
  }

  function loadAudit() {
    return SR.api("/api/audit").then(function (rows) {
      if (!rows.length) { fill("sr-audit", el("p", { className: "sr-subtle" }, "System Reality has not called Jira yet.")); return; }
      fill("sr-audit", table("Audit log", ["When", "Issue", "Call", "Answer", "Note"],
        rows.map(function (a) {
          return [when(a.at), a.issue || "", el("code", null, a.method + " " + a.path), a.status + " in " + a.duration_ms + " ms", a.note || ""];
        })));
    }).catch(failed("sr-audit"));
  }

  document.getElementById("sr-dry-run-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var project = document.getElementById("sr-dry-project").value.trim().toUpperCase();
    SR.api("/api/dry-run" + (project ? "?project=" + encodeURIComponent(project) : "")).then(function (plan) {
      if (!plan.issues.length) { fill("sr-dry-run", el("p", { className: "sr-subtle" }, "No issue has linked code yet.")); return; }
      fill("sr-dry-run", table("Dry run", ["Issue", "Reality", "Policy", "Jira calls it would make"],
        plan.issues.map(function (p) {
          var calls = el("ul", { className: "sr-events" });
          (p.calls.length ? p.calls : ["none: Jira is up to date"]).forEach(function (c) { calls.appendChild(el("li", null, c)); });
          return [p.issue, SR.stateLozenge(p.drift, p.drift), p.policy, calls];
        })));
    }).catch(failed("sr-dry-run"));
  });

  SR.sizeToParent();
  Promise.all([loadConnections(), loadSettings(), loadDeliveries(), loadJobs(), loadAudit()]).then(function () {
    SR.sizeToParent();
  });
})();
