"use strict";
// Line charts as inline SVG, drawn from the specs the server sends (runs/analysis/viewer/charts.py):
// {title, series: [{name, points: [[iteration, value], ...]}], threshold, warnings}.
// A point [iteration, value, ci_low, ci_high] (a held-out figure with its 95% interval) is
// drawn inside a shaded band (path.band) from the lows to the highs of its series.
// Labels are SVG text nodes set with textContent, like everything else on the page.

SV.chart = function (spec) {
  const W = 340, H = 190, L = 48, R = 10, T = 10, B = 28;
  const points = spec.series.flatMap((s) => s.points.filter((p) => p[1] !== null));
  const xs = points.map((p) => p[0]);
  const ys = points.flatMap((p) => SV.hasBand(p) ? [p[1], p[2], p[3]] : [p[1]]);
  if (spec.threshold !== null && spec.threshold !== undefined) ys.push(spec.threshold);
  let [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (!points.length) [x0, x1, y0, y1] = [0, 1, 0, 1];
  if (x0 === x1) { x0 -= 0.5; x1 += 0.5; }
  if (y0 === y1) { const pad = Math.abs(y0) * 0.1 || 0.5; y0 -= pad; y1 += pad; }
  const ticks = SV.ticks(y0, y1, 4);
  [y0, y1] = [ticks[0], ticks[ticks.length - 1]];
  const sx = (x) => L + (x - x0) / (x1 - x0) * (W - L - R);
  const sy = (y) => T + (1 - (y - y0) / (y1 - y0)) * (H - T - B);
  const svg = SV.svg("svg", {viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img"});
  svg.appendChild(SV.svg("title", {}, spec.title));
  for (const y of ticks) {
    svg.appendChild(SV.svg("line", {x1: L, x2: W - R, y1: sy(y), y2: sy(y), class: "grid"}));
    svg.appendChild(SV.svg("text", {x: L - 4, y: sy(y) + 3, class: "tick", "text-anchor": "end"}, SV.fmt(y)));
  }
  const iterations = [...new Set(xs)].sort((a, b) => a - b);
  const step = Math.max(1, Math.ceil(iterations.length / 8));
  iterations.filter((_, i) => i % step === 0).forEach((x) =>
    svg.appendChild(SV.svg("text", {x: sx(x), y: H - B + 14, class: "tick", "text-anchor": "middle"}, String(x))));
  svg.appendChild(SV.svg("text", {x: W - R, y: H - 2, class: "tick", "text-anchor": "end"}, "iteration"));
  if (spec.threshold !== null && spec.threshold !== undefined) {
    svg.appendChild(SV.svg("line", {x1: L, x2: W - R, y1: sy(spec.threshold), y2: sy(spec.threshold), class: "threshold"}));
    svg.appendChild(SV.svg("text", {x: W - R, y: sy(spec.threshold) - 3, class: "tick threshold-label", "text-anchor": "end"},
      `warning below ${spec.threshold}`));
  }
  spec.series.forEach((series, i) => {
    const color = SV.palette[i % SV.palette.length];
    const pts = series.points.filter((p) => p[1] !== null);
    const band = pts.filter(SV.hasBand);
    if (band.length) {
      const edge = (k) => (p) => `${sx(p[0])},${sy(p[k])}`;
      // one point: a zero-width band, drawn as a wide translucent stroke (an error bar)
      svg.appendChild(SV.svg("path", {d: `M${band.map(edge(3)).join("L")}L${band.slice().reverse().map(edge(2)).join("L")}Z`,
        class: "band", fill: color, stroke: band.length === 1 ? color : "none", "stroke-width": 6},
        SV.svg("title", {}, `${series.name}: 95% interval`)));
    }
    svg.appendChild(SV.svg("polyline", {points: pts.map((p) => `${sx(p[0])},${sy(p[1])}`).join(" "),
      fill: "none", stroke: color, "stroke-width": 2}));
    pts.forEach((p) => {
      const low = spec.threshold !== null && spec.threshold !== undefined && p[1] < spec.threshold;
      svg.appendChild(SV.svg("circle", {cx: sx(p[0]), cy: sy(p[1]), r: low ? 4.5 : 3, fill: low ? "#d00" : color},
        SV.svg("title", {}, `${series.name} @ ${p[0]}: ${SV.fmt(p[1])}` +
          (SV.hasBand(p) ? ` [${SV.fmt(p[2])}, ${SV.fmt(p[3])}]` : ""))));
    });
  });
  const legend = SV.el("ul", {class: "legend"}, spec.series.map((s, i) => {
    const swatch = SV.el("span", {class: "swatch"});
    swatch.style.background = SV.palette[i % SV.palette.length];
    return SV.el("li", {}, swatch, s.name);
  }));
  return SV.el("figure", {class: "chart-box"}, SV.el("figcaption", {}, spec.title), svg,
    spec.series.length > 1 || spec.series[0].name !== "value" ? legend : null,
    (spec.warnings || []).map((w) => SV.el("p", {class: "warning"}, w)));
};

SV.hasBand = (p) => p.length >= 4 && p[2] !== null && p[3] !== null;

// Round tick values (steps of 1, 2, 2.5 or 5 times a power of ten) covering [lo, hi].
SV.ticks = function (lo, hi, count) {
  const raw = (hi - lo) / count;
  const magnitude = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw);
  const out = [];
  for (let v = Math.floor(lo / step) * step; v <= hi + step * 1e-9 || out.length < 2; v += step) out.push(+v.toFixed(12));
  if (out[out.length - 1] < hi) out.push(+(out[out.length - 1] + step).toFixed(12));
  return out;
};
