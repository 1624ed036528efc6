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
