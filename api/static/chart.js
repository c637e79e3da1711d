// The equity curve as inline SVG, drawn from GET /bots/{id}/equity: no chart library.
// The numbers on the axis labels are the API's decimal strings; only the positions of
// the points are computed in floating point (a pixel needs no more precision).
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";

function svgNode(tag, attributes, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

// points: [{day, equity}] oldest first; start: the initial capital (string or null).
function drawEquity(container, points, start) {
  container.replaceChildren();
  if (!points.length) {
    const empty = document.createElement("p");
    empty.className = "empty";
    empty.textContent = "No P&L yet.";
    container.append(empty);
    return;
  }
  const width = 720, height = 220, left = 8, right = 150, top = 12, bottom = 26;
  const series = points.map((p) => ({ day: p.day, text: p.equity, value: Number(p.equity) }));
  if (start !== null && start !== undefined) series.unshift({ day: null, text: start, value: Number(start) });
  const values = series.map((p) => p.value);
  let low = Math.min(...values), high = Math.max(...values);
  if (high === low) { high += 1; low -= 1; }
  const x = (i) => left + (series.length === 1 ? 0 : (i * (width - left - right)) / (series.length - 1));
  const y = (v) => top + ((high - v) * (height - top - bottom)) / (high - low);
  const svg = svgNode("svg", {
    viewBox: `0 0 ${width} ${height}`, role: "img", class: "equity",
    "aria-label": `equity from ${series[0].text} to ${series[series.length - 1].text}`,
  });
  // The starting capital as a dashed baseline: above it the bot made money.
  if (start !== null && start !== undefined) {
    const base = y(Number(start));
    svg.append(svgNode("line", { x1: left, x2: width - right, y1: base, y2: base, class: "baseline" }));
  }
  const path = series.map((p, i) => `${i ? "L" : "M"}${x(i).toFixed(1)},${y(p.value).toFixed(1)}`).join(" ");
  const last = series[series.length - 1];
  const up = start === null || start === undefined || last.value >= Number(start);
  svg.append(svgNode("path", { d: path, class: "curve " + (up ? "up" : "down") }));
  series.forEach((p, i) => {
    const dot = svgNode("circle", { cx: x(i), cy: y(p.value), r: 2.5, class: "dot" });
    dot.append(svgNode("title", {}, (p.day || "start") + ": " + p.text));
    svg.append(dot);
  });
  // Labels on the right: the last value, and the high and low where they differ from it
  // (and from each other by more than a line's height, so no two overlap).
  const highest = series.reduce((a, b) => (b.value > a.value ? b : a));
  const lowest = series.reduce((a, b) => (b.value < a.value ? b : a));
  const placed = [];
  for (const [point, label] of [[last, "last"], [highest, "high"], [lowest, "low"]]) {
    const at = Math.min(height - bottom, Math.max(top + 8, y(point.value) + 4));
    if (placed.some((other) => Math.abs(other - at) < 14)) continue;
    placed.push(at);
    svg.append(svgNode("text", { x: width - right + 6, y: at, class: "label " + label }, point.text));
  }
  const firstDay = series.find((p) => p.day);
  svg.append(svgNode("text", { x: left, y: height - 6, class: "axis" }, firstDay ? firstDay.day : ""));
  svg.append(svgNode("text", { x: width - right, y: height - 6, class: "axis", "text-anchor": "end" }, last.day || ""));
  container.append(svg);
}
