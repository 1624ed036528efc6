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
