// SkyMath leaderboard: sort the table by a column (click a header; click again to reverse) and show or
// hide the paper's reference rows. No dependencies, no network: works from file://.
(function () {
  "use strict";
  var table = document.getElementById("leaderboard");
  if (!table) { return; }
  var body = table.tBodies[0];
  var heads = table.querySelectorAll("tr.heads th[data-col]");

  function cellValue(row, col, type) {
    var cell = row.querySelector('td[data-col="' + col + '"]');
    var raw = cell ? cell.getAttribute("data-value") : "";
    if (raw === null || raw === "") { return null; }  // no figure: always listed last
    return type === "num" ? parseFloat(raw) : raw;
  }

  function sortBy(th) {
    var col = th.getAttribute("data-col");
    var type = th.getAttribute("data-type");
    // numbers start high-to-low (best first), except the rank; text starts A-Z
    var first = (type === "num" && col !== "rank") ? "descending" : "ascending";
    var current = th.getAttribute("aria-sort");
    var order = current === first ? (first === "ascending" ? "descending" : "ascending") : first;
    var rows = Array.prototype.slice.call(body.rows);
    rows.forEach(function (row, i) { row.setAttribute("data-pos", i); });
    rows.sort(function (a, b) {
      var x = cellValue(a, col, type), y = cellValue(b, col, type);
      if (x === null && y === null) { return a.getAttribute("data-pos") - b.getAttribute("data-pos"); }
      if (x === null) { return 1; }
      if (y === null) { return -1; }
      var c = x < y ? -1 : x > y ? 1 : 0;
      if (order === "descending") { c = -c; }
      return c !== 0 ? c : a.getAttribute("data-pos") - b.getAttribute("data-pos");  // stable
    });
    rows.forEach(function (row) { body.appendChild(row); });
    Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", order);
  }

  Array.prototype.forEach.call(heads, function (th) {
    th.setAttribute("role", "button");
    th.setAttribute("tabindex", "0");
    th.addEventListener("click", function () { sortBy(th); });
    th.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); sortBy(th); }
    });
  });

  var toggle = document.getElementById("show-paper");
  if (toggle) {
    toggle.addEventListener("change", function () {
      table.classList.toggle("hide-paper", !toggle.checked);
    });
  }
})();
