// The map wall's side dashboard: totals, trend, top grids, the paged overdue and escalated lists (turning by
// themselves in wall mode), their CSV/XLSX exports and the printable shift report.

import { ApiError, apiGet, authHeader } from "../api.js";
import { featureName, formatNumber, formatOverdue, getLang, t } from "../i18n.js";
import { classify } from "../norm.js";
import { trendChart } from "../trend.js";
import { h } from "../ui.js";
import { $, fmtTime, LISTS } from "./common.js";

/** Wall mode turns the pages of the overdue and escalated lists this often (a wall has no mouse). */
const CYCLE_MS = 8000;

function catName(c, row) {
  if (row) return (getLang() === "en" ? row.category_name_en || row.category_name : row.category_name) || row.category;
  return c;
}

export const dashboardMethods = {
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
  },

  renderTrend(trend) {
    const box = $("trend");
    $("trend-title").textContent = t(`trend.${trend?.bucket || "day"}`);
    const chart = trendChart(trend);
    box.replaceChildren(chart || h("p", { class: "dash__empty", text: t("dash.noData") }));
  },

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
  },

  /** Rows a list page holds: fewer, larger rows in wall mode. */
  pageSize() {
    return document.body.classList.contains("wall") ? 5 : 8;
  },

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
  },

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
  },

  /** Wall mode: every CYCLE_MS the next page of each list that has more than one. */
  cyclePages() {
    clearInterval(this.cycleTimer);
    if (!document.body.classList.contains("wall")) return;
    this.cycleTimer = setInterval(() => {
      if (this.failures.has("summary")) return;
      for (const kind of LISTS) if (this.lists[kind].total > this.pageSize()) this.turnPage(kind, +1);
    }, CYCLE_MS);
  },

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
  },

  /** The printable shift report for the filters on screen, in the page's language. */
  openReport() {
    const q = new URLSearchParams({ ...Object.fromEntries(Object.entries(this.params()).filter(([, v]) => v)),
      lang: getLang() });
    window.open(`/report.html?${q}`, "_blank");
  },
};
