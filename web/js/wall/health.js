// The map wall's own state, told honestly (issue 24): each request named, timed and cancelled by the next of
// its name (guard); the banner, the live light and the figures greyed "as of" or cleared (renderHealth).

import { ApiError } from "../api.js";
import { t } from "../i18n.js";
import { h } from "../ui.js";
import { $, fmtTime, LISTS } from "./common.js";

/** A request still unanswered after this long turns the light amber and says so (ms). */
const LATE_MS = 5000;

/** After a failed refresh, try again this soon (ms). */
const RETRY_MS = 10_000;

/** A failed request in a few words for the banner. */
function describe(err) {
  if (err instanceof ApiError) {
    if (err.code === "network") return t("error.network");
    return `${err.title || err.code} (HTTP ${err.status})`;
  }
  return String(err?.message || err);
}

export const healthMethods = {
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
  },

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
  },

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
  },
};
