// The printable daily/shift report (web/report.html): KPIs, the trend, a map snapshot of open cases per grid,
// the grids with the most open cases and the overdue and escalated lists, for the filters in the address
// (the wall opens it with its own). Everything comes from the wall's API; the map is an SVG drawn from the
// grid polygons, so it prints sharp and needs no tiles.

import { api, apiGet, takeKeyFromLocation } from "./api.js";
import { featureName, formatNumber, formatOverdue, getLang, setLang, t, TIME_ZONE } from "./i18n.js";
import { trendChart } from "./trend.js";

const $ = (id) => document.getElementById(id);
const LIST_MAX = 50;
const COLOURS = ["#e8edf2", "#fde68a", "#fbbf24", "#f97316", "#dc2626"]; // the wall's choropleth (wall.css --c0…c4)

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined) continue;
    if (k === "text") el.textContent = v;
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : String(c));
  return el;
}

function svgEl(tag, attrs = {}) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

const fmt = (iso, opts = { dateStyle: "medium", timeStyle: "short" }) => (iso
  ? new Intl.DateTimeFormat(getLang(), { ...opts, timeZone: TIME_ZONE }).format(new Date(iso)) : "–");

function params() {
  const q = new URLSearchParams(window.location.search);
  const out = {};
  for (const k of ["window", "since", "until", "category", "status", "source"]) if (q.get(k)) out[k] = q.get(k);
  return out;
}

function renderKpis(s) {
  const rows = [[t(`kpi.new.${s.window}`), s.totals.new], [t("kpi.open"), s.totals.open],
    [t("kpi.overdue"), s.totals.overdue], [t("kpi.escalated"), s.totals.escalated], [t("kpi.closed"), s.totals.closed]];
  $("rep-kpis").replaceChildren(...rows.map(([k, v]) => h("div", { class: "rep-kpi" }, h("dt", { text: k }),
    h("dd", { text: formatNumber(v) }))));
}

function renderList(kind, page, total) {
  const table = $(`rep-${kind}`);
  const head = h("tr", {}, ...[t("case.id"), t("export.col.category_name"), t("case.grid"), t("export.col.status"),
    kind === "overdue" ? t("export.col.overdue") : t("export.col.updated_at")].map((x) => h("th", { text: x })));
  const body = page.items.map((r) => h("tr", {},
    h("td", { text: String(r.id) }),
    h("td", { text: (getLang() === "en" ? r.category_name_en || r.category_name : r.category_name) || r.category }),
    h("td", { text: (getLang() === "en" ? r.grid_name_en || r.grid_name : r.grid_name) || r.grid_code || "–" }),
    h("td", { text: t(`case.${r.status}`) }),
    h("td", { text: kind === "overdue" ? formatOverdue(Math.max(r.overdue_hours, 1e-9)) : fmt(r.updated_at) })));
  table.replaceChildren(h("thead", {}, head), h("tbody", {}, body.length ? body
    : h("tr", {}, h("td", { colspan: 5, text: t("dash.none") }))));
  $(`rep-${kind}-n`).textContent = `(${formatNumber(total)})`;
  const more = total - page.items.length;
  $(`rep-${kind}-more`).hidden = more <= 0;
  $(`rep-${kind}-more`).textContent = t("report.more", { n: formatNumber(more) });
}

function renderTop(rows) {
  const head = h("tr", {}, h("th", { text: "#" }), h("th", { text: t("report.col.grid") }),
    h("th", { text: t("report.col.open") }), h("th", { text: t("report.col.overdue") }));
  $("rep-top").replaceChildren(h("thead", {}, head), h("tbody", {}, rows.slice(0, 10).map((r, i) => h("tr", {},
    h("td", { text: String(i + 1) }), h("td", { text: featureName(r) || r.code }),
    h("td", { text: formatNumber(r.open) }), h("td", { text: formatNumber(r.overdue) })))));
}

/** Grids coloured by open cases (quantile classes as on the wall), streets outlined, in an equirectangular
 *  projection scaled by the latitude's cosine (good enough for a district). */
function renderMap(grids, streets, metrics) {
  const open = (code) => metrics.grids?.[code]?.[0] || 0;
  const values = grids.features.map((f) => open(f.properties.code)).filter((v) => v > 0).sort((a, b) => a - b);
  const q = (p) => (values.length ? values[Math.min(values.length - 1, Math.floor(values.length * p))] : 1);
  const breaks = [...new Set([q(0.5), q(0.8), q(0.95)])].sort((a, b) => a - b);
  const cls = (v) => (v ? (breaks.findIndex((b) => v <= b) + 1 || 4) : 0);
  let [x0, y0, x1, y1] = [Infinity, Infinity, -Infinity, -Infinity];
  const rings = (g) => (g.type === "Polygon" ? [g.coordinates] : g.type === "MultiPolygon" ? g.coordinates : []);
  for (const f of grids.features) {
    for (const poly of rings(f.geometry)) for (const [x, y] of poly[0]) {
      x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
    }
  }
  const k = Math.cos(((y0 + y1) / 2) * Math.PI / 180);
  const W = 1000;
  const H = Math.round((W * (y1 - y0)) / ((x1 - x0) * k)) || 600;
  const px = ([x, y]) => `${(((x - x0) / (x1 - x0)) * W).toFixed(1)},${(((y1 - y) / (y1 - y0)) * H).toFixed(1)}`;
  const path = (g) => rings(g).map((poly) => poly.map((ring) => `M${ring.map(px).join("L")}Z`).join("")).join("");
  const svg = svgEl("svg", { viewBox: `0 0 ${W} ${H}`, class: "rep-map__svg", role: "img", "aria-label": t("report.map") });
  for (const f of grids.features) {
    svg.append(svgEl("path", { d: path(f.geometry), fill: COLOURS[cls(open(f.properties.code))], stroke: "#7b8794",
      "stroke-width": 0.4, "data-code": f.properties.code }));
  }
  for (const f of streets.features || []) {
    if (f.geometry) svg.append(svgEl("path", { d: path(f.geometry), fill: "none", stroke: "#16324d", "stroke-width": 1.6 }));
  }
  $("rep-map").replaceChildren(svg);
  let lo = 1;
  const legend = [[0, t("legend.none")]];
  breaks.forEach((b, i) => { legend.push([i + 1, lo === b ? formatNumber(b) : `${formatNumber(lo)}–${formatNumber(b)}`]); lo = b + 1; });
  legend.push([4, `> ${formatNumber(breaks[breaks.length - 1] ?? 0)}`]);
  $("rep-legend").replaceChildren(...legend.map(([c, label]) => h("li", {},
    h("span", { class: "rep-swatch", style: `background:${COLOURS[c]}` }), label)));
}

async function main() {
  const p = params();
  const lang = new URLSearchParams(window.location.search).get("lang");
  await setLang(lang === "en" ? "en" : "zh-CN", { persist: false });
  document.title = `gridmap · ${t("report.title")}`;
  $("rep-print").addEventListener("click", () => window.print());
  takeKeyFromLocation();
  try {
    const [s, overdue, escalated, grids, streets, metrics] = await Promise.all([
      api.summary(p),
      apiGet("wall/lists/overdue", { params: { ...p, limit: LIST_MAX } }),
      apiGet("wall/lists/escalated", { params: { ...p, limit: LIST_MAX } }),
      api.grids(),
      api.streets(),
      api.gridMetrics({ category: p.category, source: p.source }),
    ]);
    const filters = [p.category && `${t("filter.category")}: ${p.category}`,
      p.status && `${t("filter.status")}: ${p.status.split(",").map((x) => t(`case.${x}`)).join(", ")}`,
      p.source && `${t("filter.source")}: ${p.source.split(",").map((x) => t(`source.${x}`)).join(", ")}`].filter(Boolean);
    // A live window reaches 10 minutes ahead (intake accepts clocks that run fast): the period ends now.
    const until = new Date(Math.min(new Date(s.until), new Date(s.generated_at))).toISOString();
    $("rep-meta").textContent = [`${t("report.window")}: ${t(`window.${s.window}`)} (${fmt(s.since)} – ${fmt(until)})`,
      ...filters, `${t("report.generated")} ${fmt(s.generated_at, { dateStyle: "medium", timeStyle: "medium" })}`].join(" · ");
    renderKpis(s);
    $("rep-trend-title").textContent = t(`trend.${s.trend?.bucket || "day"}`);
    $("rep-trend").replaceChildren(trendChart(s.trend, { width: 420, height: 110 })
      || h("p", { text: t("dash.noData") }));
    renderMap(grids, streets, metrics);
    renderTop(s.top_grids);
    renderList("overdue", overdue, overdue.total);
    renderList("escalated", escalated, escalated.total);
    $("rep").hidden = false;
    $("rep-status").hidden = true;
    document.body.dataset.ready = "1";
  } catch (err) {
    $("rep-status").textContent = t("report.failed", { reason: err?.title || err?.code || String(err) });
    $("rep-status").classList.add("rep-status--error");
    document.body.dataset.ready = "error";
  }
}

main();
