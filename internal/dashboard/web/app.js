// Live updates: the server renders each changing part of the page and
// pushes it over Server-Sent Events; this swaps it in. Without JavaScript
// the page is complete, only static.
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="hs-live"]');
  var status = document.getElementById("live-status");
  if (!meta || !window.EventSource) return;
  var es = new EventSource(meta.content);
  es.addEventListener("open", function () { if (status) status.textContent = "Live: updates as they happen."; });
  es.addEventListener("error", function () { if (status) status.textContent = "Reconnecting…"; });
  es.addEventListener("logout", function () { es.close(); if (status) status.textContent = "Session ended: log in again."; });
  es.addEventListener("fragment", function (e) {
    var f = JSON.parse(e.data);
    var el = document.getElementById(f.id);
    if (!el) return;
    // Keep keyboard focus when the focused control is re-rendered.
    var active = document.activeElement, keep = active && el.contains(active) && active.name ? active.name : null;
    el.innerHTML = f.html; // rendered and escaped by html/template on the server
    if (keep) { var again = el.querySelector('[name="' + keep + '"]'); if (again) again.focus(); }
  });
})();
