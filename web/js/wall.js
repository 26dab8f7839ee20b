// The map wall: filters, the server-binned case heatmap, per-grid choropleths, the live report stream
// (server-sent events) with pulses, the dashboard (totals, trend, top grids, overdue and escalated
// lists), the day replay slider and the full-screen wall mode.
//
// The class is in parts, one ES module each under web/js/wall/ (no build step): health.js (requests, banner,
// light), heatmap.js, choropleth.js, dashboard.js (lists, exports, report), live.js (the stream, ticker) and
// replay.js hold methods of Wall, installed on its prototype below; common.js what they share. Here: the
// layers, the filters and controls, loading, the case pin, the clock and wall mode.

import { api, authHeader } from "./api.js";
import { getLang, t } from "./i18n.js";
import { gridHeat, HEAT_GRADIENT } from "./heat.js";
import { pulseLayer } from "./pulses.js";
import { h } from "./ui.js";
import { choroplethMethods, METRICS } from "./wall/choropleth.js";
import { $, beijingDate, formatter, LISTS } from "./wall/common.js";
import { dashboardMethods } from "./wall/dashboard.js";
import { healthMethods } from "./wall/health.js";
import { heatMethods } from "./wall/heatmap.js";
import { liveMethods } from "./wall/live.js";
import { replayMethods } from "./wall/replay.js";

const L = window.L;

export { METRICS }; // (its home is wall/choropleth.js)
const STATUSES = ["reported", "registered", "dispatched", "in_progress", "resolved", "verified", "closed",
  "escalated", "returned", "rejected"];
const SOURCES = ["hotline_12345", "mini_program", "field_app", "patrol"];
const MAX_PULSES = 60;
const REFRESH_MS = 60_000;
const WALL_REFRESH_MS = 30_000;
const BUILDINGS_MIN_ZOOM = 15;

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

  // ---- filters & controls --------------------------------------------------------

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

  // ---- data ----------------------------------------------------------------------

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

  async refreshAll() {
    this.gen += 1;
    document.body.dataset.wallReady = "0";
    document.getElementById("dash").classList.add("is-pending");
    await Promise.all([this.refreshHeat(), this.refreshSummary(), this.refreshMetrics()]);
    document.getElementById("dash").classList.remove("is-pending");
    window.gridmap.wallReady = true;
    document.body.dataset.wallReady = "1";
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

  // ---- the case pin --------------------------------------------------------------

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

  // ---- clock ---------------------------------------------------------------------

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

  // ---- wall mode -----------------------------------------------------------------

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

Object.assign(Wall.prototype, healthMethods, heatMethods, choroplethMethods, dashboardMethods, liveMethods,
  replayMethods);
