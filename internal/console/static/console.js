// writ console: optional enhancements only. Every page works without this
// script: it adds a copy button to a new token and a live filter to the
// tokens list.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var token = document.getElementById("new-token");
  var copy = document.getElementById("copy");
  if (token && copy && navigator.clipboard) {
    copy.hidden = false;
    copy.addEventListener("click", function () {
      var status = document.getElementById("copy-status");
      navigator.clipboard.writeText(token.value).then(function () {
        if (status) status.textContent = "Copied.";
      }, function () {
        token.select();
        if (status) status.textContent = "Copy failed: select the token and copy it yourself.";
      });
    });
  }
  var filter = document.getElementById("live-filter");
  var table = document.getElementById("tokens");
  if (filter && table) {
    filter.hidden = false;
    var label = document.querySelector("label[for=live-filter]");
    if (label) label.hidden = false;
    filter.addEventListener("input", function () {
      var q = filter.value.toLowerCase();
      table.querySelectorAll("tbody tr[data-jti]").forEach(function (row) {
        row.hidden = q !== "" && row.textContent.toLowerCase().indexOf(q) < 0;
      });
    });
  }
});
