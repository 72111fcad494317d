/* Progressive enhancement only: every page works without this file.
   Times are shown in UTC; hovering one shows the reader's local time (its title). */
(function () {
  "use strict";
  function localise(root) {
    var times = (root || document).querySelectorAll("time[datetime]");
    for (var i = 0; i < times.length; i++) {
      var el = times[i];
      var when = new Date(el.getAttribute("datetime"));
      if (isNaN(when.getTime())) { continue; }
      el.title = "Your local time: " + when.toLocaleString(undefined, {
        year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", timeZoneName: "short"
      });
    }
  }
  function focusProblems() {
    var summary = document.querySelector(".error-summary");
    if (summary) { summary.focus(); }
  }
  document.addEventListener("DOMContentLoaded", function () { localise(document); focusProblems(); });
  document.addEventListener("htmx:afterSwap", function (event) { localise(event.target); });
})();
