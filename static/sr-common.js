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

  initTheme();

  global.SR = {
    api: api, el: el, clear: clear, resize: resize, sizeToParent: sizeToParent, safeUrl: safeUrl,
    stateLozenge: stateLozenge, statusLozenge: statusLozenge, hostBaseUrl: hostBaseUrl,
    copyButton: copyButton, secretRow: secretRow
  };
})(window);
