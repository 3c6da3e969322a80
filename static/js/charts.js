// Draws every chart the page embeds as JSON (no inline script, so a strict CSP holds), and
// submits the selector form on change so each choice is a shareable URL.
(function () {
  var NARROW = 600; // px: below this, legends go under the plot and heatmap cells lose their text
  document.querySelectorAll(".plot[data-figure]").forEach(function (plot) {
    var figure = JSON.parse(document.getElementById(plot.dataset.figure).textContent);
    if (plot.clientWidth < NARROW) {
      figure.layout.legend = { orientation: "h", y: -0.35 };
      figure.layout.margin.r = 10;
      figure.data.forEach(function (trace) {
        if (trace.type === "heatmap") { trace.texttemplate = ""; } // the numbers are in the table below
      });
    }
    Plotly.newPlot(plot, figure.data, figure.layout, { responsive: true, displaylogo: false });
  });
  document.querySelectorAll("form.controls select").forEach(function (select) {
    select.addEventListener("change", function () {
      if (select.name === "run_id" && select.value) { select.form.elements.window.value = ""; }
      if (select.name === "window") { select.form.elements.run_id.value = ""; }
      Array.prototype.forEach.call(select.form.elements, function (field) {
        if (field.name && !field.value) { field.disabled = true; }  // keep the URL short
      });
      select.form.submit();
    });
  });
})();
