/* The sandbox's Connect host, Jira side: answers the app iframes' AP calls (see all.js).
   Each app iframe carries data-sr-module; messages are accepted only from those iframes and only
   from the app's origin. */
(function () {
  "use strict";
  var channel = "sr-connect";
  var body = document.body;
  var signedInAs = body.getAttribute("data-as");
  var issueKey = body.getAttribute("data-issue-key") || "";
  var colorMode = body.getAttribute("data-color-mode")
    || (window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light");

  function frameFor(source) {
    var frames = document.querySelectorAll("iframe[data-sr-module]");
    for (var i = 0; i < frames.length; i++) {
      if (frames[i].contentWindow === source) { return frames[i]; }
    }
    return null;
  }

  function reply(event, id, data) {
    event.source.postMessage({ channel: channel, replyTo: id, data: data }, event.origin);
  }

  function fillParent(frame) {
    var top = frame.getBoundingClientRect().top + window.scrollY;
    frame.style.height = Math.max(300, window.innerHeight - top - 8) + "px";
    frame.style.width = "100%";
  }

  window.addEventListener("message", function (event) {
    var frame = frameFor(event.source);
    var message = event.data || {};
    if (!frame || message.channel !== channel) { return; }
    if (event.origin !== new URL(frame.src).origin) { return; }
    var data = message.data || {};
    switch (message.type) {
      case "resize":
        if (frame.getAttribute("data-sized-to-parent")) { return; }
        if (typeof data.height === "number" && data.height >= 0) {
          frame.style.height = Math.min(Math.max(data.height, 20), 20000) + "px";
        } else if (typeof data.height === "string" && /^\d+(px|%)?$/.test(data.height)) {
          frame.style.height = /\d$/.test(data.height) ? data.height + "px" : data.height;
        }
        frame.setAttribute("data-resized", "true");
        break;
      case "sizeToParent":
        frame.setAttribute("data-sized-to-parent", "true");
        frame.setAttribute("data-resized", "true");
        fillParent(frame);
        window.addEventListener("resize", function () { fillParent(frame); });
        break;
      case "getToken":
        var query = "as=" + encodeURIComponent(signedInAs) + "&app=" + encodeURIComponent(frame.getAttribute("data-sr-app"))
          + (issueKey ? "&issueKey=" + encodeURIComponent(issueKey) : "");
        fetch("/sandbox/context-token?" + query).then(function (r) { return r.json(); }).then(function (json) {
          reply(event, message.id, { token: json.token || null });
        }).catch(function () { reply(event, message.id, { token: null }); });
        break;
      case "getContext":
        reply(event, message.id, { jira: issueKey ? { issue: { key: issueKey } } : {} });
        break;
      case "timeZone":
        reply(event, message.id, { value: body.getAttribute("data-time-zone") || "Etc/UTC" });
        break;
      case "locale":
        reply(event, message.id, { value: body.getAttribute("data-locale") || "en_US" });
        break;
      case "theme":
        reply(event, message.id, { colorMode: colorMode });
        break;
      case "navigate":
        var context = data.context || {};
        var as = "?as=" + encodeURIComponent(signedInAs);
        if (data.target === "issue" && /^[A-Z][A-Z0-9_]+-[1-9][0-9]*$/.test(context.issueKey || "")) {
          window.location.assign("/browse/" + context.issueKey + as);
        } else if (data.target === "site" && typeof context.absoluteUrl === "string"
                   && context.absoluteUrl.indexOf(window.location.origin + "/") === 0) {
          window.location.assign(context.absoluteUrl);
        }
        break;
      default:
        break;
    }
  });

  var switcher = document.getElementById("sandbox-user");
  if (switcher) {
    switcher.addEventListener("change", function () {
      var url = new URL(window.location.href);
      url.searchParams.set("as", switcher.value);
      window.location.assign(url.toString());
    });
  }
})();
