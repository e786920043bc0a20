/* The drift report page: filters -> GET /api/report (context JWT) -> epics with their features. */
(function () {
  "use strict";
  var SR = window.SR;
  var el = SR.el;
  var form = document.getElementById("sr-report-form");
  var windowSelect = document.getElementById("sr-window");
  var status = document.getElementById("sr-report-status");
  var results = document.getElementById("sr-results");
  var KIND_WORDS = {
    "deployment": "Deployed", "revert": "Reverted", "rollback": "Rolled back", "flag": "Feature flag changed",
    "commit": "Code change", "pull-request": "Pull request merged", "hotfix": "Hotfix",
    "unconfirmed-revert": "Possibly reverted, not confirmed", "config": "Configuration changed"
  };
  var WINDOW_WORDS = { "24h": "the last 24 hours", "48h": "the last 48 hours", "72h": "the last 72 hours", "7d": "the last 7 days" };

  function value(id) { return document.getElementById(id).value.trim(); }

  function query() {
    var params = new URLSearchParams();
    if (windowSelect.value === "custom") {
      // datetime-local has no zone: the viewer typed it in their own Jira time zone.
      var from = SR.wallTimeToIso(value("sr-from"));
      var to = SR.wallTimeToIso(value("sr-to"));
      if (!from) { throw new Error("Choose when the custom range starts."); }
      params.set("since", from);
      if (to) { params.set("until", to); }
    } else {
      params.set("since", windowSelect.value);
    }
    var project = value("sr-project").toUpperCase();
    var epic = value("sr-epic").toUpperCase();
    if (project) { params.set("project", project); }
    if (epic) { params.set("epic", epic); }
    if (value("sr-state")) { params.set("state", value("sr-state")); }
    params.set("epics", document.getElementById("sr-active").checked ? "active" : "all");
    return params;
  }

  function windowWords() {
    if (windowSelect.value !== "custom") { return WINDOW_WORDS[windowSelect.value] || windowSelect.value; }
    return "the chosen range";
  }

  function eventLine(event) {
    var kind = KIND_WORDS[event.kind] || event.kind;
    if (event.environment) { kind += (event.kind === "deployment" ? " to " : " in ") + event.environment; }
    var item = el("li", null,
      SR.timeNode(event.when, event.when_text),
      " · ", kind);
    if (event.short) {
      var url = SR.safeUrl(event.url);
      item.appendChild(document.createTextNode(" · "));
      item.appendChild(url ? el("a", { href: url, target: "_blank", rel: "noopener noreferrer", className: "sr-sha" }, event.short)
        : el("code", { className: "sr-sha" }, event.short));
    }
    var record = event.kind === "config" && !event.short ? SR.safeUrl(event.url) : null;
    if (record) {
      item.appendChild(document.createTextNode(" · "));
      item.appendChild(el("a", { href: record, target: "_blank", rel: "noopener noreferrer" }, "Change record"));
    }
    // What the event meant for the feature ("The revert went live in production").
    if (event.title) {
      item.appendChild(el("div", { className: "sr-subtlest" }, event.title));
    }
    return item;
  }

  function featureRow(feature) {
    var link = el("a", { href: SR.hostBaseUrl() + "/browse/" + encodeURIComponent(feature.key), target: "_top" }, feature.key);
    var events = el("ul", { className: "sr-events" });
    feature.events.forEach(function (event) { events.appendChild(eventLine(event)); });
    return el("tr", { "data-issue": feature.key },
      el("td", null, link, el("div", null, feature.summary)),
      el("td", null, SR.statusLozenge(feature.status)),
      el("td", null, SR.stateLozenge(feature.drift, feature.label), el("div", { className: "sr-subtlest" }, feature.headline)),
      el("td", null, events));
  }

  // Features in drift first (they are why people open the report), then in key order.
  function byDriftThenKey(a, b) {
    if (a.in_drift !== b.in_drift) { return a.in_drift ? -1 : 1; }
    var pa = a.key.split("-"), pb = b.key.split("-");
    return pa[0] === pb[0] ? Number(pa[1]) - Number(pb[1]) : (pa[0] < pb[0] ? -1 : 1);
  }

  function epicSection(group, index) {
    var id = "sr-epic-" + index;
    var epic = group.epic;
    var heading = epic
      ? el("h2", { id: id }, el("a", { href: SR.hostBaseUrl() + "/browse/" + encodeURIComponent(epic.key), target: "_top" }, epic.key),
        " ", epic.summary || "")
      : el("h2", { id: id }, "Not in an epic");
    var head = el("div", { className: "sr-epic__head" }, heading);
    if (epic) {
      head.appendChild(el("span", { className: "sr-subtlest" }, "Epic status"));
      head.appendChild(SR.statusLozenge(epic.status));
    }
    // What the epic's own panel says: how many of its features are no longer fully live.
    var rollup = epic && epic.rollup
      ? el("p", { className: "sr-epic__rollup" }, SR.stateLozenge(epic.rollup.drift, epic.rollup.label), " ",
        epic.rollup.text)
      : null;
    var body = el("tbody");
    group.features.slice().sort(byDriftThenKey).forEach(function (feature) { body.appendChild(featureRow(feature)); });
    var table = el("table", { className: "sr-table" },
      el("thead", null, el("tr", null,
        el("th", { scope: "col" }, "Feature"), el("th", { scope: "col" }, "Jira status"),
        el("th", { scope: "col" }, "Reality"), el("th", { scope: "col" }, "What happened in the window"))),
      body);
    return el("section", { className: "sr-epic sr-card", "aria-labelledby": id }, head, rollup, table);
  }

  function render(report) {
    SR.clear(results);
    if (!report.groups.length) {
      results.appendChild(el("div", { className: "sr-card" },
        el("h2", null, "Nothing happened in " + windowWords()),
        el("p", { className: "sr-subtle" },
          "No deployments, reverts, rollbacks or flag changes touched features" +
          (document.getElementById("sr-active").checked ? " under active epics" : "") + " in this window. " +
          "Try a longer window or include done epics.")));
    } else {
      report.groups.forEach(function (group, index) { results.appendChild(epicSection(group, index)); });
    }
    var n = report.total;
    status.textContent = n + (n === 1 ? " feature" : " features") + " touched in " + windowWords() + ".";
    SR.sizeToParent();
  }

  var latest = 0;

  function load() {
    var params;
    try { params = query(); } catch (error) { status.textContent = error.message; return; }
    status.textContent = "Loading the report…";
    results.setAttribute("aria-busy", "true");
    // Only the newest request may paint: an older, slower answer must not overwrite it.
    var mine = ++latest;
    SR.api("/api/report?" + params.toString()).then(function (report) {
      if (mine === latest) { render(report); }
    }).catch(function (error) {
      if (mine !== latest) { return; }
      SR.clear(results);
      results.appendChild(el("div", { className: "sr-message sr-message--danger", role: "alert" },
        el("div", null, el("h2", null, "The report could not be loaded"), el("p", null, error.message))));
      status.textContent = "";
    }).then(function () { if (mine === latest) { results.removeAttribute("aria-busy"); } });
  }

  function exportCsv() {
    var params;
    try { params = query(); } catch (error) { status.textContent = error.message; return; }
    params.set("format", "csv");
    params.set("tz", SR.viewer.zone);
    status.textContent = "Preparing the CSV…";
    SR.api("/api/report?" + params.toString(), { raw: true, accept: "text/csv" }).then(function (response) {
      return response.blob();
    }).then(function (blob) {
      var url = URL.createObjectURL(blob);
      var link = el("a", { href: url, download: "system-reality-report.csv" });
      document.body.appendChild(link);
      link.click();
      link.remove();
      setTimeout(function () { URL.revokeObjectURL(url); }, 10000);
      status.textContent = "CSV downloaded.";
    }).catch(function (error) { status.textContent = error.message; });
  }

  windowSelect.addEventListener("change", function () {
    var custom = windowSelect.value === "custom";
    document.getElementById("sr-custom-from").hidden = !custom;
    document.getElementById("sr-custom-to").hidden = !custom;
    if (!custom) { load(); } else { document.getElementById("sr-from").focus(); }
  });
  form.addEventListener("submit", function (event) { event.preventDefault(); load(); });
  document.getElementById("sr-csv").addEventListener("click", exportCsv);
  SR.sizeToParent();
  SR.viewerReady.then(function (viewer) {
    var zones = document.querySelectorAll(".sr-viewer-zone");
    for (var i = 0; i < zones.length; i++) { zones[i].textContent = viewer.zone; }
    load();
  });
})();
