// noops console: the Copy buttons (data-copy="ID" copies the text of the element with that id).
document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-copy]");
  if (!button) { return; }
  var source = document.getElementById(button.getAttribute("data-copy"));
  if (!source) { return; }
  var text = source.value !== undefined ? source.value : source.textContent;
  var done = function () { button.textContent = "Copied"; };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done, function () { source.select(); document.execCommand("copy"); done(); });
  } else {
    source.select();
    document.execCommand("copy");
    done();
  }
});

// Live pages: while a server-sent event stream (htmx's sse extension) is open, the page's own polling
// (elements marked data-poll) is skipped; when the stream fails or closes, polling takes over until it is back.
(function () {
  var open = 0;
  document.addEventListener("htmx:sseOpen", function () { open = 1; document.documentElement.dataset.live = "sse"; });
  var lost = function () { open = 0; document.documentElement.dataset.live = "poll"; };
  document.addEventListener("htmx:sseError", lost);
  document.addEventListener("htmx:sseClose", lost);
  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail && event.detail.elt;
    if (open && elt && elt.hasAttribute && elt.hasAttribute("data-poll") &&
        event.detail.requestConfig && !event.detail.requestConfig.triggeringEvent) {  // a timer's poll, not an event
      event.preventDefault();
    }
  });
})();

// Durations still running (data-since="ISO time"): counted on every second between two updates of the page.
(function () {
  var format = function (secs) {
    secs = Math.max(0, Math.round(secs));
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    if (secs < 60) { return secs + "s"; }
    if (secs < 3600) { return Math.floor(secs / 60) + "m" + pad(secs % 60) + "s"; }
    return Math.floor(secs / 3600) + "h" + pad(Math.floor(secs % 3600 / 60)) + "m";
  };
  window.setInterval(function () {
    var now = Date.now();
    document.querySelectorAll("[data-since]").forEach(function (elt) {
      var since = Date.parse(elt.getAttribute("data-since"));
      if (!isNaN(since)) { elt.textContent = format((now - since) / 1000) + (elt.getAttribute("data-suffix") || ""); }
    });
  }, 1000);
})();

// The live log tail (#log-tail): server-sent events append new lines; the page keeps at most data-max-lines of
// them. Without EventSource, or when the stream fails three times without opening, it reads the tail by htmx
// polling instead (every 5 s, the last lines as a whole).
(function () {
  var tail = document.getElementById("log-tail");
  if (!tail) { return; }
  var max = parseInt(tail.getAttribute("data-max-lines"), 10) || 200;
  var trim = function () {
    var pre = document.getElementById("log-lines");
    while (pre && pre.children.length > max) { pre.removeChild(pre.firstElementChild); }
  };
  var polling = false;
  var poll = function () {
    if (polling) { return; }
    polling = true;
    // Hand over from the stream: a copy without the SSE attributes (htmx closes the stream of a removed element).
    var fresh = tail.cloneNode(true);
    fresh.removeAttribute("sse-connect");
    fresh.removeAttribute("hx-ext");
    tail.replaceWith(fresh);
    tail = fresh;
    tail.setAttribute("data-mode", "polling");
    var read = function () { htmx.ajax("GET", tail.getAttribute("data-poll"), {target: tail, swap: "innerHTML"}); };
    read();
    setInterval(read, 5000);
  };
  var failures = 0;
  var opened = false;
  document.body.addEventListener("htmx:sseOpen", function () { opened = true; tail.setAttribute("data-mode", "sse"); });
  document.body.addEventListener("htmx:sseError", function () {
    failures += 1;
    if (!opened && failures >= 3) { poll(); }
  });
  document.body.addEventListener("htmx:sseMessage", trim);
  document.body.addEventListener("htmx:afterSwap", trim);
  if (!window.EventSource || tail.hasAttribute("data-poll-only")) { poll(); }
})();
