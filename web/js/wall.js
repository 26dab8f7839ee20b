// The map wall: filters, the server-binned case heatmap, per-grid choropleths, the live report stream
// (server-sent events) with pulses, the dashboard (totals, trend, top grids, overdue and escalated
// lists), the day replay slider and the full-screen wall mode.

import { api, ApiError, authHeader } from "./api.js";
import { featureName, formatNumber, getLang, t, TIME_ZONE } from "./i18n.js";
import { gridHeat } from "./heat.js";
import { classify } from "./norm.js";
import { pulseLayer } from "./pulses.js";

const L = window.L;
const $ = (id) => document.getElementById(id);

export const METRICS = ["households", "open", "new_today", "overdue"];
const METRIC_INDEX = { open: 0, new_today: 1, overdue: 2 };
const STATUSES = ["reported", "registered", "dispatched", "in_progress", "resolved", "verified", "closed",
  "escalated", "returned", "rejected"];
const SOURCES = ["hotline_12345", "mini_program", "field_app", "patrol"];
const MAX_PULSES = 60;
/** At most this often: ticker and counters after live reports (ms). */
const SLOW_MS = 500;
/** At most this often: the heat canvas after live reports (ms); the pulse shows each report at once. */
const HEAT_LIVE_MS = 2000;
const REFRESH_MS = 60_000;
const WALL_REFRESH_MS = 30_000;
const BUILDINGS_MIN_ZOOM = 15;

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function svg(tag, attrs = {}) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

/** Intl formatters are costly to make (tens of microseconds each); the ticker and the clock format many
 *  times a second, so keep one per language and pattern. */
const FORMATTERS = new Map();
function formatter(name, opts) {
  const key = `${getLang()}|${name}`;
  let f = FORMATTERS.get(key);
  if (!f) {
    f = new Intl.DateTimeFormat(getLang(), { timeZone: TIME_ZONE, ...opts });
    FORMATTERS.set(key, f);
  }
  return f;
}

function fmtTime(iso, withDate = false) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const opts = { hour: "2-digit", minute: "2-digit", hour12: false };
  if (withDate) Object.assign(opts, { month: "2-digit", day: "2-digit" });
  return formatter(withDate ? "datetime" : "time", opts).format(d);
}

function catName(c, row) {
  if (row) return (getLang() === "en" ? row.category_name_en || row.category_name : row.category_name) || row.category;
  return c;
}

/** Beijing date (YYYY-MM-DD) of a Date. */
function beijingDate(d = new Date()) {
  return new Intl.DateTimeFormat("en-CA", { timeZone: TIME_ZONE, year: "numeric", month: "2-digit", day: "2-digit" })
    .format(d);
}

export class Wall {
  constructor({ gridMap, onGrid, onCase, onUnauthorized, onLegend }) {
    this.gridMap = gridMap;
    this.map = gridMap.map;
    this.onGrid = onGrid;
    this.onCase = onCase;
    this.onUnauthorized = onUnauthorized;
    this.onLegend = onLegend;
    this.filters = { window: "today", since: "", until: "", category: "", status: "", source: "" };
    this.metric = "households";
    this.metrics = null; // {grids: {code: [open, new_today, overdue]}}
    this.breaks = [];
    this.summary = null;
    this.heatInfo = null;
    this.categories = [];
    this.queue = [];
    this.ticker = [];
    this.liveState = "off";
    this.replay = null; // {day, points, minute, playing}
    this.ctl = {};
    window.gridmap.pulses = [];
    window.gridmap.frames = { max: 0, over100: 0, count: 0 };

    // Heat above the grid fills, below streets and labels; it never takes clicks.
    this.heat = gridHeat([], {
      radius: 22, blur: 18, maxZoom: 0, max: 10, minOpacity: 0.25,
      gradient: { 0.2: "#1e3a8a", 0.4: "#0891b2", 0.6: "#facc15", 0.8: "#f97316", 1: "#dc2626" },
    });
    this.heatOn = true;
    this.heat.addTo(this.map);
    this.pulseLayer = pulseLayer({ max: MAX_PULSES }).addTo(this.map);
    this.map.on("overlayadd", (e) => { if (e.layer === this.heat) { this.heatOn = true; this.refreshHeat(); } });
    this.map.on("overlayremove", (e) => { if (e.layer === this.heat) this.heatOn = false; });
    document.body.classList.add("heat-on");

    this.buildings = L.vectorGrid.protobuf("/api/v1/tiles/buildings/{z}/{x}/{y}.mvt", {
      pane: "gm-grids",
      minZoom: BUILDINGS_MIN_ZOOM,
      maxNativeZoom: 18,
      interactive: false,
      fetchOptions: { headers: authHeader() },
      vectorTileLayerStyles: {
        buildings: { fill: true, fillColor: "#8795a8", fillOpacity: 0.55, color: "#4b5a6d", weight: 0.6 },
      },
    });
    this.facilities = L.layerGroup();
    gridMap.addOverlay("layer.heat", "heat", this.heat);
    gridMap.addOverlay("layer.buildings", "buildings", this.buildings);
    gridMap.addOverlay("layer.facilities", "facilities", this.facilities);
    this.buildings.addTo(this.map);

    gridMap.tooltipExtra = (f) => this.tooltipRows(f);
    this.map.on("moveend", () => this.scheduleHeat());
    this.wireControls();
    this.watchFrames();
    this.tickClock();
  }

  // ---- filters & controls ----------------------------------------------------------

  params() {
    const f = this.filters;
    const p = { window: f.window, category: f.category, status: f.status, source: f.source };
    if (f.window === "custom") Object.assign(p, { since: f.since, until: f.until });
    return p;
  }

  wireControls() {
    for (const btn of document.querySelectorAll("#f-window button")) {
      btn.addEventListener("click", () => {
        this.filters.window = btn.dataset.window;
        $("f-custom").hidden = btn.dataset.window !== "custom";
        if (btn.dataset.window === "custom" && !this.filters.since) {
          const now = new Date();
          const day = beijingDate(new Date(now.getTime() - 86400_000));
          $("f-since").value = `${day}T00:00`;
          $("f-until").value = `${beijingDate(now)}T00:00`;
          this.filters.since = $("f-since").value;
          this.filters.until = $("f-until").value;
        }
        this.renderWindow();
        this.refreshAll();
      });
    }
    for (const id of ["f-since", "f-until"]) {
      $(id).addEventListener("change", () => {
        this.filters.since = $("f-since").value;
        this.filters.until = $("f-until").value;
        if (this.filters.since && this.filters.until) this.refreshAll();
      });
    }
    for (const [id, key] of [["f-category", "category"], ["f-status", "status"], ["f-source", "source"]]) {
      $(id).addEventListener("change", () => {
        this.filters[key] = $(id).value;
        this.refreshAll();
      });
    }
    $("f-metric").addEventListener("change", () => this.setMetric($("f-metric").value));
    $("wall-toggle").addEventListener("click", () => this.toggleWallMode());
    $("replay-play").addEventListener("click", () => this.togglePlay());
    $("replay-slider").addEventListener("input", () => this.startReplay(Number($("replay-slider").value)));
    $("replay-day").addEventListener("change", () => { this.replay = null; this.startReplay(0); });
    $("replay-exit").addEventListener("click", () => this.stopReplay());
    $("replay-day").value = beijingDate();
    document.addEventListener("fullscreenchange", () => {
      if (!document.fullscreenElement && document.body.classList.contains("wall")) this.toggleWallMode(false);
    });
  }

  renderWindow() {
    for (const btn of document.querySelectorAll("#f-window button")) {
      btn.setAttribute("aria-pressed", btn.dataset.window === this.filters.window ? "true" : "false");
    }
  }

  fillSelects() {
    const fill = (id, items, current) => {
      const sel = $(id);
      sel.replaceChildren(h("option", { value: "", text: t("filter.all") }),
        ...items.map(([v, label]) => h("option", { value: v, text: label })));
      sel.value = current;
    };
    const cats = this.categories.map((c) => [c.code, `${(getLang() === "en" && c.name_en) || c.name}`]);
    fill("f-category", cats, this.filters.category);
    fill("f-status", STATUSES.map((s) => [s, t(`case.${s}`)]), this.filters.status);
    fill("f-source", SOURCES.map((s) => [s, t(`source.${s}`)]), this.filters.source);
    const m = $("f-metric");
    m.replaceChildren(...METRICS.map((k) => h("option", { value: k, text: t(`metric.${k}`) })));
    m.value = this.metric;
  }

  // ---- data --------------------------------------------------------------------------

  async start() {
    try {
      const cats = await api.categories();
      this.categories = cats.items || [];
    } catch (err) {
      console.warn("gridmap: categories", err);
    }
    this.fillSelects();
    this.renderWindow();
    this.loadFacilities();
    await this.refreshAll();
    this.connectLive();
    this.autoRefresh();
  }

  async loadFacilities() {
    try {
      const fc = await api.facilities();
      this.facilities.clearLayers();
      const renderer = L.canvas({ pane: "gm-labels" });
      L.geoJSON(fc, {
        pointToLayer: (f, latlng) => L.circleMarker(latlng, {
          renderer, radius: 4, weight: 1.5, color: "#ffffff", fillColor: "#7c3aed", fillOpacity: 1, interactive: false,
        }),
      }).eachLayer((l) => this.facilities.addLayer(l));
      window.gridmap.facilityCount = this.facilities.getLayers().length;
    } catch (err) {
      console.warn("gridmap: facilities", err);
    }
  }

  autoRefresh() {
    clearTimeout(this.refreshTimer);
    const every = document.body.classList.contains("wall") ? WALL_REFRESH_MS : REFRESH_MS;
    this.refreshTimer = setTimeout(async () => {
      if (!this.replay) await this.refreshAll({ quiet: true });
      this.autoRefresh();
    }, every);
  }

  async guard(name, fn) {
    this.ctl[name]?.abort();
    const ctl = new AbortController();
    this.ctl[name] = ctl;
    try {
      return await fn(ctl.signal);
    } catch (err) {
      if (err?.name === "AbortError") return null;
      if (err instanceof ApiError && err.isUnauthorized) this.onUnauthorized?.();
      else console.error(`gridmap: ${name}`, err);
      document.body.dataset[`${name}Error`] = err?.code || "error";
      return null;
    } finally {
      if (this.ctl[name] === ctl) this.ctl[name] = null;
    }
  }

  async refreshAll() {
    document.body.dataset.wallReady = "0";
    await Promise.all([this.refreshHeat(), this.refreshSummary(), this.refreshMetrics()]);
    window.gridmap.wallReady = true;
    document.body.dataset.wallReady = "1";
  }

  scheduleHeat() {
    clearTimeout(this.heatTimer);
    this.heatTimer = setTimeout(() => this.refreshHeat(), 150);
  }

  async refreshHeat() {
    if (!this.heatOn || this.replay) return;
    const b = this.map.getBounds();
    const clamp = (v, lo, hi) => Math.max(lo, Math.min(hi, v));
    const bbox = [clamp(b.getWest(), -180, 180), clamp(b.getSouth(), -85, 85), clamp(b.getEast(), -180, 180),
      clamp(b.getNorth(), -85, 85)].map((v) => v.toFixed(6)).join(",");
    const zoom = this.map.getZoom();
    await this.guard("heat", async (signal) => {
      const res = await api.heatmap({ ...this.params(), bbox, zoom }, { signal });
      this.heatInfo = res;
      this.drawHeat(res);
    });
  }

  drawHeat(res) {
    const counts = res.cells.map((c) => c[2]).sort((a, b) => a - b);
    // Saturate at the 97th percentile so that one hot cell does not wash the rest out.
    const p97 = counts.length ? counts[Math.floor(counts.length * 0.97)] : 1;
    const metersPerPx = (40075016.686 * Math.cos((this.map.getCenter().lat * Math.PI) / 180))
      / (256 * 2 ** this.map.getZoom());
    const cellPx = res.cell_m / metersPerPx;
    const radius = Math.max(12, Math.min(60, cellPx * 1.1));
    this.heat.setOptions({ radius, blur: radius * 0.85, max: Math.max(1, p97) });
    this.heat.setLatLngs(res.cells.map(([lon, lat, n]) => [lat, lon, n]));
    window.gridmap.heat = { cells: res.count, total: res.total, level: res.level, max: res.max };
    const info = $("heat-info");
    info.textContent = t("heat.info", { n: formatNumber(res.total), cells: formatNumber(res.count),
      m: formatNumber(Math.round(res.cell_m)) });
  }

  async refreshSummary() {
    await this.guard("summary", async (signal) => {
      this.summary = await api.summary(this.params(), { signal });
      this.renderDashboard();
    });
  }

  async refreshMetrics() {
    const { category, source } = this.filters;
    await this.guard("metrics", async (signal) => {
      this.metrics = await api.gridMetrics({ category, source }, { signal });
      window.gridmap.metrics = this.metrics;
      this.applyMetric();
    });
  }

  // ---- choropleth --------------------------------------------------------------------

  setMetric(metric) {
    this.metric = METRICS.includes(metric) ? metric : "households";
    $("f-metric").value = this.metric;
    document.body.dataset.metric = this.metric;
    this.applyMetric();
  }

  metricValue(code) {
    const row = this.metrics?.grids?.[code];
    return row ? row[METRIC_INDEX[this.metric]] : 0;
  }

  applyMetric() {
    if (this.metric === "households") {
      this.gridMap.restyleGrids((f) => classify(f.properties?.households));
    } else {
      const values = [];
      for (const layer of this.gridMap.gridIndex.values()) {
        const v = this.metricValue(String(layer.feature.properties?.code));
        if (v > 0) values.push(v);
      }
      values.sort((a, b) => a - b);
      const q = (p) => values.length ? values[Math.min(values.length - 1, Math.floor(values.length * p))] : 1;
      // Upper bounds of classes 1-3 (class 0 is "none", class 4 is above the last bound).
      const b = [...new Set([q(0.5), q(0.8), q(0.95)].map((v) => Math.max(1, v)))].sort((x, y) => x - y);
      this.breaks = b;
      this.gridMap.restyleGrids((f) => {
        const v = this.metricValue(String(f.properties?.code));
        if (!v) return "c0";
        const i = b.findIndex((x) => v <= x);
        return `c${i < 0 ? 4 : i + 1}`;
      });
    }
    this.onLegend?.();
  }

  /** Legend for a count metric: [{cls, label, n}], or null for households (app.js draws that one). */
  legendRows() {
    if (this.metric === "households") return null;
    const b = this.breaks;
    const rows = [{ cls: "c0", label: t("legend.none") }];
    let lo = 1;
    b.forEach((hi, i) => {
      rows.push({ cls: `c${i + 1}`, label: lo === hi ? formatNumber(hi) : `${formatNumber(lo)}–${formatNumber(hi)}` });
      lo = hi + 1;
    });
    rows.push({ cls: `c4`, label: `> ${formatNumber(b[b.length - 1] ?? 0)}` });
    const counts = {};
    for (const layer of this.gridMap.gridIndex.values()) {
      const cls = this.gridMap.gridClass(layer.feature);
      counts[cls] = (counts[cls] || 0) + 1;
    }
    return rows.map((r) => ({ ...r, n: counts[r.cls] || 0 }));
  }

  tooltipRows(f) {
    const row = this.metrics?.grids?.[String(f.properties?.code)] || [0, 0, 0];
    return `<span class="gm-tip__row gm-tip__cases">${t("tooltip.cases", {
      open: formatNumber(row[0]), today: formatNumber(row[1]), overdue: formatNumber(row[2]) })}</span>`;
  }

  // ---- dashboard ---------------------------------------------------------------------

  renderDashboard() {
    const s = this.summary;
    if (!s) return;
    for (const key of ["new", "open", "overdue", "escalated", "closed"]) {
      const el = $(`kpi-${key}`);
      el.textContent = formatNumber(s.totals[key]);
      el.dataset.value = String(s.totals[key]);
    }
    $("kpi-new-label").textContent = t(`kpi.new.${s.window}`);
    this.renderTrend(s.trend);
    this.renderTopGrids(s.top_grids, s.norm);
    this.renderCases("overdue-list", s.overdue, "overdue");
    this.renderCases("escalated-list", s.escalated, "escalated");
    $("dash-updated").textContent = t("dash.updated", { time: fmtTime(new Date().toISOString()) });
  }

  renderTrend(trend) {
    const box = $("trend");
    box.replaceChildren();
    const pts = trend?.points || [];
    $("trend-title").textContent = t(`trend.${trend?.bucket || "day"}`);
    if (!pts.length) {
      box.append(h("p", { class: "dash__empty", text: t("dash.noData") }));
      return;
    }
    const W = 360;
    const H = 96;
    const max = Math.max(...pts.map((p) => p[1]), 1);
    const bw = W / pts.length;
    const chart = svg("svg", { viewBox: `0 0 ${W} ${H + 16}`, class: "trend", role: "img",
      "aria-label": t("trend.aria", { n: pts.length }) });
    for (const frac of [0.5, 1]) {
      chart.append(svg("line", { x1: 0, x2: W, y1: H - frac * H + 0.5, y2: H - frac * H + 0.5, class: "trend__grid" }));
    }
    pts.forEach(([at, n], i) => {
      const bh = Math.max(n ? 2 : 0, (n / max) * (H - 16));
      const r = svg("rect", { x: i * bw + bw * 0.12, y: H - bh, width: Math.max(1, bw * 0.76), height: bh,
        class: i === pts.length - 1 ? "trend__bar trend__bar--last" : "trend__bar" });
      const title = svg("title");
      title.textContent = `${trend.bucket === "day" ? at.slice(5, 10) : fmtTime(at)}: ${formatNumber(n)}`;
      r.append(title);
      chart.append(r);
    });
    const label = (i, anchor) => {
      const txt = svg("text", { x: anchor === "end" ? W : 0, y: H + 14, "text-anchor": anchor, class: "trend__axis" });
      const at = pts[i][0];
      txt.textContent = trend.bucket === "day" ? at.slice(5, 10) : fmtTime(at);
      chart.append(txt);
    };
    label(0, "start");
    label(pts.length - 1, "end");
    const peak = svg("text", { x: W, y: 10, "text-anchor": "end", class: "trend__axis" });
    peak.textContent = t("trend.peak", { n: formatNumber(max) });
    chart.append(peak);
    box.append(chart);
  }

  renderTopGrids(rows, norm) {
    const list = $("top-grids");
    list.replaceChildren();
    if (!rows?.length) {
      list.append(h("li", { class: "dash__empty", text: t("dash.noData") }));
      return;
    }
    const max = Math.max(...rows.map((r) => r.open), 1);
    for (const r of rows.slice(0, 8)) {
      const cls = classify(r.households, norm);
      list.append(h("li", {},
        h("button", { type: "button", class: "rank", "data-code": r.code, onclick: () => this.onGrid?.(r.code) },
          h("span", { class: "rank__name", text: featureName(r) || r.code }),
          h("span", { class: `rank__hh pill--${cls}`, title: t(`status.${cls}`),
            text: t("dash.households", { n: formatNumber(r.households) }) }),
          h("span", { class: "rank__bar" }, h("span", { style: `width:${((r.open / max) * 100).toFixed(1)}%` })),
          h("span", { class: "rank__n", text: formatNumber(r.open) }),
          r.overdue ? h("span", { class: "rank__od", text: t("dash.overdueN", { n: formatNumber(r.overdue) }) }) : null)));
    }
  }

  renderCases(id, rows, kind) {
    const list = $(id);
    list.replaceChildren();
    $(`${id}-count`).textContent = formatNumber(kind === "overdue" ? this.summary.totals.overdue
      : this.summary.totals.escalated);
    if (!rows?.length) {
      list.append(h("li", { class: "dash__empty", text: t("dash.none") }));
      return;
    }
    for (const r of rows.slice(0, 8)) {
      const grid = (getLang() === "en" ? r.grid_name_en || r.grid_name : r.grid_name) || r.grid_code || "–";
      const late = kind === "overdue"
        ? t("dash.late", { h: formatNumber(Math.round(r.overdue_hours)) })
        : fmtTime(r.updated_at, true);
      list.append(h("li", {},
        h("button", { type: "button", class: `case case--${kind}`, "data-case": r.id, onclick: () => this.onCase?.(r.id) },
          h("span", { class: "case__cat", text: catName(r.category, r) }),
          h("span", { class: "case__grid", text: grid }),
          h("span", { class: "case__late", text: late }))));
    }
  }

  // ---- live --------------------------------------------------------------------------

  setLive(state) {
    this.liveState = state;
    const el = $("live");
    el.dataset.state = state;
    $("live-text").textContent = t(`live.${state}`);
    window.gridmap.live = state;
  }

  async connectLive() {
    clearTimeout(this.liveRetry);
    this.es?.close();
    this.setLive("connecting");
    let ticket;
    try {
      ({ ticket } = await api.streamTicket());
    } catch (err) {
      if (err instanceof ApiError && err.isUnauthorized) { this.onUnauthorized?.(); return; }
      this.setLive("off");
      this.liveRetry = setTimeout(() => this.connectLive(), 3000);
      return;
    }
    // After a dropped connection, ask for the reports received meanwhile (the server replays them first).
    const after = this.lastReportId ? `&after=${this.lastReportId}` : "";
    const es = new EventSource(`/api/v1/wall/stream?ticket=${encodeURIComponent(ticket)}${after}`);
    this.es = es;
    es.addEventListener("hello", () => this.setLive("on"));
    es.addEventListener("report", (ev) => {
      try {
        const report = JSON.parse(ev.data);
        this.lastReportId = Math.max(this.lastReportId || 0, report.id || 0);
        this.enqueue(report);
      } catch (err) {
        console.warn("gridmap: bad live event", err);
      }
    });
    es.addEventListener("resync", () => this.refreshAll());
    es.onerror = () => {
      if (es.readyState === EventSource.CLOSED) {
        // The ticket has expired (or the server restarted): fetch a new one.
        this.setLive("off");
        this.liveRetry = setTimeout(() => this.connectLive(), 1500);
      } else {
        this.setLive("connecting");
      }
    };
  }

  matches(ev) {
    const f = this.filters;
    if (f.category && ev.category !== f.category) return false;
    if (f.source && ev.source !== f.source) return false;
    if (f.status && f.status !== "reported") return false;
    return f.window !== "custom";
  }

  enqueue(ev) {
    window.gridmap.received = (window.gridmap.received || 0) + 1;
    this.queue.push(ev);
    if (!this.frame) this.frame = requestAnimationFrame(() => this.flush());
  }

  /** Apply the events of one frame at once. Only cheap work happens per frame (pulse markers, heat points
   *  queued); the costly repaints (the heat canvas, the ticker and the counters) run at most every
   *  SLOW_MS, so that a burst of 100 reports/s never holds a frame. */
  flush() {
    this.frame = 0;
    const batch = this.queue.splice(0);
    const now = Date.now();
    let added = 0;
    for (const ev of batch) {
      if (!this.matches(ev)) continue;
      added += 1;
      if (ev.lon === null || ev.lon === undefined) continue;
      if (!this.replay && this.heatOn) {
        this.heat._latlngs.push([ev.lat, ev.lon, Math.max(1, this.heat.options.max / 3)]);
        this.heatDirty = true;
      }
      this.pulseLayer.add([ev.lat, ev.lon], ev.id);
      const seen = window.gridmap.pulses;
      seen.push({ id: ev.id, at: now, notified: ev.notified_at });
      if (seen.length > 20_000) seen.splice(0, seen.length - 10_000);
      this.ticker.unshift(ev);
    }
    if (!added) return;
    if (this.heatDirty && !this.heatTimer2) {
      const wait = Math.max(0, HEAT_LIVE_MS - (performance.now() - (this.lastHeat || 0)));
      this.heatTimer2 = setTimeout(() => this.paintHeat(), wait);
    }
    this.ticker.length = Math.min(this.ticker.length, 6);
    if (this.summary) {
      this.summary.totals.new += added;
      this.summary.totals.open += added;
    }
    const wait = this.lastSlow ? SLOW_MS - (performance.now() - this.lastSlow) : 0;
    if (wait <= 0) this.slowPaint();
    else if (!this.slowTimer) this.slowTimer = setTimeout(() => this.slowPaint(), wait);
    // Grid metrics and lists catch up a few seconds later (one refresh for a burst of reports).
    clearTimeout(this.catchUp);
    this.catchUp = setTimeout(() => { this.refreshMetrics(); this.refreshSummary(); }, 4000);
  }

  /** The live reports' share of the heat canvas: one redraw every HEAT_LIVE_MS at most. */
  paintHeat() {
    clearTimeout(this.heatTimer2);
    this.heatTimer2 = 0;
    this.lastHeat = performance.now();
    if (this.heatDirty && !this.replay && this.heatOn) this.heat.redraw();
    this.heatDirty = false;
  }

  /** The repaints a live report needs beyond its pulse: the ticker and the two counters. No animation here:
   *  without a GPU every animated frame recomposites the whole screen, so the dashboard changes in steps
   *  (twice a second at most) and only the pulses move. */
  slowPaint() {
    clearTimeout(this.slowTimer);
    this.slowTimer = 0;
    this.lastSlow = performance.now();
    this.renderTicker();
    if (this.summary) {
      for (const key of ["new", "open"]) {
        const el = $(`kpi-${key}`);
        if (el.dataset.value === String(this.summary.totals[key])) continue;
        el.textContent = formatNumber(this.summary.totals[key]);
        el.dataset.value = String(this.summary.totals[key]);
      }
    }
  }

  /** Six ticker rows, kept: each repaint only changes the text of the rows whose report changed. */
  renderTicker() {
    const list = $("ticker");
    while (list.children.length > this.ticker.length) list.lastElementChild.remove();
    this.ticker.forEach((ev, i) => {
      let li = list.children[i];
      if (!li) {
        li = h("li", { class: "ticker__item" }, h("span", { class: "ticker__time" }), h("span", { class: "ticker__cat" }),
          h("span", { class: "ticker__where" }), h("span", { class: "ticker__src" }));
        list.append(li);
      }
      const key = `${ev.id}|${getLang()}`;
      if (li.dataset.key === key) return;
      const cat = this.categories.find((c) => c.code === ev.category);
      const name = cat ? ((getLang() === "en" && cat.name_en) || cat.name) : ev.category;
      const grid = ev.grid ? this.gridMap.gridIndex.get(String(ev.grid))?.feature?.properties : null;
      const [time, catEl, where, src] = li.children;
      time.textContent = fmtTime(ev.reported_at);
      catEl.textContent = name;
      where.textContent = grid ? featureName(grid) : t("live.unrouted");
      src.textContent = t(`source.${ev.source}`);
      li.dataset.report = String(ev.id);
      li.dataset.key = key;
    });
  }

  /** Longest frame while the page runs (for the 100 reports/s responsiveness check). */
  watchFrames() {
    let last = performance.now();
    const loop = (ts) => {
      const gap = ts - last;
      last = ts;
      const f = window.gridmap.frames;
      f.count += 1;
      if (gap > f.max) f.max = gap;
      if (gap > 100) f.over100 += 1;
      requestAnimationFrame(loop);
    };
    requestAnimationFrame(loop);
  }

  tickClock() {
    const el = $("clock");
    const day = $("clock-date");
    const fmt = () => {
      const d = new Date();
      el.textContent = formatter("clock", { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false })
        .format(d);
      el.dateTime = d.toISOString();
      const date = formatter("clockDate", { month: "long", day: "numeric", weekday: "short" }).format(d);
      if (day.textContent !== date) day.textContent = date;
    };
    this.clockFmt = fmt; // a language switch repaints it at once, not at the next tick
    fmt();
    setInterval(fmt, 1000);
  }

  // ---- replay ------------------------------------------------------------------------

  async startReplay(minute) {
    const day = $("replay-day").value || beijingDate();
    if (!this.replay || this.replay.day !== day) {
      const { category, status, source } = this.filters;
      const res = await this.guard("replay", (signal) => api.replay({ day, category, status, source }, { signal }));
      if (!res) return;
      this.replay = { day, points: res.points, minute: 0, playing: false };
      document.body.classList.add("replaying");
      $("replay-exit").hidden = false;
    }
    this.replay.minute = minute;
    $("replay-slider").value = String(minute);
    const secs = minute * 60;
    let n = 0;
    while (n < this.replay.points.length && this.replay.points[n][0] <= secs) n += 1;
    const shown = this.replay.points.slice(0, n);
    this.heat.setOptions({ radius: 18, blur: 14, max: 3 });
    this.heat.setLatLngs(shown.map((p) => [p[2], p[1], 1]));
    const hh = String(Math.floor(minute / 60)).padStart(2, "0");
    const mm = String(minute % 60).padStart(2, "0");
    $("replay-time").textContent = `${hh}:${mm}`;
    $("replay-count").textContent = t("replay.count", { n: formatNumber(n) });
    window.gridmap.replay = { day, minute, shown: n, total: this.replay.points.length };
  }

  togglePlay() {
    if (this.replay?.playing) {
      this.replay.playing = false;
      clearInterval(this.playTimer);
      $("replay-play").setAttribute("aria-pressed", "false");
      return;
    }
    const begin = async () => {
      if (!this.replay) await this.startReplay(0);
      if (!this.replay) return;
      this.replay.playing = true;
      $("replay-play").setAttribute("aria-pressed", "true");
      // A day in about 24 s: ten minutes every 166 ms.
      this.playTimer = setInterval(() => {
        const next = this.replay.minute + 10;
        if (next >= 1440) { this.togglePlay(); return; }
        this.startReplay(next);
      }, 166);
    };
    begin();
  }

  stopReplay() {
    clearInterval(this.playTimer);
    this.replay = null;
    document.body.classList.remove("replaying");
    $("replay-exit").hidden = true;
    $("replay-play").setAttribute("aria-pressed", "false");
    $("replay-time").textContent = "";
    $("replay-count").textContent = "";
    this.refreshHeat();
  }

  // ---- wall mode ---------------------------------------------------------------------

  toggleWallMode(on = !document.body.classList.contains("wall")) {
    document.body.classList.toggle("wall", on);
    $("wall-toggle").setAttribute("aria-pressed", on ? "true" : "false");
    if (on && !document.fullscreenElement) document.documentElement.requestFullscreen?.().catch(() => {});
    if (!on && document.fullscreenElement) document.exitFullscreen?.().catch(() => {});
    setTimeout(() => { this.map.invalidateSize(); this.gridMap.updateLabels(); }, 60);
    this.autoRefresh();
  }

  relabel() {
    this.clockFmt?.();
    this.fillSelects();
    this.renderDashboard();
    this.renderTicker();
    this.setLive(this.liveState);
    if (this.heatInfo) this.drawHeat(this.heatInfo);
    if (this.replay) this.startReplay(this.replay.minute);
  }
}
