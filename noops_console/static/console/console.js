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
