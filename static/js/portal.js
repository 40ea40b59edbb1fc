// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  // After htmx swaps the slot list (or the whole picker, or search results),
  // move focus to its heading so keyboard and screen-reader users land on it.
  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail && event.detail.target;
    if (!target) return;
    var id = target.id === "results" ? "results-heading" : target.id === "phone-block" ? "code" : "slots-heading";
    var heading = document.getElementById(id);
    if (heading) heading.focus();
  });

  // The address changed without a page load: keep the language links pointing here.
  document.addEventListener("htmx:pushedIntoHistory", function () {
    var here = location.pathname + location.search;
    document.querySelectorAll("a.lang").forEach(function (link) {
      var url = new URL(link.href, location.href);
      url.searchParams.set("next", here);
      link.href = url.pathname + url.search;
    });
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

  // Keep a focused day fully visible inside the scrolling strip.
  document.addEventListener("focusin", function (event) {
    var day = event.target.closest && event.target.closest(".strip a.day");
    if (day) day.scrollIntoView({ block: "nearest", inline: "nearest" });
  });

  // A form that came back with errors: focus its summary, which links to the fields.
  document.addEventListener("DOMContentLoaded", function () {
    var summary = document.getElementById("form-errors");
    if (summary && !summary.hidden) summary.focus();
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
