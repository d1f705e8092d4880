// The catalog's only script: the search box and lineage highlighting. No network, no libraries.
(function () {
  "use strict";
  var root = document.body.getAttribute("data-root") || "";
  var index = window.SQLFEAST_SEARCH || [];
  var input = document.getElementById("search");
  var list = document.getElementById("results");

  function matches(entry, terms) {
    var hay = (entry.n + " " + entry.k + " " + entry.d + " " + entry.t + " " + entry.x).toLowerCase();
    for (var i = 0; i < terms.length; i++) {
      if (hay.indexOf(terms[i]) < 0) { return false; }
    }
    return true;
  }

  function score(entry, query) {
    var name = entry.n.toLowerCase();
    if (name === query) { return 0; }
    if (name.indexOf(query) === 0) { return 1; }
    if (name.indexOf(query) >= 0) { return 2; }
    return 3;
  }

  function show() {
    var query = input.value.trim().toLowerCase();
    list.textContent = "";
    if (!query) { list.classList.remove("open"); return; }
    var terms = query.split(/\s+/);
    var found = index.filter(function (e) { return matches(e, terms); });
    found.sort(function (a, b) { return score(a, query) - score(b, query) || a.n.localeCompare(b.n); });
    found.slice(0, 50).forEach(function (e) {
      var li = document.createElement("li");
      var a = document.createElement("a");
      a.href = root + e.u;
      a.className = "result";
      var name = document.createElement("strong");
      name.textContent = e.n;
      var kind = document.createElement("span");
      kind.className = "muted";
      kind.textContent = " " + e.k + (e.d ? " \u2014 " + e.d : "");
      a.appendChild(name);
      a.appendChild(kind);
      li.appendChild(a);
      list.appendChild(li);
    });
    if (!found.length) {
      var none = document.createElement("li");
      none.className = "muted none";
      none.textContent = "nothing matches";
      list.appendChild(none);
    }
    list.classList.add("open");
  }

  if (input) {
    input.addEventListener("input", show);
    input.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter") {
        var first = list.querySelector("a.result");
        if (first) { window.location.href = first.href; }
      } else if (ev.key === "Escape") {
        input.value = "";
        show();
      }
    });
  }

  function highlight(id, on) {
    var paths = document.querySelectorAll("svg.lineage path");
    for (var i = 0; i < paths.length; i++) {
      var p = paths[i];
      if (p.getAttribute("data-from") === id || p.getAttribute("data-to") === id) {
        p.classList.toggle("hl", on);
      }
    }
  }

  var nodes = document.querySelectorAll("svg.lineage a.node");
  for (var i = 0; i < nodes.length; i++) {
    nodes[i].addEventListener("mouseenter", function () { highlight(this.getAttribute("data-id"), true); });
    nodes[i].addEventListener("mouseleave", function () { highlight(this.getAttribute("data-id"), false); });
  }
})();
