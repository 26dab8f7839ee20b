// The map wall's live stream (server-sent events with a ticket): pulses at once, the heat, ticker and counters
// repainted at most every so often, and catching up after a dropped connection. Also the frame watch.

import { api, ApiError } from "../api.js";
import { featureName, formatNumber, getLang, t } from "../i18n.js";
import { h } from "../ui.js";
import { $, fmtTime } from "./common.js";

/** At most this often: ticker and counters after live reports (ms). */
const SLOW_MS = 500;

/** At most this often: the heat canvas after live reports (ms); the pulse shows each report at once. */
const HEAT_LIVE_MS = 2000;

export const liveMethods = {
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
  },

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
  },

  matches(ev) {
    const f = this.filters;
    if (f.category && ev.category !== f.category) return false;
    if (f.source && ev.source !== f.source) return false;
    if (f.status && f.status !== "reported") return false;
    return f.window !== "custom";
  },

  enqueue(ev) {
    window.gridmap.received = (window.gridmap.received || 0) + 1;
    this.queue.push(ev);
    if (!this.frame) this.frame = requestAnimationFrame(() => this.flush());
  },

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
  },

  /** The live reports' share of the heat canvas: one redraw every HEAT_LIVE_MS at most. */
  paintHeat() {
    clearTimeout(this.heatTimer2);
    this.heatTimer2 = 0;
    this.lastHeat = performance.now();
    if (this.heatDirty && !this.replay && this.heatOn) this.heat.redraw();
    this.heatDirty = false;
  },

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
  },

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
  },

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
  },
};
