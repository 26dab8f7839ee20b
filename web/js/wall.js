// The map wall: filters, the server-binned case heatmap, per-grid choropleths, the live report stream
// (server-sent events) with pulses, the dashboard (totals, trend, top grids, overdue and escalated
// lists), the day replay slider and the full-screen wall mode.

import { api, apiGet, ApiError, authHeader } from "./api.js";
import { featureName, formatNumber, formatOverdue, getLang, t, TIME_ZONE } from "./i18n.js";
import { gridHeat, HEAT_GRADIENT } from "./heat.js";
import { classify } from "./norm.js";
import { pulseLayer } from "./pulses.js";
import { trendChart } from "./trend.js";
import { h } from "./ui.js";

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
/** A request still unanswered after this long turns the light amber and says so (ms). */
const LATE_MS = 5000;
/** After a failed refresh, try again this soon (ms). */
const RETRY_MS = 10_000;
/** Wall mode turns the pages of the overdue and escalated lists this often (a wall has no mouse). */
const CYCLE_MS = 8000;
const LISTS = ["overdue", "escalated"];
const BUILDINGS_MIN_ZOOM = 15;

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

/** A failed request in a few words for the banner. */
function describe(err) {
  if (err instanceof ApiError) {
    if (err.code === "network") return t("error.network");
    return `${err.title || err.code} (HTTP ${err.status})`;
  }
  return String(err?.message || err);
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
    // The window is the server's default (GRIDMAP_WALL_DEFAULT_WINDOW, the last 24 hours) until one is chosen;
    // `?window=7d` in the address picks another for a wall that should open on it.
    const asked = new URLSearchParams(window.location.search).get("window");
    this.filters = { window: asked || null, since: "", until: "", category: "", status: "", source: "" };
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
    // Health of what is on screen: requests in flight (name -> start), failures (name -> error), and for the
    // figures shown, the filters they were computed for and when (so a failed refresh can grey them "as of",
    // and a failed change of filters can clear the ones that would sit under a label they do not belong to).
    this.pending = new Map();
    this.failures = new Map();
    this.gen = 0;
    this.shown = null; // {filterKey, windowKey, at}
    this.lists = { overdue: { page: 0, items: null, total: 0 }, escalated: { page: 0, items: null, total: 0 } };
    window.gridmap.pulses = [];
    window.gridmap.frames = { max: 0, over100: 0, count: 0 };

    // Heat above the grid fills, below streets and labels; it never takes clicks.
    // Violet to white: a palette of its own, never the choropleths' yellow to red or the households'
    // blue/green/orange. Intensity is scaled to the window in the layer itself (web/js/heat.js). No maxZoom
    // option: Leaflet's layer control disables the checkbox of a layer whose maxZoom is below the map's zoom.
    this.heat = gridHeat([], { radius: 22, blur: 18, minOpacity: 0.05, gradient: HEAT_GRADIENT });
    this.heatOn = true;
    this.heat.addTo(this.map);
    this.heat.on("heatdrawn", (e) => {
      if (this.shownScale === e.scaleMax) return;
      this.shownScale = e.scaleMax;
      this.renderHeatInfo();
    });
    this.pulseLayer = pulseLayer({ max: MAX_PULSES }).addTo(this.map);
    this.map.on("overlayadd", (e) => {
      if (e.layer !== this.heat) return;
      this.heatOn = true;
      document.body.classList.add("heat-on");
      if (this.replay) this.startReplay(this.replay.minute); else this.refreshHeat();
      this.renderHeatInfo();
    });
    this.map.on("overlayremove", (e) => {
      if (e.layer !== this.heat) return;
      this.heatOn = false;
      document.body.classList.remove("heat-on");
      this.renderHeatInfo();
    });
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
    // Zooming to a grid keeps it clear of the replay bar at the bottom of the map.
    gridMap.bottomInset = () => {
      const bar = $("replay");
      return bar ? Math.max(0, this.map.getContainer().getBoundingClientRect().bottom - bar.getBoundingClientRect().top) : 0;
    };
    // The case shown in the side panel gets a pin where it was reported (web/js/panel.js announces it).
    document.addEventListener("gridmap:case", (ev) => this.showCasePin(ev.detail));
    document.addEventListener("gridmap:panel-closed", () => this.showCasePin(null));
    this.map.on("moveend", () => this.scheduleHeat());
    this.wireControls();
    this.watchFrames();
    this.tickClock();
  }

  // ---- filters & controls ----------------------------------------------------------

  params() {
    const f = this.filters;
    const p = { category: f.category, status: f.status, source: f.source };
    if (f.window) p.window = f.window;
    if (f.window === "custom") Object.assign(p, { since: f.since, until: f.until });
    return p;
  }

  /** What the window-independent figures (open, overdue, escalated, lists) depend on. */
  filterKey() {
    const f = this.filters;
    return [f.category, f.status, f.source].join("|");
  }

  /** What the window's figures (new, closed, trend, heat) depend on besides the filters. */
  windowKey() {
    const f = this.filters;
    return f.window === "custom" ? `custom|${f.since}|${f.until}` : String(f.window || "");
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
    $("wall-alert-retry").addEventListener("click", () => this.refreshAll());
    for (const kind of LISTS) {
      $(`${kind}-prev`).addEventListener("click", () => this.turnPage(kind, -1));
      $(`${kind}-next`).addEventListener("click", () => this.turnPage(kind, +1));
    }
    for (const btn of document.querySelectorAll("[data-export]")) {
      btn.addEventListener("click", () => this.download(btn.dataset.export, btn.dataset.format));
    }
    $("report-open").addEventListener("click", () => this.openReport());
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

  /**
   * Run one named request: a newer request of the same name aborts it (so an answer for the filters before a
   * click can never land after the one for the filters after it), it is timed (LATE_MS: amber light, "slow"),
   * and its failure is recorded for the banner and the light instead of only the console.
   */
  async guard(name, fn) {
    this.ctl[name]?.abort();
    const ctl = new AbortController();
    this.ctl[name] = ctl;
    this.pending.set(name, Date.now());
    clearTimeout(this.lateTimer);
    this.lateTimer = setTimeout(() => this.renderHealth(), LATE_MS + 50);
    try {
      const out = await fn(ctl.signal);
      if (this.ctl[name] === ctl) this.failures.delete(name);
      delete document.body.dataset[`${name}Error`];
      return out;
    } catch (err) {
      if (err?.name === "AbortError") return null;
      if (err instanceof ApiError && err.isUnauthorized) this.onUnauthorized?.();
      else console.error(`gridmap: ${name}`, err);
      if (this.ctl[name] === ctl) this.failures.set(name, err);
      document.body.dataset[`${name}Error`] = err?.code || "error";
      return null;
    } finally {
      if (this.ctl[name] === ctl) {
        this.ctl[name] = null;
        this.pending.delete(name);
      }
      this.renderHealth();
    }
  }

  async refreshAll() {
    this.gen += 1;
    document.body.dataset.wallReady = "0";
    document.getElementById("dash").classList.add("is-pending");
    await Promise.all([this.refreshHeat(), this.refreshSummary(), this.refreshMetrics()]);
    document.getElementById("dash").classList.remove("is-pending");
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
    const key = `${this.filterKey()}#${this.windowKey()}`;
    const res = await this.guard("heat", (signal) => api.heatmap({ ...this.params(), bbox, zoom }, { signal }));
    if (res) {
      this.heatKey = key;
      this.heatInfo = res;
      this.drawHeat(res);
    } else if (this.failures.has("heat") && this.heatKey !== key) {
      // The heat on screen is another window's or filter's: take it away rather than show it under this one.
      this.heatInfo = null;
      this.heatKey = null;
      this.heat.setLatLngs([]);
      this.renderHeatInfo();
    }
  }

  drawHeat(res) {
    const metersPerPx = (40075016.686 * Math.cos((this.map.getCenter().lat * Math.PI) / 180))
      / (256 * 2 ** this.map.getZoom());
    const cellPx = res.cell_m / metersPerPx;
    const radius = Math.max(12, Math.min(60, cellPx * 1.1));
    this.heat.setOptions({ radius, blur: radius * 0.85 });
    this.heat.setLatLngs(res.cells.map(([lon, lat, n]) => [lat, lon, n]));
    window.gridmap.heat = { cells: res.count, total: res.total, level: res.level, max: res.max };
    this.renderHeatInfo();
  }

  /** The heat chip: what the heat shows (live window or the replayed moment) and its scale. */
  renderHeatInfo() {
    const info = $("heat-info");
    const scale = this.heat.scaleMax ? ` · ${t("heat.scale", { n: formatNumber(Math.round(this.heat.scaleMax)) })}` : "";
    if (!this.heatOn) {
      info.textContent = "";
      info.hidden = true;
    } else if (this.replay) {
      info.hidden = false;
      info.textContent = t("heat.replay", { time: $("replay-time").textContent, n: formatNumber(this.replay.shown || 0) });
    } else if (this.heatInfo) {
      info.hidden = false;
      const res = this.heatInfo;
      info.textContent = t("heat.info", { n: formatNumber(res.total), cells: formatNumber(res.count),
        m: formatNumber(Math.round(res.cell_m)) }) + scale;
    } else {
      info.hidden = true;
    }
    $("heat-legend").hidden = !this.heatOn;
  }

  async refreshSummary() {
    const gen = this.gen;
    const keys = { filterKey: this.filterKey(), windowKey: this.windowKey() };
    const s = await this.guard("summary", (signal) => api.summary(this.params(), { signal }));
    if (!s || gen !== this.gen) return;
    this.summary = s;
    if (!this.filters.window) {
      this.filters.window = s.window; // the server's default window, now shown as chosen
      keys.windowKey = this.windowKey();
      this.renderWindow();
    }
    this.shown = { ...keys, at: s.generated_at || new Date().toISOString() };
    for (const kind of LISTS) {
      Object.assign(this.lists[kind], { page: 0, items: s[kind], total: s.totals[kind] });
      this.failures.delete(`list-${kind}`); // the lists start again from this answer's first page
    }
    this.renderDashboard();
  }

  async refreshMetrics() {
    const { category, source } = this.filters;
    const key = `${category}|${source}`;
    const m = await this.guard("metrics", (signal) => api.gridMetrics({ category, source }, { signal }));
    if (m) {
      this.metrics = m;
      this.metricsKey = key;
    } else if (this.failures.has("metrics") && this.metricsKey !== key) {
      this.metrics = null; // another filter's counts: the choropleth goes blank rather than wrong
      this.metricsKey = null;
    } else {
      return;
    }
    window.gridmap.metrics = this.metrics;
    this.applyMetric();
  }

  // ---- health: banner, light, stale figures ------------------------------------------

  /**
   * One place decides what the page says about its own state. Failed requests: a banner, the light red,
   * the figures greyed "as of hh:mm", and those computed for other filters cleared. Late requests: amber.
   * The live stream dropped: amber/red and a banner until it is back (then the page catches up).
   */
  renderHealth() {
    const now = Date.now();
    const failed = [...this.failures.values()];
    // A failed download says so in the banner but is not the figures' health: no red light, no retries.
    const dataFailed = [...this.failures.keys()].some((k) => k !== "export");
    const late = [...this.pending.values()].filter((t0) => now - t0 >= LATE_MS);
    const dash = $("dash");
    const asOf = this.shown ? fmtTime(this.shown.at) : null;
    const stale = dataFailed || late.length > 0;
    dash.classList.toggle("is-stale", stale && !!this.shown);
    $("dash-asof").hidden = !(stale && this.shown);
    if (this.shown) $("dash-asof").textContent = t("dash.asOf", { time: asOf });
    // Figures computed for other filters or another window are never left under the new labels.
    const sameFilters = this.shown && this.shown.filterKey === this.filterKey();
    const sameWindow = sameFilters && this.shown.windowKey === this.windowKey();
    if (this.failures.has("summary") && this.shown && !sameWindow) this.clearFigures({ all: !sameFilters });

    let level = null;
    let title = "";
    let detail = "";
    if (failed.length) {
      const err = this.failures.get("summary") || failed[0];
      const reason = describe(err);
      level = "error";
      title = this.failures.size === 1 && this.failures.has("export") ? t("export.failed") : t("health.failed");
      if (!dataFailed) detail = reason;
      else if (this.shown && sameWindow) detail = t("health.failedDetail", { time: asOf, reason });
      else detail = t("health.noData", { reason });
      if (dataFailed && !this.retryTimer) {
        this.retryTimer = setTimeout(() => { this.retryTimer = 0; if (this.failures.size) this.refreshAll(); }, RETRY_MS);
      }
    } else if (late.length) {
      level = "warn";
      title = t("health.slow");
      detail = t("health.slowDetail", { s: Math.round((now - Math.min(...late)) / 1000), time: asOf || "–" });
      clearTimeout(this.lateTimer);
      this.lateTimer = setTimeout(() => this.renderHealth(), 1000);
    } else if (this.liveState !== "on" && this.liveWasOn) {
      level = this.liveState === "off" ? "error" : "warn";
      title = t("health.liveLost");
      detail = t("health.liveLostDetail");
    }
    const box = $("wall-alert");
    box.hidden = !level;
    box.dataset.level = level || "";
    $("wall-alert-title").textContent = title;
    $("wall-alert-detail").textContent = detail;
    $("wall-alert-retry").hidden = level !== "error" || !dataFailed;

    // The light: the worse of the data and the live stream.
    let light = this.liveState;
    if (dataFailed) light = "stale";
    else if (late.length && light === "on") light = "slow";
    if (this.replay && light === "on") light = "replay";
    const el = $("live");
    el.dataset.state = light;
    $("live-text").textContent = t(`live.${light}`);
    window.gridmap.health = { light, level, failed: [...this.failures.keys()], late: late.length, asOf };
  }

  /** Blank the figures that belong to the previous window (new, closed, trend) or, after a change of
   *  category/status/source, all of them. */
  clearFigures({ all }) {
    const keys = all ? ["new", "open", "overdue", "escalated", "closed"] : ["new", "closed"];
    for (const key of keys) {
      $(`kpi-${key}`).textContent = "–";
      $(`kpi-${key}`).dataset.value = "";
    }
    $("kpi-new-label").textContent = t(`kpi.new.${this.filters.window || "24h"}`);
    $("trend").replaceChildren(h("p", { class: "dash__empty", text: t("dash.noData") }));
    if (all) {
      for (const id of ["top-grids", "overdue-list", "escalated-list"]) $(id).replaceChildren();
      for (const kind of LISTS) {
        $(`${kind}-list-count`).textContent = "";
        $(`${kind}-page`).textContent = "";
      }
    }
    this.shown = { ...this.shown, windowKey: null, filterKey: all ? null : this.shown.filterKey };
    if (all) this.summary = null;
    else if (this.summary) this.summary.windowCleared = true;
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
    const keys = s.windowCleared ? ["open", "overdue", "escalated"] : ["new", "open", "overdue", "escalated", "closed"];
    for (const key of keys) {
      const el = $(`kpi-${key}`);
      el.textContent = formatNumber(s.totals[key]);
      el.dataset.value = String(s.totals[key]);
    }
    if (!s.windowCleared) {
      $("kpi-new-label").textContent = t(`kpi.new.${s.window}`);
      this.renderTrend(s.trend);
    }
    this.renderTopGrids(s.top_grids, s.norm);
    for (const kind of LISTS) this.renderCases(kind);
    $("dash-updated").textContent = t("dash.updated", { time: fmtTime(this.shown?.at || new Date().toISOString()) });
    this.renderHealth();
  }

  renderTrend(trend) {
    const box = $("trend");
    $("trend-title").textContent = t(`trend.${trend?.bucket || "day"}`);
    const chart = trendChart(trend);
    box.replaceChildren(chart || h("p", { class: "dash__empty", text: t("dash.noData") }));
  }

  renderTopGrids(rows, norm) {
    const list = $("top-grids");
    list.replaceChildren();
    if (!rows?.length) {
      list.append(h("li", { class: "dash__empty", text: t("dash.noData") }));
      return;
    }
    const max = Math.max(...rows.map((r) => r.open), 1);
    const n = document.body.classList.contains("wall") ? 4 : 8;
    for (const r of rows.slice(0, n)) {
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

  /** Rows a list page holds: fewer, larger rows in wall mode. */
  pageSize() {
    return document.body.classList.contains("wall") ? 5 : 8;
  }

  /** One page of the overdue or escalated list; every case is reachable by paging (and in wall mode the
   *  pages turn by themselves). */
  renderCases(kind) {
    const state = this.lists[kind];
    const list = $(`${kind}-list`);
    const size = this.pageSize();
    const pages = Math.max(1, Math.ceil(state.total / size));
    state.page = Math.min(state.page, pages - 1);
    list.replaceChildren();
    list.dataset.page = String(state.page);
    $(`${kind}-list-count`).textContent = formatNumber(state.total);
    $(`${kind}-page`).textContent = pages > 1 ? t("dash.page", { p: state.page + 1, n: formatNumber(pages) }) : "";
    $(`${kind}-prev`).hidden = $(`${kind}-next`).hidden = pages <= 1;
    const rows = (state.items || []).slice(0, size);
    if (!rows.length) {
      list.append(h("li", { class: "dash__empty", text: t("dash.none") }));
      return;
    }
    for (const r of rows) {
      const grid = (getLang() === "en" ? r.grid_name_en || r.grid_name : r.grid_name) || r.grid_code || "–";
      // An overdue case is late by definition, even by less than the 0.1 h the server rounds to.
      const late = kind === "overdue" ? formatOverdue(Math.max(r.overdue_hours, 1e-9)) : fmtTime(r.updated_at, true);
      list.append(h("li", {},
        h("button", { type: "button", class: `case case--${kind}`, "data-case": r.id, onclick: () => this.onCase?.(r.id) },
          h("span", { class: "case__cat", text: catName(r.category, r) }),
          h("span", { class: "case__late", text: late }),
          h("span", { class: "case__grid", text: grid }))));
    }
  }

  /** Show page `page + step` of a list (wrapping), fetched from /wall/lists/{kind}. */
  async turnPage(kind, step) {
    const state = this.lists[kind];
    const size = this.pageSize();
    const pages = Math.max(1, Math.ceil(state.total / size));
    const page = (state.page + step + pages) % pages;
    const gen = this.gen;
    const res = await this.guard(`list-${kind}`, (signal) => apiGet(`wall/lists/${kind}`,
      { params: { ...this.params(), limit: size, offset: page * size }, signal }));
    if (!res || gen !== this.gen) return;
    Object.assign(state, { page, items: res.items, total: res.total });
    this.renderCases(kind);
  }

  /** Wall mode: every CYCLE_MS the next page of each list that has more than one. */
  cyclePages() {
    clearInterval(this.cycleTimer);
    if (!document.body.classList.contains("wall")) return;
    this.cycleTimer = setInterval(() => {
      if (this.failures.has("summary")) return;
      for (const kind of LISTS) if (this.lists[kind].total > this.pageSize()) this.turnPage(kind, +1);
    }, CYCLE_MS);
  }

  // ---- exports and the printed report ------------------------------------------------

  /** Download a list (overdue, escalated, the filtered cases) as CSV or XLSX with the filters in the file. */
  async download(kind, format) {
    const url = new URL(`/api/v1/wall/export/${kind}.${format}`, window.location.origin);
    for (const [k, v] of Object.entries({ ...this.params(), lang: getLang() })) if (v) url.searchParams.set(k, v);
    try {
      const res = await fetch(url, { headers: authHeader() });
      if (!res.ok) throw new ApiError({ status: res.status, code: `http_${res.status}`, title: res.statusText });
      const blob = await res.blob();
      const name = /filename="([^"]+)"/.exec(res.headers.get("content-disposition") || "")?.[1] || `${kind}.${format}`;
      const a = h("a", { href: URL.createObjectURL(blob), download: name });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
    } catch (err) {
      this.failures.set("export", err);
      this.renderHealth();
      setTimeout(() => { this.failures.delete("export"); this.renderHealth(); }, 8000);
    }
  }

  /** The printable shift report for the filters on screen, in the page's language. */
  openReport() {
    const q = new URLSearchParams({ ...Object.fromEntries(Object.entries(this.params()).filter(([, v]) => v)),
      lang: getLang() });
    window.open(`/report.html?${q}`, "_blank");
  }

  // ---- the case pin ------------------------------------------------------------------

  showCasePin(detail) {
    if (this.casePin) this.casePin.remove();
    this.casePin = null;
    window.gridmap.casePin = null;
    if (!detail || detail.lat === null || detail.lat === undefined) return;
    const icon = L.divIcon({ className: "gm-case-pin", iconSize: [28, 40], iconAnchor: [14, 38],
      html: '<svg viewBox="0 0 28 40" aria-hidden="true"><path d="M14 1C7 1 1.5 6.4 1.5 13.3 1.5 23 14 39 14 39s12.5-16 12.5-25.7C26.5 6.4 21 1 14 1z" fill="#e11d48" stroke="#fff" stroke-width="2.5"/><circle cx="14" cy="13.5" r="4.5" fill="#fff"/></svg>' });
    this.casePin = L.marker([detail.lat, detail.lon], { icon, keyboard: false, interactive: false, zIndexOffset: 1000,
      title: t("case.pin") }).addTo(this.map);
    window.gridmap.casePin = { id: detail.id, lat: detail.lat, lon: detail.lon };
  }

  // ---- live --------------------------------------------------------------------------

  /** The live stream's state (the light shows the worse of it and the data's, see renderHealth). */
  setLive(state) {
    const back = state === "on" && this.liveState !== "on" && this.liveWasOn;
    this.liveState = state;
    if (state === "on") this.liveWasOn = true;
    window.gridmap.live = state;
    this.renderHealth();
    // Back after a drop: the stream replays the reports it missed; the figures and lists catch up too.
    if (back) {
      window.gridmap.reconnects = (window.gridmap.reconnects || 0) + 1;
      this.refreshAll();
    }
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
    es.addEventListener("hello", (ev) => {
      // Where to resume after a drop even when no report has come yet (the server says its newest id).
      try {
        const id = JSON.parse(ev.data).last_id;
        if (id) this.lastReportId = Math.max(this.lastReportId || 0, id);
      } catch { /* an older server: resume from the last report seen */ }
      this.setLive("on");
    });
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
        this.heat._latlngs.push([ev.lat, ev.lon, 1]);
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
    if (this.summary && !this.summary.windowCleared) {
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
    this.heat.setOptions({ radius: 18, blur: 14 });
    this.heat.setLatLngs(this.heatOn ? shown.map((p) => [p[2], p[1], 1]) : []);
    const hh = String(Math.floor(minute / 60)).padStart(2, "0");
    const mm = String(minute % 60).padStart(2, "0");
    $("replay-time").textContent = `${hh}:${mm}`;
    $("replay-count").textContent = t("replay.count", { n: formatNumber(n) });
    this.replay.shown = n;
    // The dashboard stays on live figures: it says so plainly while the map shows the replayed moment.
    $("dash-replay").hidden = false;
    $("dash-replay").textContent = `${t("dash.replayLive")} · ${day} ${hh}:${mm}`;
    this.renderHeatInfo();
    this.renderHealth();
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
    $("dash-replay").hidden = true;
    window.gridmap.replay = null;
    this.renderHealth();
    this.refreshHeat();
  }

  // ---- wall mode ---------------------------------------------------------------------

  toggleWallMode(on = !document.body.classList.contains("wall")) {
    document.body.classList.toggle("wall", on);
    $("wall-toggle").setAttribute("aria-pressed", on ? "true" : "false");
    if (on && !document.fullscreenElement) document.documentElement.requestFullscreen?.().catch(() => {});
    if (!on && document.fullscreenElement) document.exitFullscreen?.().catch(() => {});
    setTimeout(() => { this.map.invalidateSize(); this.gridMap.remeasureLabels(); }, 60);
    for (const kind of LISTS) this.renderCases(kind);
    if (this.summary) this.renderTopGrids(this.summary.top_grids, this.summary.norm);
    this.cyclePages();
    this.autoRefresh();
  }

  relabel() {
    this.clockFmt?.();
    this.fillSelects();
    this.renderDashboard();
    this.renderTicker();
    this.renderHealth();
    this.renderHeatInfo();
    if (this.replay) this.startReplay(this.replay.minute);
  }
}
