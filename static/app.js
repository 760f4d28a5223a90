// hostelhub's one script: the live/reconnecting indicator, keeping the
// stream's resume point current, and releasing the stream of a hidden tab.
// Everything else is htmx and plain HTML.
(function () {
  "use strict";

  function stream() { return document.querySelector("[data-stream]"); }

  function setState(state, text) {
    var el = document.getElementById("live");
    if (!el) return;
    el.dataset.state = state;
    el.textContent = text;
  }

  // The extension re-creates a failed stream from the sse-connect URL,
  // without Last-Event-ID: keep the URL's resume point at the newest event
  // this page has applied, so a re-created stream replays only what it missed.
  function remember(id) {
    var el = stream();
    if (!el || !id) return;
    var url = new URL(el.getAttribute("sse-connect"), location.href);
    url.searchParams.set("last_event_id", id);
    el.setAttribute("sse-connect", url.pathname + url.search);
  }

  document.addEventListener("htmx:sseOpen", function () { setState("live", "Live"); });
  document.addEventListener("htmx:sseError", function () { setState("reconnecting", "Reconnecting…"); });

  // Events that change things in place carry out-of-band elements; a page
  // shows only some of them (a row on this list, the history of this issue).
  var inPlace = { issue_status_updated: true, issue_comment: true, issue_metoo: true };

  document.addEventListener("htmx:sseBeforeMessage", function (e) {
    var ev = e.detail;
    // A new issue this page already shows (a replay after a reconnect) is not added twice.
    if (ev.type === "new_issue") {
      var m = /id="(issue-\d+)"/.exec(ev.data);
      if (m && document.getElementById(m[1])) {
        e.preventDefault();
        remember(ev.lastEventId);
      }
      return;
    }
    if (!inPlace[ev.type]) return;
    // Swap only the parts whose target is on this page: htmx reports every
    // missing target as an error.
    e.preventDefault();
    var tpl = document.createElement("template");
    tpl.innerHTML = ev.data;
    var keep = [];
    tpl.content.querySelectorAll("[hx-swap-oob]").forEach(function (el) {
      var spec = el.getAttribute("hx-swap-oob");
      var colon = spec.indexOf(":");
      var target = colon >= 0 ? spec.slice(colon + 1) : "#" + el.id;
      if (document.querySelector(target)) keep.push(el.outerHTML);
    });
    if (keep.length > 0) htmx.swap(e.target, keep.join(""), { swapStyle: "none" });
    // As the extension does after its own swaps.
    htmx.trigger(e.target, "htmx:sseMessage", ev);
  });

  document.addEventListener("htmx:sseMessage", function (e) {
    var ev = e.detail;
    remember(ev.lastEventId);
    if (ev.type === "reload") location.reload();
    var empty = document.getElementById("issue-list-empty");
    if (ev.type === "new_issue" && empty) empty.remove();
  });

  // Toasts fade by CSS; remove them once they have.
  document.addEventListener("animationend", function (e) {
    if (e.target.classList && e.target.classList.contains("toast")) e.target.remove();
  });

  // A hidden tab gives its connection back (browsers allow six per origin
  // over HTTP/1.1) and resumes, with replay, when it is shown again.
  var sources = [];
  var create = htmx.createEventSource;
  htmx.createEventSource = function (url) {
    var es = (create || function (u) { return new EventSource(u, { withCredentials: true }); })(url);
    sources.push(es);
    return es;
  };
  var hiddenTimer = null;

  function release(state, text) {
    clearTimeout(hiddenTimer);
    sources.forEach(function (es) { es.close(); });
    sources = [];
    setState(state, text);
  }

  // Changed attributes make htmx process the elements again: a new stream
  // from the remembered resume point, and its listeners.
  function resume() {
    clearTimeout(hiddenTimer);
    var el = stream();
    if (!el || sources.length > 0) return;
    el.dataset.resume = String(Date.now());
    el.querySelectorAll("[sse-swap]").forEach(function (s) { s.dataset.resume = el.dataset.resume; });
    setState("connecting", "Connecting…");
    htmx.process(el);
  }

  function hide() {
    if (!stream()) return;
    clearTimeout(hiddenTimer);
    hiddenTimer = setTimeout(function () { release("paused", "Paused while hidden"); }, 5000);
  }

  document.addEventListener("visibilitychange", function () {
    if (document.hidden) hide(); else resume();
  });
  // A tab opened in the background never sees visibilitychange to hidden.
  if (document.hidden) hide();
  // A page left for another (and kept in the back/forward cache) still
  // holds its connection: give it back, and resume if the page comes back.
  window.addEventListener("pagehide", function () { release("paused", "Paused"); });
  window.addEventListener("pageshow", function (e) { if (e.persisted && !document.hidden) resume(); });
})();
