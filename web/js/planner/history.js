// The planner workspace (web/js/planner.js): history: edits, compare, route a point as of a date.

import { ApiError, apiGet } from "../api.js";
import { featureName, formatNumber, getLang, t } from "../i18n.js";
import { escapeHtml, tOr } from "../ui.js";
import { map } from "../planner.js";
import { beijingNowLocal } from "./helpers.js";
import { failed, withBusy } from "./messages.js";
import { $, BEIJING, EMPTY_FC, L, layers, state } from "./state.js";

// ---- history ----------------------------------------------------------------------------------

export async function loadEdits() {
  if (!state.layout) return;
  try {
    const res = await apiGet(`layouts/${state.layout.id}/edits`);
    window.gridmap.edits = (res.items || []).length;
    $("edits").innerHTML = (res.items || []).map((e) => `<li class="pl-edit${e.undone_by ? " is-undone" : ""}">
        <span class="pl-edit__rev">r${e.revision}</span>
        <span class="pl-edit__op">${escapeHtml(tOr(`pl.op.${e.op}`, e.op))}</span>
        <span class="pl-edit__codes">${(e.codes || []).map(escapeHtml).join(", ")}</span>
        <span class="pl-edit__who">${escapeHtml(e.actor || "")} · ${escapeHtml(formatDateTime(e.at))}${e.undone_by ? ` · ${escapeHtml(t("pl.hist.undone"))}` : ""}</span>
      </li>`).join("") || `<li class="pl-hint">${escapeHtml(t("pl.hist.noEdits"))}</li>`;
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 404)) failed(err);
  }
}

export function formatDateTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return new Intl.DateTimeFormat(getLang(), { dateStyle: "short", timeStyle: "short", timeZone: BEIJING }).format(d);
}

export async function runCompare(ev) {
  ev.preventDefault();
  const a = $("compare-a").value;
  const b = $("compare-b").value;
  const errEl = $("compare-error");
  errEl.hidden = true;
  await withBusy("pl.busy.comparing", async () => {
    try {
      const res = await apiGet("layouts/compare", { params: { a, b } });
      const s = res.summary || {};
      window.gridmap.compare = s;
      const rows = (res.grids || []).filter((g) => g.status !== "same");
      $("compare-out").innerHTML = `<dl class="pl-counts">${["added", "removed", "changed", "same"].map((k) =>
        `<div data-k="${k}"><dt>${escapeHtml(tOr(`pl.gstatus.${k}`, k))}</dt><dd>${formatNumber(s[k] ?? 0)}</dd></div>`).join("")}</dl>`
        + (rows.length ? `<div class="pl-tablewrap"><table class="pl-table"><thead><tr><th>${escapeHtml(t("pl.impact.grid"))}</th><th>${escapeHtml(t("pl.impact.change"))}</th><th class="num">${escapeHtml(t("pl.hist.areaChange"))}</th></tr></thead><tbody>`
          + rows.slice(0, 300).map((g) => `<tr><td>${escapeHtml(g.name_b || g.name_a || "")}<br><code>${escapeHtml(g.code)}</code></td>`
            + `<td><span class="pl-gstatus pl-gstatus--${escapeHtml(g.status)}">${escapeHtml(tOr(`pl.gstatus.${g.status}`, g.status))}</span></td>`
            + `<td class="num">${formatNumber(Math.round(g.area_change_m2 || 0))} m²</td></tr>`).join("")
          + "</tbody></table></div>" : "");
      layers.moves.clearLayers();
      layers.moves.addData(res.changes || EMPTY_FC);
      const bounds = layers.moves.getBounds();
      if (bounds.isValid()) map.fitBounds(bounds, { padding: [60, 60], maxZoom: 17 });
    } catch (err) {
      failed(err, errEl);
    }
  });
}

export let routePicking = false;
export function setRoutePicking(on) {
  routePicking = on;
  $("route-pick").setAttribute("aria-pressed", on ? "true" : "false");
  map.getContainer().classList.toggle("pl-picking", on);
}

export async function runRoute(ev) {
  ev?.preventDefault();
  const errEl = $("route-error");
  errEl.hidden = true;
  const lon = Number($("route-lon").value);
  const lat = Number($("route-lat").value);
  if (!$("route-lon").value.trim() || !$("route-lat").value.trim() || !Number.isFinite(lon) || !Number.isFinite(lat)
      || Math.abs(lon) > 180 || Math.abs(lat) > 90) {
    errEl.textContent = t("pl.err.lonlat");
    errEl.hidden = false;
    return;
  }
  const at = $("route-at").value || beijingNowLocal();
  await withBusy("pl.busy.routing", async () => {
    try {
      const res = await apiGet("locate", { params: { lon, lat, at } });
      window.gridmap.route = { code: res.grid?.code ?? null, method: res.method, layout: res.layout?.id ?? null, at: res.at };
      layers.route.clearLayers();
      L.circleMarker([lat, lon], { radius: 8, className: "pl-route-pt", pane: "pl-route" }).addTo(layers.route);
      $("route-out").innerHTML = res.grid
        ? `<p class="pl-route-out__grid"><strong>${escapeHtml(featureName(res.grid))}</strong> <code>${escapeHtml(res.grid.code)}</code></p>`
          + `<p class="pl-hint">${escapeHtml(t("pl.hist.routeAnswer", { method: tOr(`pl.method.${res.method}`, res.method), layout: `#${res.layout?.id} ${res.layout?.name || ""}`, at: formatDateTime(res.at) }))}</p>`
        : `<p class="pl-error">${escapeHtml(t("pl.hist.unrouted", { reason: res.reason || res.method }))}</p>`;
    } catch (err) {
      failed(err, errEl);
    }
  });
}
