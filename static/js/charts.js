// Draws every figure the page embeds as JSON (no inline script, so a strict CSP holds), and
// submits the selector form on change so each choice is a shareable URL.
(function () {
  document.querySelectorAll("section.chart[data-figure]").forEach(function (section) {
    var figure = JSON.parse(document.getElementById(section.dataset.figure).textContent);
    Plotly.newPlot(section, figure.data, figure.layout, { responsive: true, displaylogo: false });
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
