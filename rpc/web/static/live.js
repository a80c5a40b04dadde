// Live updates: on an event that concerns this page, fetch the page again and
// swap its main content in place. Everything else works without this script.
(function () {
  "use strict";
  var kind = document.body.dataset.live;
  var status = document.getElementById("live-status");
  if (!kind || !window.EventSource || !window.fetch) {
    if (status) status.textContent = "";
    return;
  }
  var busy = false, again = false, last = 0, minGap = 1500;
  function refresh() {
    if (busy) { again = true; return; }
    var wait = last + minGap - Date.now();
    if (wait > 0) { busy = true; setTimeout(function () { busy = false; refresh(); }, wait); return; }
    busy = true; last = Date.now();
    fetch(location.href, { headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) return;
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("main"), main = document.getElementById("main");
        if (fresh && main) main.replaceChildren.apply(main, Array.prototype.slice.call(fresh.childNodes));
      })
      .catch(function () {})
      .then(function () { busy = false; if (again) { again = false; refresh(); } });
  }
  var es = new EventSource("/events");
  es.onopen = function () { if (status) { status.textContent = "● live"; status.className = "live-status on"; } };
  es.onerror = function () { if (status) { status.textContent = "reconnecting…"; status.className = "live-status"; } };
  es.addEventListener("block", refresh);
  es.addEventListener("reorg", refresh);
  if (kind === "tx") es.addEventListener("tx", refresh);
})();
