// Progressive enhancement only: every page works without this file.
// The organization switcher submits as soon as another organization is
// chosen, so its "Switch" button can be hidden.
document.querySelectorAll("form[data-autosubmit]").forEach(function (f) {
  var button = f.querySelector("button");
  if (button) button.hidden = true;
  f.querySelectorAll("select").forEach(function (s) {
    s.addEventListener("change", function () { f.submit(); });
  });
});
// Copy buttons for values shown once (new API keys).
document.querySelectorAll("[data-copy]").forEach(function (b) {
  b.hidden = false;
  b.addEventListener("click", function () {
    var el = document.getElementById(b.getAttribute("data-copy"));
    if (el && navigator.clipboard) {
      navigator.clipboard.writeText(el.textContent.trim()).then(function () { b.textContent = "Copied"; });
    }
  });
});
