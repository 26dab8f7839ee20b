// The planner workspace (web/js/planner.js): the impact against the published layout.

import { apiGet } from "../api.js";
import { formatNumber, t } from "../i18n.js";
import { escapeHtml, tOr } from "../ui.js";
import { map } from "../planner.js";
import { failed, withBusy } from "./messages.js";
import { $, layers, MAX_MOVES_DRAWN, state } from "./state.js";

// ---- impact -------------------------------------------------------------------------------------

export async function runImpact() {
  if (!state.layout) return;
  const against = $("impact-against").value;
  await withBusy("pl.busy.impact", async () => {
    try {
      const res = await apiGet(`layouts/${state.layout.id}/impact`, { params: { against } });
      state.impact = res;
      window.gridmap.impact = { summary: res.summary, grids: (res.grids || []).filter((g) => g.status !== "same").length,
        moves: res.moves?.features?.length ?? 0 };
      renderImpact();
      const b = layers.moves.getBounds();
      if (b.isValid()) map.fitBounds(b, { padding: [60, 60], maxZoom: 17 });
    } catch (err) {
      failed(err);
    }
  });
}

function beforeAfter(a, b) {
  const cls = a === b ? "" : b > a ? "up" : "down";
  return `<span class="pl-ba ${cls ? `pl-ba--${cls}` : ""}">${formatNumber(a)} → ${formatNumber(b)}</span>`;
}

export function renderImpact() {
  const r = state.impact;
  layers.moves.clearLayers();
  $("impact-summary").hidden = !r;
  $("impact-table").hidden = !r;
  $("impact-empty").hidden = true;
  $("impact-note").hidden = !r;
  $("impact-capped").hidden = true;
  if (!r) {
    $("impact-rows").innerHTML = "";
    return;
  }
  const moves = r.moves?.features || [];
  layers.moves.addData({ type: "FeatureCollection", features: moves.slice(0, MAX_MOVES_DRAWN) });
  $("impact-capped").hidden = moves.length <= MAX_MOVES_DRAWN;
  $("impact-capped").textContent = t("pl.impact.capped", { n: formatNumber(MAX_MOVES_DRAWN), total: formatNumber(moves.length) });
  const s = r.summary || {};
  $("impact-summary").innerHTML = ["buildings", "households", "facilities", "open_cases"].map((k) =>
    `<div data-k="${k}"><dt>${escapeHtml(t(`pl.impact.sum.${k}`))}</dt><dd>${formatNumber(s[k] ?? 0)}</dd></div>`).join("");
  const rows = (r.grids || []).filter((g) => g.status !== "same");
  $("impact-table").hidden = rows.length === 0;
  $("impact-note").hidden = rows.length === 0;
  $("impact-empty").hidden = rows.length !== 0;
  $("impact-rows").innerHTML = rows.map((g) => `<tr data-code="${escapeHtml(g.code)}">
      <td class="pl-table__grid"><button type="button" class="pl-link" data-zoom="${escapeHtml(g.code)}">${escapeHtml(g.name || "")}</button><code>${escapeHtml(g.code)}</code></td>
      <td><span class="pl-gstatus pl-gstatus--${escapeHtml(g.status)}">${escapeHtml(tOr(`pl.gstatus.${g.status}`, g.status))}</span></td>
      <td class="num">${beforeAfter(g.households_before ?? 0, g.households_after ?? 0)}</td>
      <td class="num">${beforeAfter(g.buildings_before ?? 0, g.buildings_after ?? 0)}</td>
      <td class="num">${beforeAfter(g.open_cases_before ?? 0, g.open_cases_after ?? 0)}</td>
    </tr>`).join("");
}
