// Draws every chart the page embeds as JSON (no inline script, so a strict CSP holds), and
// submits the selector form on change so each choice is a shareable URL.
(function () {
  var NARROW = 600; // px: below this, legends go under the plot and heatmap cells lose their text
  var NAME_SIZE_NARROW = 11; // px: the names beside a scatter's points there
  var LEGEND_LINE = 20; // px
  document.querySelectorAll(".plot[data-figure]").forEach(function (plot) {
    var source = document.getElementById(plot.dataset.figure).textContent;
    var narrow = plot.clientWidth < NARROW;
    draw(plot, JSON.parse(source), narrow).then(function () {
      // A window narrowed or widened past NARROW draws the chart again as if opened so; a zoom, or
      // any other change of scale, places the names again.
      plot.on("plotly_relayout", function () {
        if ((plot.clientWidth < NARROW) !== narrow) {
          narrow = !narrow;
          draw(plot, JSON.parse(source), narrow);
        } else if (plot.data.some(named)) {
          placeNames(plot);
        }
      });
    });
  });
  function draw(plot, figure, narrow) {
    if (narrow) {
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
        if (named(trace)) { trace.textfont = { size: NAME_SIZE_NARROW }; }
      });
    }
    twoLines(figure.layout.yaxis); // an upright plot is shorter than it is wide
    return Plotly.react(plot, figure.data, figure.layout, { responsive: true, displaylogo: false }).then(function () {
      if (figure.data.some(named)) { placeNames(plot); }
    });
  }
  // Plotly puts every name of a scatter on one side of its point, so crowded names overlap. Each
  // name goes to the side where it covers least of the other names, of the points and of what lies
  // past the plot's edges: in turn, then again for a few rounds against where the others went.
  // Which names go first changes where that settles: it is done in a few orders, the least covered
  // kept (the first order places the last trace's names first: a chart draws what it stresses last).
  var SIDES = ["top center", "bottom center", "middle right", "middle left",
               "top right", "top left", "bottom right", "bottom left"];
  var ORDERS = [function (a, b) { return b.trace - a.trace || a.index - b.index; },
                function (a, b) { return a.x - b.x; }, function (a, b) { return b.x - a.x; },
                function (a, b) { return a.y - b.y; }, function (a, b) { return b.y - a.y; }];
  var ROUNDS = 3;
  var GAP = 8; // px from a point's centre to its name, beside it or diagonally (plotly's offset)
  var MARKER = 6; // px: half a marker's width
  var COVERED_POINT = 4, CUT_OFF = 20; // what a px² of them costs against one of another name
  function named(trace) { return trace.mode === "markers+text"; } // a scatter with a name beside each point
  function placeNames(plot) {
    var area = plot.querySelector(".nsewdrag").getBoundingClientRect();
    var points = namedPoints(plot, area);
    var marks = points.map(function (p) { return [p.x - MARKER, p.y - MARKER, 2 * MARKER, 2 * MARKER]; });
    function cost(point, box) { // px² covered; a point covered is hidden, past the edges is cut off
      var names = points.filter(function (p) { return p !== point && p.box; });
      return sum(names, function (p) { return overlap(box, p.box); })
        + COVERED_POINT * sum(marks, function (mark) { return overlap(box, mark); })
        + CUT_OFF * (box[2] * box[3] - overlap(box, [0, 0, area.width, area.height]));
    }
    var best = null;
    ORDERS.forEach(function (order) {
      points.forEach(function (p) { p.box = null; });
      settle(points.slice().sort(order), cost);
      var covered = sum(points, function (p) { return cost(p, p.box); });
      if (best === null || covered < best.covered) {
        best = { covered: covered, sides: points.map(function (p) { return p.side; }) };
      }
    });
    var sides = {};
    points.forEach(function (p, i) { (sides[p.trace] = sides[p.trace] || [])[p.index] = best.sides[i]; });
    Object.keys(sides).forEach(function (t) { Plotly.restyle(plot, { textposition: [sides[t]] }, [Number(t)]); });
  }
  function settle(points, cost) { // each name to its cheapest side in turn, for a few rounds
    for (var round = 0; round <= ROUNDS; round++) {
      points.forEach(function (point) {
        var cheapest = null;
        SIDES.forEach(function (side) {
          var box = nameBox(point, side), paid = cost(point, box);
          if (cheapest === null || paid < cheapest.paid) { cheapest = { paid: paid, side: side, box: box }; }
        });
        point.side = cheapest.side;
        point.box = cheapest.box;
      });
    }
  }
  function namedPoints(plot, area) { // each named point in px from the plot area's top left, with its name's size
    var xRange = plot.layout.xaxis.range, yRange = plot.layout.yaxis.range;
    var measure = document.createElement("canvas").getContext("2d");
    var points = [];
    plot.data.forEach(function (trace, t) {
      if (!named(trace)) { return; }
      var size = (trace.textfont && trace.textfont.size) || plot.layout.font.size;
      measure.font = size + "px " + plot.layout.font.family;
      trace.x.forEach(function (x, i) {
        points.push({ trace: t, index: i, width: measure.measureText(trace.text[i]).width, height: size * 1.4,
                      x: (x - xRange[0]) / (xRange[1] - xRange[0]) * area.width,
                      y: (yRange[1] - trace.y[i]) / (yRange[1] - yRange[0]) * area.height });
      });
    });
    return points;
  }
  function nameBox(point, side) { // [left, top, width, height] of a name on that side of its point
    var vertical = side.split(" ")[0], horizontal = side.split(" ")[1];
    var left = { center: point.x - point.width / 2, right: point.x + GAP, left: point.x - GAP - point.width }[horizontal];
    var top = { middle: point.y - point.height / 2, bottom: point.y + GAP, top: point.y - GAP - point.height }[vertical];
    return [left, top, point.width, point.height];
  }
  function sum(items, of) { return items.reduce(function (total, item) { return total + of(item); }, 0); }
  function overlap(a, b) { // px² of two [left, top, width, height] boxes
    var width = Math.min(a[0] + a[2], b[0] + b[2]) - Math.max(a[0], b[0]);
    var height = Math.min(a[1] + a[3], b[1] + b[3]) - Math.max(a[1], b[1]);
    return width > 0 && height > 0 ? width * height : 0;
  }
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
