// The map wall's case heat: the server-binned cells for the view and filters, and the chip saying what it shows.

import { api } from "../api.js";
import { formatNumber, t } from "../i18n.js";
import { $ } from "./common.js";

export const heatMethods = {
  scheduleHeat() {
    clearTimeout(this.heatTimer);
    this.heatTimer = setTimeout(() => this.refreshHeat(), 150);
  },

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
  },

  drawHeat(res) {
    const metersPerPx = (40075016.686 * Math.cos((this.map.getCenter().lat * Math.PI) / 180))
      / (256 * 2 ** this.map.getZoom());
    const cellPx = res.cell_m / metersPerPx;
    const radius = Math.max(12, Math.min(60, cellPx * 1.1));
    this.heat.setOptions({ radius, blur: radius * 0.85 });
    this.heat.setLatLngs(res.cells.map(([lon, lat, n]) => [lat, lon, n]));
    window.gridmap.heat = { cells: res.count, total: res.total, level: res.level, max: res.max };
    this.renderHeatInfo();
  },

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
  },
};
