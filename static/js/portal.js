// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";
  // After htmx swaps the slot list (or the whole picker), move focus to its
  // heading so keyboard and screen-reader users land on the new content.
  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail && event.detail.target;
    if (!target) return;
    var heading = document.getElementById("slots-heading") || document.getElementById("results-heading");
    if (target.id === "results") heading = document.getElementById("results-heading");
    if (heading) heading.focus();
  });
  // A day link swaps only the slot list: mark the chosen day in the strip.
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest(".strip a.day");
    if (!link) return;
    document.querySelectorAll(".strip a.day[aria-current]").forEach(function (el) {
      el.removeAttribute("aria-current");
    });
    link.setAttribute("aria-current", "date");
  });
  // Avoid double submits of a booking form on a slow connection.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.matches && form.matches("form[method=post]")) {
      if (form.dataset.submitted === "1") { event.preventDefault(); return; }
      form.dataset.submitted = "1";
      setTimeout(function () { form.dataset.submitted = ""; }, 8000);
    }
  });
})();
