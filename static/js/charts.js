// Draws every chart the page embeds as JSON (no inline script, so a strict CSP holds), and
// submits the selector form on change so each choice is a shareable URL.
(function () {
  var NARROW = 600; // px: below this, legends go under the plot and heatmap cells lose their text
  var LEGEND_LINE = 20; // px
  document.querySelectorAll(".plot[data-figure]").forEach(function (plot) {
    var figure = JSON.parse(document.getElementById(plot.dataset.figure).textContent);
    if (plot.clientWidth < NARROW) {
      // The legend goes under the plot, one entry a line: the figure grows by its height, so the
      // plot keeps its own (a long legend would otherwise scroll over a squashed plot).
      var entries = figure.data.filter(function (trace) { return trace.name && trace.showlegend !== false; });
      var legendHeight = entries.length > 1 ? LEGEND_LINE * entries.length : 0;
      figure.layout.legend = { orientation: "v", yref: "container", y: 0, yanchor: "bottom", x: 0 };
      figure.layout.height += legendHeight;
      figure.layout.margin.b += legendHeight;
      figure.layout.margin.r = 10;
      twoLines(figure.layout.xaxis);
      figure.data.forEach(function (trace) {
        if (trace.type === "heatmap") { trace.texttemplate = ""; } // the numbers are in the table below
      });
    }
    twoLines(figure.layout.yaxis); // an upright plot is shorter than it is wide
    Plotly.newPlot(plot, figure.data, figure.layout, { responsive: true, displaylogo: false });
  });
  function twoLines(axis) { // "quantity — direction" as two lines, so that it fits beside the plot
    if (axis.title && axis.title.text) { axis.title.text = axis.title.text.replace(" — ", "<br>"); }
  }
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
