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
