// Draws every <canvas data-chart="ID"> from the Chart.js config embedded in <script id="ID"
// type="application/json"> (json_script): the numbers arrive with the page, no second request.
(function () {
  "use strict";
  function draw() {
    if (typeof Chart === "undefined") {
      return;
    }
    Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    Chart.defaults.animation = false; // charts are read, not watched; also makes screenshots stable
    Chart.defaults.maintainAspectRatio = false;
    document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      var source = document.getElementById(canvas.dataset.chart);
      if (!source) {
        return;
      }
      var config = JSON.parse(source.textContent);
      config.options = config.options || {};
      config.options.responsive = true;
      if (config.type === "bar") {
        // Level axis labels, thinned out to fit: rotated labels ate the plot on a phone.
        var scales = (config.options.scales = config.options.scales || {});
        scales.x = scales.x || {};
        scales.x.ticks = Object.assign({ maxRotation: 0, autoSkipPadding: 10 }, scales.x.ticks);
      }
      canvas.chart = new Chart(canvas, config);
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
