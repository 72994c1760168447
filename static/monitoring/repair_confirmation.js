// Repair confirmation (templates/admin/monitoring/lead/repair_confirmation.html): the counts and
// skip reasons follow the quarantine box as it is ticked. Both versions are counted on the server
// and already in the page; this only shows the matching one and relabels the submit button.
(function () {
  "use strict";
  function setUp() {
    var box = document.querySelector("input[name=include_quarantined]");
    var button = document.getElementById("confirm-repair");
    if (!box || !button) {
      return;
    }
    function show() {
      var state = box.checked ? "with" : "without";
      document.querySelectorAll("[data-quarantine-state]").forEach(function (summary) {
        summary.hidden = summary.dataset.quarantineState !== state;
      });
      button.value = button.dataset["label" + (box.checked ? "With" : "Without")];
    }
    box.addEventListener("change", show);
    show();
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setUp);
  } else {
    setUp();
  }
})();
