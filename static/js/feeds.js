// The calendar feeds page (/kontor/…/kalender): a Copy button next to a new
// address. Progressive enhancement only: without this file the address is a
// read-only field to select and copy by hand.
(function () {
  "use strict";
  if (!navigator.clipboard) return;
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("button[data-copy]").forEach(function (button) {
      var field = document.getElementById(button.dataset.copy);
      if (!field) return;
      button.hidden = false;
      button.addEventListener("click", function () {
        navigator.clipboard.writeText(field.value).then(function () {
          button.textContent = button.dataset.copied;
        });
      });
    });
    document.querySelectorAll(".feed-new input[readonly]").forEach(function (field) {
      field.addEventListener("focus", function () { field.select(); });
    });
  });
})();
