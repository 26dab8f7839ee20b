// The map wall's grid fills: households (the norm's classes) or a case count per grid in quantile classes,
// their legend rows and the grid tooltip's counts.

import { formatNumber, t } from "../i18n.js";
import { classify } from "../norm.js";
import { $ } from "./common.js";

export const METRICS = ["households", "open", "new_today", "overdue"];

const METRIC_INDEX = { open: 0, new_today: 1, overdue: 2 };

export const choroplethMethods = {
  setMetric(metric) {
    this.metric = METRICS.includes(metric) ? metric : "households";
    $("f-metric").value = this.metric;
    document.body.dataset.metric = this.metric;
    this.applyMetric();
  },

  metricValue(code) {
    const row = this.metrics?.grids?.[code];
    return row ? row[METRIC_INDEX[this.metric]] : 0;
  },

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
  },

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
  },

  tooltipRows(f) {
    const row = this.metrics?.grids?.[String(f.properties?.code)] || [0, 0, 0];
    return `<span class="gm-tip__row gm-tip__cases">${t("tooltip.cases", {
      open: formatNumber(row[0]), today: formatNumber(row[1]), overdue: formatNumber(row[2]) })}</span>`;
  },
};
