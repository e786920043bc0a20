/* Shared by the System Reality iframes: talking to Jira through the Connect JS API (AP) and to
   our own API with a context JWT. Data from repositories and Jira only ever reaches the page
   through textContent and attributes, never as HTML. */
(function (global) {
  "use strict";

  var AP = global.AP;

  function resize() {
    if (AP && typeof AP.resize === "function") {
      AP.resize();
    }
  }

  function sizeToParent() {
    if (AP && typeof AP.sizeToParent === "function") {
      AP.sizeToParent();
    } else {
      resize();
    }
  }

  function initTheme() {
    if (AP && AP.theming && typeof AP.theming.initializeTheming === "function") {
      AP.theming.initializeTheming();
    }
  }

  function token() {
    return new Promise(function (resolve, reject) {
      if (!AP || !AP.context || typeof AP.context.getToken !== "function") {
        reject(new Error("Open this page from Jira: the Jira connection is missing."));
        return;
      }
      AP.context.getToken(function (jwt) {
        if (jwt) { resolve(jwt); } else { reject(new Error("Jira did not give a sign-in token; reload the page.")); }
      });
    });
  }

  function errorText(response, body) {
    if (body && body.detail) { return body.detail; }
    if (body && body.error) { return body.error; }
    return "The request failed (" + response.status + ").";
  }

  /* fetch with `Authorization: JWT <context token>`; resolves to parsed JSON (or the Response
     for non-JSON answers), rejects with an Error whose message a person can read. */
  function api(path, options) {
    options = options || {};
    return token().then(function (jwt) {
      var headers = { "Authorization": "JWT " + jwt, "Accept": options.accept || "application/json" };
      var init = { method: options.method || "GET", headers: headers };
      if (options.body !== undefined) {
        headers["Content-Type"] = "application/json";
        init.body = JSON.stringify(options.body);
      }
      return fetch(path, init);
    }).then(function (response) {
      if (options.raw && response.ok) { return response; }
      var type = response.headers.get("Content-Type") || "";
      var parsed = type.indexOf("application/json") >= 0 ? response.json() : Promise.resolve(null);
      return parsed.then(function (body) {
        if (!response.ok) { throw new Error(errorText(response, body)); }
        return body;
      });
    });
  }

  /* el("a", {href: url, className: "x"}, "text", child) builds DOM without parsing HTML. */
  function el(tag, attrs) {
    var node = document.createElement(tag);
    var key;
    attrs = attrs || {};
    for (key in attrs) {
      if (!Object.prototype.hasOwnProperty.call(attrs, key) || attrs[key] === null || attrs[key] === undefined) { continue; }
      if (key === "className") { node.className = attrs[key]; }
      else if (key === "text") { node.textContent = attrs[key]; }
      else if (key.indexOf("on") === 0 && typeof attrs[key] === "function") { node.addEventListener(key.slice(2), attrs[key]); }
      else if (typeof attrs[key] === "boolean") { if (attrs[key]) { node.setAttribute(key, ""); } }
      else { node.setAttribute(key, String(attrs[key])); }
    }
    for (var i = 2; i < arguments.length; i++) {
      var child = arguments[i];
      if (child === null || child === undefined || child === false) { continue; }
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  function safeUrl(url) {
    return typeof url === "string" && /^https?:\/\//i.test(url) ? url : null;
  }

  var STATE_APPEARANCE = {
    "live": "success", "pending-deploy": "inprogress", "reverted": "removed", "partially-reverted": "moved",
    "rolled-back": "removed", "flag-off": "removed", "hotfixed": "moved"
  };

  function stateLozenge(state, label) {
    return el("span", { className: "sr-lozenge sr-lozenge--" + (STATE_APPEARANCE[state] || "default"), "data-state": state },
      label || state);
  }

  function statusLozenge(name) {
    var lowered = String(name || "").toLowerCase();
    var look = ["done", "closed", "resolved"].indexOf(lowered) >= 0 ? "success"
      : (["in progress", "in review", "reopened"].indexOf(lowered) >= 0 ? "inprogress" : "default");
    return el("span", { className: "sr-lozenge sr-lozenge--" + look }, name || "Unknown");
  }

  function clear(node) {
    while (node.firstChild) { node.removeChild(node.firstChild); }
  }

  function hostBaseUrl() {
    return document.body.getAttribute("data-host-base-url") || "";
  }

  // A button that copies `text`, and a labelled secret shown with one: `say` announces the
  // outcome in the page's live region (admin and AI-assistants pages alike).
  function copyButton(label, text, say) {
    return el("button", {
      type: "button", className: "sr-button", "aria-label": "Copy " + label,
      onclick: function (event) {
        var button = event.currentTarget;
        var done = function () { button.textContent = "Copied"; say(label + " copied."); };
        if (navigator.clipboard && navigator.clipboard.writeText) {
          navigator.clipboard.writeText(text).then(done, function () { say("Select the " + label + " and copy it."); });
        } else {
          say("Select the " + label + " and copy it.");
        }
      }
    }, "Copy");
  }

  function secretRow(label, text, id, say) {
    return el("div", null, el("span", { className: "sr-label", id: id + "-label" }, label),
      el("div", { className: "sr-secret" }, el("code", { id: id, "aria-labelledby": id + "-label" }, text),
        copyButton(label, text, say)));
  }

  /* ---- Times, in the viewer's Jira time zone and locale (each rule once, here) ----
     Jira's Connect JS API gives the signed-in user's zone and locale (AP.user.getTimeZone /
     getLocale; the old `tz` / `loc` iframe parameters went with the GDPR migration, so they are
     read only when a host still sends them). The browser's own zone is the last resort. */
  var query = new URLSearchParams(global.location.search);
  var viewer = {
    zone: query.get("tz") || (global.Intl ? Intl.DateTimeFormat().resolvedOptions().timeZone : "UTC"),
    locale: query.get("loc") ? query.get("loc").replace("_", "-") : (navigator.language || "en")
  };

  function askHost(method) {
    return new Promise(function (resolve) {
      if (!AP || !AP.user || typeof AP.user[method] !== "function") { resolve(null); return; }
      var settled = false;
      var finish = function (value) { if (!settled) { settled = true; resolve(value || null); } };
      AP.user[method](finish);
      setTimeout(function () { finish(null); }, 1500);
    });
  }

  function validZone(zone) {
    try { new Intl.DateTimeFormat("en", { timeZone: zone }); return true; } catch (e) { return false; }
  }

  function validLocale(locale) {
    try { return Intl.DateTimeFormat.supportedLocalesOf([locale]).length > 0; } catch (e) { return false; }
  }

  var viewerReady = Promise.all([askHost("getTimeZone"), askHost("getLocale")]).then(function (answers) {
    if (answers[0] && validZone(answers[0])) { viewer.zone = answers[0]; }
    var locale = answers[1] && String(answers[1]).replace("_", "-");
    if (locale && validLocale(locale)) { viewer.locale = locale; }
    document.documentElement.setAttribute("data-sr-zone", viewer.zone);
    return viewer;
  });

  // "Tue, 1 Dec 2026, 09:31 GMT+9" in the viewer's locale and zone.
  function exactTime(iso) {
    var date = new Date(iso);
    if (isNaN(date.getTime())) { return String(iso || ""); }
    return new Intl.DateTimeFormat(viewer.locale, {
      weekday: "short", day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit",
      timeZone: viewer.zone, timeZoneName: "short"
    }).format(date);
  }

  var UNITS = [["year", 31536000], ["month", 2592000], ["week", 604800], ["day", 86400], ["hour", 3600], ["minute", 60]];

  // "20 hours ago", "in 5 minutes", "yesterday" in the viewer's locale.
  function relativeTime(iso, now) {
    var date = new Date(iso);
    if (isNaN(date.getTime())) { return String(iso || ""); }
    var seconds = (date.getTime() - (now || Date.now())) / 1000;
    var words = new Intl.RelativeTimeFormat(viewer.locale, { numeric: "auto" });
    for (var i = 0; i < UNITS.length; i++) {
      // Hours up to two days: "20 hours ago" says more than "yesterday" about a late revert.
      var limit = UNITS[i][0] === "day" ? 2 * 86400 : UNITS[i][1];
      if (Math.abs(seconds) >= limit) { return words.format(Math.round(seconds / UNITS[i][1]), UNITS[i][0]); }
    }
    return words.format(Math.round(seconds / 60), "minute");
  }

  // A <time> that says how long ago, with the exact time in the viewer's zone on hover.
  function timeNode(iso, fallback) {
    if (!iso) { return document.createTextNode(fallback || "time unknown"); }
    var node = el("time", { datetime: iso, "data-sr-time": "relative" }, fallback || iso);
    localizeTime(node);
    return node;
  }

  function localizeTime(node) {
    var iso = node.getAttribute("datetime");
    if (!iso || isNaN(new Date(iso).getTime())) { return; }
    var exact = exactTime(iso);
    node.textContent = node.getAttribute("data-sr-time") === "exact" ? exact : relativeTime(iso);
    node.setAttribute("title", exact);
  }

  function localizeTimes(root) {
    var nodes = (root || document).querySelectorAll("time[data-sr-time]");
    for (var i = 0; i < nodes.length; i++) { localizeTime(nodes[i]); }
  }

  /* A wall-clock time typed in the viewer's zone ("2026-12-01T09:30", from datetime-local) as
     ISO-8601 with that zone's offset at that moment ("2026-12-01T09:30:00+09:00"). */
  function zoneOffsetMinutes(instant) {
    var parts = {};
    new Intl.DateTimeFormat("en-US", {
      timeZone: viewer.zone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit"
    }).formatToParts(new Date(instant)).forEach(function (p) { parts[p.type] = p.value; });
    var wall = Date.UTC(+parts.year, +parts.month - 1, +parts.day, +parts.hour, +parts.minute, +parts.second);
    return Math.round((wall - Math.floor(instant / 1000) * 1000) / 60000);
  }

  function wallTimeToIso(local) {
    if (!local) { return ""; }
    var wall = local + (local.length === 16 ? ":00" : "");
    var asUtc = Date.parse(wall + "Z");
    if (isNaN(asUtc)) { return ""; }
    var offset = zoneOffsetMinutes(asUtc);
    offset = zoneOffsetMinutes(asUtc - offset * 60000);
    var sign = offset < 0 ? "-" : "+";
    var abs = Math.abs(offset);
    return wall + sign + String(Math.floor(abs / 60)).padStart(2, "0") + ":" + String(abs % 60).padStart(2, "0");
  }

  initTheme();
  viewerReady.then(function () { localizeTimes(document); resize(); });

  global.SR = {
    api: api, el: el, clear: clear, resize: resize, sizeToParent: sizeToParent, safeUrl: safeUrl,
    stateLozenge: stateLozenge, statusLozenge: statusLozenge, hostBaseUrl: hostBaseUrl,
    copyButton: copyButton, secretRow: secretRow,
    viewer: viewer, viewerReady: viewerReady, exactTime: exactTime, relativeTime: relativeTime,
    timeNode: timeNode, localizeTimes: localizeTimes, wallTimeToIso: wallTimeToIso
  };
})(window);
