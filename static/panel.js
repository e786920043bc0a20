/* The System reality panel and the issue context: size the iframe to the content, and load older
   timeline events on demand (the server renders the newest 50). */
(function () {
  "use strict";
  var SR = window.SR;

  function kindWords() {
    var node = document.getElementById("sr-kind-words");
    try { return node ? JSON.parse(node.textContent) : {}; } catch (e) { return {}; }
  }

  function eventItem(template, words, event) {
    var item = template.content.firstElementChild.cloneNode(true);
    item.classList.add("sr-event--" + event.kind);
    item.setAttribute("data-kind", event.kind);
    var kind = words[event.kind] || event.kind;
    if (event.environment) { kind += (event.kind === "deployment" ? " to " : " in ") + event.environment; }
    item.querySelector(".sr-event__kind").textContent = kind;
    var when = item.querySelector(".sr-event__when");
    if (event.when) {
      var time = SR.timeNode(event.when, event.when_text);
      time.className = "sr-event__when";
      when.replaceWith(time);
    }
    item.querySelector(".sr-event__title").textContent = event.title;
    var meta = item.querySelector(".sr-event__meta");
    if (event.short) {
      var url = SR.safeUrl(event.url);
      meta.appendChild(url
        ? SR.el("a", { className: "sr-sha", href: url, target: "_blank", rel: "noopener noreferrer" }, event.short)
        : SR.el("code", { className: "sr-sha" }, event.short));
    }
    var record = event.kind === "config" ? SR.safeUrl(event.url) : null;
    if (record) {
      meta.appendChild(SR.el("a", { href: record, target: "_blank", rel: "noopener noreferrer" }, "Change record"));
    }
    if (event.environment) { meta.appendChild(SR.el("span", { className: "sr-lozenge" }, event.environment)); }
    if (!meta.firstChild) { meta.remove(); }
    return item;
  }

  function setUpOlderEvents() {
    var button = document.getElementById("sr-older");
    var panel = document.getElementById("sr-panel");
    if (!button || !panel) { return; }
    var list = document.getElementById("sr-timeline");
    var status = document.getElementById("sr-status");
    var count = document.getElementById("sr-timeline-count");
    var template = document.getElementById("sr-event-template");
    var words = kindWords();
    var key = panel.getAttribute("data-issue-key");

    button.addEventListener("click", function () {
      var page = Number(button.getAttribute("data-next-page"));
      button.disabled = true;
      status.textContent = "Loading older events…";
      SR.api("/api/issues/" + encodeURIComponent(key) + "/reality?page=" + page).then(function (view) {
        var first = null;
        view.timeline.forEach(function (event) {
          var item = eventItem(template, words, event);
          if (!first) { first = item; }
          list.appendChild(item);
        });
        var shown = list.children.length;
        count.textContent = "Newest " + shown + " of " + view.timeline_total + " events";
        status.textContent = "Loaded " + view.timeline.length + " older events.";
        if (view.timeline_page < view.timeline_pages) {
          button.setAttribute("data-next-page", String(view.timeline_page + 1));
          button.disabled = false;
        } else {
          button.parentNode.remove();
          count.textContent = view.timeline_total + " events, newest first";
        }
        if (first) {
          first.setAttribute("tabindex", "-1");
          first.focus();
        }
        SR.resize();
      }).catch(function (error) {
        status.textContent = error.message;
        button.disabled = false;
        SR.resize();
      });
    });
  }

  setUpOlderEvents();
  if (document.readyState === "complete") { SR.resize(); } else { window.addEventListener("load", SR.resize); }
})();
