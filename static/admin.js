/* The admin page: repositories, policy, deliveries, parked jobs, audit log and dry run, all
   through the admin JSON API with the signed-in admin's context JWT. */
(function () {
  "use strict";
  var SR = window.SR;
  var el = SR.el;
  var status = document.getElementById("sr-admin-status");
  var POLICIES = [["observe", "Observe"], ["comment", "Comment"], ["reopen", "Reopen"]];
  var GITHUB_EVENTS = ["push", "pull_request", "deployment", "deployment_status", "release"];
  // What the connection form asks for each host, and where its webhook settings live there.
  var HOSTS = {
    github: { label: "GitHub API address", api: "https://api.github.com", placeholder: "owner/name",
      pattern: "[A-Za-z0-9_.\\-]+/[A-Za-z0-9_.\\-]+", title: "owner/name, as in the GitHub address",
      where: "In GitHub, open the repository's Settings → Webhooks → Add webhook, and use:" },
    gitlab: { label: "GitLab API address", api: "https://gitlab.com/api/v4", placeholder: "group/subgroup/project",
      pattern: "[A-Za-z0-9_.\\-]+(/[A-Za-z0-9_.\\-]+)+", title: "the project's full path, as in the GitLab address",
      where: "In GitLab, open the project's Settings → Webhooks → Add new webhook, and use:" },
    bitbucket: { label: "Bitbucket API address", api: "https://api.bitbucket.org/2.0", placeholder: "workspace/repo_slug",
      pattern: "[A-Za-z0-9_.\\-]+/[A-Za-z0-9_.\\-]+", title: "workspace/repo_slug, as in the Bitbucket address",
      where: "In Bitbucket, open the repository's Repository settings → Webhooks → Add webhook, and use:" }
  };
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
      if (progress.state === "waiting" && progress.note) {
        cell.appendChild(el("div", { className: "sr-subtlest" }, progress.note + "; it goes on by itself."));
      }
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
      fillFlagConnections(connections);
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

  function webhookSettings(provider, created) {
    var settings = created[provider + "_settings"] || {};
    if (provider === "gitlab") {
      return el("dl", { className: "sr-compare" },
        el("dt", null, "URL"), el("dd", null, el("code", null, settings.url || created.webhook_url)),
        el("dt", null, "Secret token"), el("dd", null, "the webhook secret above"),
        el("dt", null, "Trigger"), el("dd", null, (settings.trigger || []).join(", ")),
        el("dt", null, "SSL verification"), el("dd", null, "Enable SSL verification"));
    }
    if (provider === "bitbucket") {
      return el("dl", { className: "sr-compare" },
        el("dt", null, "URL"), el("dd", null, el("code", null, settings.url || created.webhook_url)),
        el("dt", null, "Secret"), el("dd", null, "the webhook secret above"),
        el("dt", null, "Status"), el("dd", null, "Active"),
        el("dt", null, "Triggers"), el("dd", null, "Choose from a full list of triggers: ", (settings.triggers || []).join(", ")));
    }
    return el("dl", { className: "sr-compare" },
      el("dt", null, "Payload URL"), el("dd", null, el("code", null, settings.payload_url || created.webhook_url)),
      el("dt", null, "Content type"), el("dd", null, el("code", null, settings.content_type || "application/json")),
      el("dt", null, "Secret"), el("dd", null, "the webhook secret above"),
      el("dt", null, "SSL verification"), el("dd", null, "Enable"),
      el("dt", null, "Events"), el("dd", null, "Let me select individual events: ",
        el("code", null, (settings.events || GITHUB_EVENTS).join(", "))));
  }

  function showCreated(created, repository, provider) {
    var box = document.getElementById("sr-created");
    SR.clear(box);
    var list = webhookSettings(provider, created);
    box.appendChild(el("div", { className: "sr-message sr-message--success", role: "region", "aria-labelledby": "sr-created-title" },
      el("div", null,
        el("h3", { id: "sr-created-title" }, repository + " is connected"),
        el("p", null, el("strong", null, "Copy these now: the secret and the deploy token are shown only once.")),
        secretRow("Webhook URL", created.webhook_url, "sr-new-webhook-url"),
        secretRow("Webhook secret", created.webhook_secret, "sr-new-webhook-secret"),
        secretRow("Deploy token", created.deploy_token, "sr-new-deploy-token"),
        el("p", null, HOSTS[provider].where),
        list,
        created.deployments_url ? el("p", { className: "sr-help" }, "CI/CD tools without GitHub deployments can report to ",
          el("code", null, created.deployments_url), " with the header ", el("code", null, "Authorization: Bearer <deploy token>"), ".") : null)));
    box.hidden = false;
    box.focus();
  }

  /* owner/name from a pasted web or clone address (GitHub, GitLab's group/sub/name, Bitbucket),
     the same rule as the server's repository_path. */
  function repositoryPath(text, provider) {
    var value = text.trim();
    var match = /^(?:https?:\/\/(?:[^@\/]+@)?([^\/]+)\/|ssh:\/\/git@([^\/]+)\/|git@([^:]+):)([^?#]+)/.exec(value);
    if (!match) { return value.replace(/\.git$/, ""); }
    var host = (match[1] || match[2] || match[3] || "").toLowerCase();
    var parts = match[4].split("/-/")[0].split("/").filter(Boolean);
    if (provider !== "gitlab" && host.indexOf("gitlab") < 0) { parts = parts.slice(0, 2); }
    return parts.join("/").replace(/\.git$/, "");
  }

  var repositoryInput = document.getElementById("sr-repository");
  repositoryInput.addEventListener("input", function () {
    var pasted = repositoryInput.value.trim();
    var path = repositoryPath(pasted, document.getElementById("sr-provider").value);
    if (path && path !== pasted) {
      repositoryInput.value = path;
      document.getElementById("sr-repository-filled").textContent = "Filled in " + path + " from the address you pasted.";
    }
  });

  function showHost(provider) {
    var form = document.getElementById("sr-connection-form"), host = HOSTS[provider];
    var defaults = Object.keys(HOSTS).map(function (name) { return HOSTS[name].api; });
    document.getElementById("sr-api-url-label").textContent = host.label;
    if (!form.api_url.value || defaults.indexOf(form.api_url.value.trim()) >= 0) { form.api_url.value = host.api; }
    form.repository.placeholder = host.placeholder;
    form.repository.title = host.title;
  }

  document.getElementById("sr-provider").addEventListener("change", function (event) {
    showHost(event.currentTarget.value);
  });

  document.getElementById("sr-connection-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var form = event.currentTarget;
    var repository = repositoryPath(form.repository.value);
    var provider = form.provider.value;
    var body = { provider: provider, repository: repository, api_url: form.api_url.value.trim() };
    if (form.token.value) { body.token = form.token.value; }
    say("Connecting " + repository + "…");
    SR.api("/api/connections", { method: "POST", body: body }).then(function (created) {
      form.reset();
      document.getElementById("sr-repository-filled").textContent = "";
      showHost("github");
      showCreated(created, repository, provider);
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

  // Jira's own lists, asked once per page view.
  var asked = {};
  function fromJira(path) {
    if (!asked[path]) { asked[path] = SR.api(path); }
    return asked[path];
  }

  function option(value, text, selected) { return el("option", { value: value, selected: !!selected }, text); }

  function projectOptions(select, chosen) {
    return fromJira("/api/jira/projects").then(function (projects) {
      var known = false;
      projects.forEach(function (p) {
        known = known || p.key === chosen;
        select.appendChild(option(p.key, p.name + " (" + p.key + ")", p.key === chosen));
      });
      if (chosen && !known) { select.appendChild(option(chosen, chosen + " (not found in Jira)", true)); }
    }).catch(function (error) {
      if (chosen) { select.appendChild(option(chosen, chosen, true)); }
      say("Jira's project list could not be loaded: " + error.message);
    });
  }

  /* "Reopen to" and "Counts as Done" for one project, from its statuses in Jira. */
  function fillStatuses(row, key, policy) {
    var reopen = row.querySelector(".sr-reopen-to");
    var done = row.querySelector(".sr-done-statuses");
    SR.clear(reopen);
    SR.clear(done);
    reopen.appendChild(option("", "First status that is not Done", !policy.reopen_to));
    if (!key) { return Promise.resolve(); }
    return fromJira("/api/jira/projects/" + encodeURIComponent(key) + "/statuses").then(function (statuses) {
      var chosen = policy.done_statuses && policy.done_statuses.length ? policy.done_statuses : null;
      row.defaultDone = statuses.filter(function (s) { return s.done; }).map(function (s) { return s.name; });
      statuses.forEach(function (s) {
        var counts = chosen ? chosen.indexOf(s.name) >= 0 : s.done;
        if (!counts) { reopen.appendChild(option(s.name, s.name, policy.reopen_to === s.name)); }
        done.appendChild(el("label", { className: "sr-check" },
          el("input", { type: "checkbox", value: s.name, checked: counts, "aria-label": s.name + " counts as Done in " + key }), s.name));
      });
      if (policy.reopen_to && !reopen.querySelector("option:checked")) {
        reopen.appendChild(option(policy.reopen_to, policy.reopen_to, true));
      }
      SR.sizeToParent();
    }).catch(function (error) { done.appendChild(el("span", { className: "sr-help" }, error.message)); });
  }

  function projectRow(key, policy) {
    policy = policy || {};
    var project = el("select", { className: "sr-select sr-project-key", "aria-label": "Project", required: true },
      option("", "Choose a project", !key));
    var row = el("tr", { className: "sr-project-row" },
      el("td", null, project),
      el("td", null, policySelect(policy.policy || "comment", "Policy")),
      el("td", null, el("select", { className: "sr-select sr-reopen-to", "aria-label": "Reopen to status" })),
      el("td", null, el("div", { className: "sr-done-statuses", role: "group", "aria-label": "Statuses that count as Done" })),
      el("td", null, el("button", { type: "button", className: "sr-button sr-button--subtle", "aria-label": "Remove this project",
        onclick: function () { row.remove(); SR.sizeToParent(); } }, "Remove")));
    projectOptions(project, key);
    project.addEventListener("change", function () { fillStatuses(row, project.value, {}); });
    fillStatuses(row, key, policy);
    return row;
  }

  function ownerOptions(chosen) {
    var select = document.getElementById("sr-owner-field");
    SR.clear(select);
    select.appendChild(option("", "No business-owner field", !chosen));
    return fromJira("/api/jira/people-fields").then(function (fields) {
      var known = false;
      fields.forEach(function (f) {
        known = known || f.id === chosen;
        select.appendChild(option(f.id, f.name, f.id === chosen));
      });
      if (chosen && !known) { select.appendChild(option(chosen, chosen + " (not found in Jira)", true)); }
    }).catch(function (error) {
      if (chosen) { select.appendChild(option(chosen, chosen, true)); }
      say("Jira's field list could not be loaded: " + error.message);
    });
  }

  function loadSettings() {
    return SR.api("/api/settings").then(function (settings) {
      document.getElementById("sr-default-policy").value = settings.default_policy || "comment";
      ownerOptions(settings.business_owner_field || "");
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
    row.querySelector("select").focus();
    SR.sizeToParent();
  });

  /* The settings as the form shows them, saved or not. */
  function formSettings() {
    var projects = {};
    document.querySelectorAll("#sr-projects tbody tr").forEach(function (row) {
      var key = row.querySelector(".sr-project-key").value;
      if (!key) { return; }
      projects[key] = { policy: row.querySelectorAll("select")[1].value };
      var reopen = row.querySelector(".sr-reopen-to").value;
      if (reopen) { projects[key].reopen_to = reopen; }
      var done = [];
      row.querySelectorAll(".sr-done-statuses input:checked").forEach(function (box) { done.push(box.value); });
      var byDefault = (row.defaultDone || []).slice().sort().join("\n") === done.slice().sort().join("\n");
      if (done.length && !byDefault) { projects[key].done_statuses = done; }
    });
    var body = { default_policy: document.getElementById("sr-default-policy").value, projects: projects };
    var owner = document.getElementById("sr-owner-field").value;
    if (owner) { body.business_owner_field = owner; }
    var envs = document.getElementById("sr-prod-envs").value.split(",").map(function (s) { return s.trim(); }).filter(Boolean);
    if (envs.length) { body.production_environments = envs; }
    body.mcp_enabled = document.getElementById("sr-mcp-enabled").checked;
    return body;
  }

  document.getElementById("sr-settings-form").addEventListener("submit", function (event) {
    event.preventDefault();
    say("Saving the policy…");
    SR.api("/api/settings", { method: "PUT", body: formSettings() })
      .then(function () { say("Policy saved. Issues already in drift are being brought in line with it."); return loadSettings(); })
      .catch(function (error) { say("Not saved: " + error.message); });
  });

  // ---- feature flags -----------------------------------------------------------------------

  var flagConnections = [];
  var FLAG_DOCS = {
    launchdarkly: "https://docs.launchdarkly.com/home/connecting/webhooks",
    unleash: "https://docs.getunleash.io/reference/integrations/webhook",
    generic: null
  };

  function fillFlagConnections(connections) {
    flagConnections = connections;
    var select = document.getElementById("sr-flag-connection");
    var chosen = select.value;
    SR.clear(select);
    connections.forEach(function (c) { select.appendChild(option(c.id, c.repository, c.id === chosen)); });
    document.getElementById("sr-flag-test").disabled = !connections.length;
    showFlagSteps();
  }

  function flagUrl() {
    var id = document.getElementById("sr-flag-connection").value;
    var vendor = document.getElementById("sr-flag-vendor").value;
    var base = document.getElementById("sr-admin").getAttribute("data-app-base-url");
    return base + "/flags/" + vendor + "/" + id;
  }

  function showFlagSteps() {
    var box = document.getElementById("sr-flag-steps");
    SR.clear(box);
    if (!flagConnections.length) {
      box.appendChild(el("p", { className: "sr-subtle" }, "Connect a repository first: flag changes arrive through its connection."));
      SR.sizeToParent();
      return;
    }
    var vendor = document.getElementById("sr-flag-vendor").value;
    var url = flagUrl();
    var urlRow = secretRow("Webhook URL", url, "sr-flag-url");
    var steps = {
      launchdarkly: [
        "In LaunchDarkly, open Integrations, find Webhooks and choose Add integration.",
        urlRow,
        "Turn on Sign this webhook and use the webhook secret shown when this repository was connected.",
        "Under Policy, choose Add statement and limit it to flag changes (resource proj/*:env/*:flag/*), then save.",
        "Come back here and send a test delivery."
      ],
      unleash: [
        "In Unleash, open Integrations, choose Webhook and Configure.",
        urlRow,
        "Put the webhook secret shown when this repository was connected into Authorization.",
        "Choose the events feature-environment-enabled and feature-environment-disabled, then save.",
        "Come back here and send a test delivery."
      ],
      generic: [
        "Send each flag change as a POST request to:",
        urlRow,
        el("span", null, "with the header ", el("code", null, "Authorization: Bearer <deploy token>"),
          " (the deploy token shown when this repository was connected) and a JSON body such as ",
          el("code", null, '{"key": "feat-304-retry", "name": "Payment retry", "environment": "production", "on": false}'), "."),
        "Send the same X-Delivery-Id header again when you retry one change."
      ]
    }[vendor];
    var list = el("ol", { className: "sr-steps" });
    steps.forEach(function (step) { list.appendChild(el("li", null, step)); });
    box.appendChild(list);
    box.appendChild(el("p", { className: "sr-help" },
      "A flag is linked to an issue when its key, name, description or tags name the issue key (feat-304-retry), or when someone links it on the issue's panel. ",
      FLAG_DOCS[vendor] ? el("a", { href: FLAG_DOCS[vendor], target: "_blank", rel: "noopener noreferrer" },
        (vendor === "launchdarkly" ? "LaunchDarkly" : "Unleash") + "'s guide to webhooks") : null));
    SR.sizeToParent();
  }

  document.getElementById("sr-flag-connection").addEventListener("change", showFlagSteps);
  document.getElementById("sr-flag-vendor").addEventListener("change", showFlagSteps);
  document.getElementById("sr-flag-test").addEventListener("click", function () {
    var id = document.getElementById("sr-flag-connection").value;
    var vendor = document.getElementById("sr-flag-vendor").value;
    var result = document.getElementById("sr-flag-test-result");
    result.textContent = "Sending a test delivery…";
    SR.api("/api/connections/" + encodeURIComponent(id) + "/test-delivery", { method: "POST", body: { provider: vendor } })
      .then(function (answer) {
        SR.clear(result);
        result.appendChild(el("div", { className: "sr-message sr-message--" + (answer.reached ? "success" : "danger") },
          el("p", null, answer.message)));
        SR.sizeToParent();
      })
      .catch(function (error) { result.textContent = "The test could not be sent: " + error.message; });
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

  function showPlan(plan) {
    var heading = plan.preview ? "Under the policy above, not saved yet:" : "Under the saved policy:";
    if (!plan.issues.length) {
      fill("sr-dry-run", el("p", { className: "sr-subtle" }, "No issue has linked code yet."));
      return;
    }
    var box = el("div", null, el("p", { className: "sr-help" }, heading),
      table("Dry run", ["Issue", "Reality", "Policy", "What System Reality would do"],
        plan.issues.map(function (p) {
          var calls = el("ul", { className: "sr-events" });
          (p.calls.length ? p.calls : ["Nothing: Jira is up to date"]).forEach(function (c) { calls.appendChild(el("li", null, c)); });
          return [p.issue, SR.stateLozenge(p.drift, p.drift), p.policy, calls];
        })));
    fill("sr-dry-run", box);
  }

  var dryProject = document.getElementById("sr-dry-project");
  var dryEpic = document.getElementById("sr-dry-epic");

  /* The project's epics from Jira, to narrow the dry run to one epic's features. */
  dryProject.addEventListener("change", function () {
    SR.clear(dryEpic);
    dryEpic.appendChild(option("", "All epics", true));
    dryEpic.disabled = !dryProject.value;
    if (!dryProject.value) { return; }
    fromJira("/api/jira/epics?project=" + encodeURIComponent(dryProject.value)).then(function (epics) {
      epics.forEach(function (e) { dryEpic.appendChild(option(e.key, e.summary + " (" + e.key + ")", false)); });
    }).catch(function (error) { say("Jira's epics could not be loaded: " + error.message); });
  });

  document.getElementById("sr-dry-run-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var params = new URLSearchParams();
    if (dryProject.value) { params.set("project", dryProject.value); }
    if (dryEpic.value) { params.set("epic", dryEpic.value); }
    var query = params.toString();
    SR.api("/api/dry-run" + (query ? "?" + query : "")).then(showPlan).catch(failed("sr-dry-run"));
  });

  document.getElementById("sr-dry-preview").addEventListener("click", function () {
    SR.api("/api/dry-run", { method: "POST", body: { project: dryProject.value || null, epic: dryEpic.value || null,
      settings: formSettings() } }).then(showPlan).catch(failed("sr-dry-run"));
  });

  projectOptions(document.getElementById("sr-dry-project"), "");

  SR.sizeToParent();
  Promise.all([loadConnections(), loadSettings(), loadDeliveries(), loadJobs(), loadAudit()]).then(function () {
    SR.sizeToParent();
  });
})();
