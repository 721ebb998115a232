"use strict";
// DOM helpers of the sparring viewer. Every string that comes from a store (model output,
// prompts, parse results, explanations, ids) reaches the page through text nodes or
// attribute setters, never through innerHTML, so it is shown as text and never runs.
const SV = {};

SV.set = function (node, attrs) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.setAttribute("class", value);
    else if (key === "text") node.textContent = String(value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "href") node.setAttribute("href", SV.href(value));
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  return node;
};

SV.add = function (node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
};

// el("div", {class: "x"}, "text", child, [more]) builds an element; strings become text nodes.
SV.el = (tag, attrs, ...children) => SV.add(SV.set(document.createElement(tag), attrs), children);
SV.svg = (tag, attrs, ...children) =>
  SV.add(SV.set(document.createElementNS("http://www.w3.org/2000/svg", tag), attrs), children);

// Links stay inside the page: only "#/..." routes, never a scheme a string could smuggle in.
SV.href = (value) => (String(value).startsWith("#") ? String(value) : "#");

SV.clear = function (node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
};

SV.fmt = function (value) {
  if (value === null || value === undefined) return "–";
  if (typeof value !== "number") return String(value);
  if (Number.isInteger(value)) return String(value);
  return Math.abs(value) >= 1000 || Math.abs(value) < 0.001 && value !== 0 ? value.toPrecision(3) : value.toFixed(3);
};

SV.json = (value) => JSON.stringify(value, null, 2);

// A text block: pre-wrapped, long lines broken anywhere, tall ones scroll inside.
SV.pre = (text, cls) => SV.el("pre", {class: "text " + (cls || "")}, text === null || text === undefined ? "" : String(text));

SV.table = function (headers, rows, cls) {
  return SV.el("table", {class: cls || ""},
    SV.el("thead", {}, SV.el("tr", {}, headers.map((h) => SV.el("th", {}, h)))),
    SV.el("tbody", {}, rows.map((cells) => SV.el("tr", {}, cells.map((c) => SV.el("td", {}, c))))));
};

SV.palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22"];
