/* The sandbox's Connect JavaScript API, iframe side: the few AP calls System Reality uses,
   carried over postMessage to the sandbox's host page (host.js), as Jira's all.js does.

   AP.resize(width?, height?)      ask the host to size this iframe (default: the content)
   AP.sizeToParent()                ask the host to fill the page with this iframe
   AP.context.getToken(callback)    a fresh context JWT for the signed-in user
   AP.navigator.go(target, context) "issue" ({issueKey}) or "site" ({absoluteUrl})
   AP.theming.initializeTheming()   copy the host's colour mode onto this document
   AP.user.getTimeZone(callback)    the signed-in user's time zone from their Jira profile
   AP.user.getLocale(callback)      the signed-in user's locale ("en_US")
   The iframe is resized automatically when its content changes size. */
(function (global) {
  "use strict";
  if (global.AP && global.AP.__sandbox) { return; }

  var script = document.currentScript;
  var hostOrigin = script ? new URL(script.src, document.baseURI).origin : "*";
  var params = new URLSearchParams(global.location.search);
  var channel = "sr-connect";
  var pending = {};
  var nextId = 1;
  var lastHeight = -1;
  var sizedToParent = false;

  function send(type, data, callback) {
    var message = { channel: channel, type: type, data: data || {} };
    if (callback) {
      message.id = nextId++;
      pending[message.id] = callback;
    }
    if (global.parent && global.parent !== global) {
      global.parent.postMessage(message, hostOrigin);
    }
  }

  global.addEventListener("message", function (event) {
    if (event.source !== global.parent || event.origin !== hostOrigin) { return; }
    var message = event.data || {};
    if (message.channel !== channel || !message.replyTo) { return; }
    var callback = pending[message.replyTo];
    delete pending[message.replyTo];
    if (callback) { callback(message.data); }
  });

  function contentHeight() {
    var body = document.body;
    if (!body) { return 0; }
    return Math.ceil(body.getBoundingClientRect().height);
  }

  function resize(width, height) {
    var h = height === undefined || height === null ? contentHeight() : height;
    if (typeof h === "number") { lastHeight = h; }
    send("resize", { width: width === undefined ? "100%" : width, height: h });
  }

  function autoResize() {
    if (sizedToParent) { return; }
    var h = contentHeight();
    if (h !== lastHeight) { resize(undefined, h); }
  }

  var options = (script && script.getAttribute("data-options")) || "";
  if (options.indexOf("resize:false") < 0 && typeof ResizeObserver === "function") {
    document.addEventListener("DOMContentLoaded", function () {
      new ResizeObserver(autoResize).observe(document.body);
    });
  }

  global.AP = {
    __sandbox: true,
    resize: resize,
    sizeToParent: function () {
      sizedToParent = true;
      send("sizeToParent", {});
    },
    context: {
      getToken: function (callback) {
        send("getToken", {}, function (data) { callback(data && data.token); });
      },
      getContext: function (callback) {
        send("getContext", {}, callback);
      }
    },
    user: {
      getTimeZone: function (callback) { send("timeZone", {}, function (data) { callback(data && data.value); }); },
      getLocale: function (callback) { send("locale", {}, function (data) { callback(data && data.value); }); }
    },
    navigator: {
      go: function (target, context) { send("navigate", { target: target, context: context || {} }); }
    },
    theming: {
      initializeTheming: function () {
        send("theme", {}, function (data) {
          if (data && data.colorMode) { document.documentElement.setAttribute("data-color-mode", data.colorMode); }
        });
      }
    },
    // Jira passes these on every iframe URL; exposed for debugging in the sandbox.
    _host: { origin: hostOrigin, xdm_e: params.get("xdm_e") }
  };
})(window);
