// The planner workspace (web/js/planner.js): loading a layout.

import { api, apiGet, getKey } from "../api.js";
import { t } from "../i18n.js";
import { gridMap, map, signIn } from "../planner.js";
import { beijingDate } from "./helpers.js";
import { loadLayouts, openLayout } from "./layouts.js";
import { failed, withBusy } from "./messages.js";
import { renderWho } from "./panel.js";
import { $, EMPTY_FC, layers, PLANNERS, state } from "./state.js";

// ---- loading ------------------------------------------------------------------------------------

let baseDrawn = false; // the streets and communities are drawn once, at the first load

export async function load() {
  if (!getKey()) { signIn.show("missing"); return; }
  await withBusy("pl.busy.loading", async () => {
    try {
      state.me = await apiGet("auth/me");
      renderWho();
      if (!PLANNERS.includes(state.me?.role)) { signIn.wrongRole(); return; }
      if (!baseDrawn) {
        const [streets, communities] = await Promise.all([api.streets(), api.communities()]);
        gridMap.setData({ streets, communities, grids: EMPTY_FC });
        // GridMap draws the streets and communities (and their labels); the grids are ours, editable.
        map.removeLayer(gridMap.layers.grids);
        gridMap.layers.grids = layers.grids;
        gridMap.addOverlay("pl.layer.buildings", "building", layers.buildings);
        gridMap.addOverlay("pl.layer.findings", "finding", layers.findings);
        baseDrawn = true;
      }
      await loadLayouts();
      const wanted = Number(new URLSearchParams(window.location.search).get("layout"));
      const pick = state.layouts.find((l) => l.id === wanted) || state.layouts.find((l) => l.current)
        || state.layouts.find((l) => l.status === "published");
      if (pick) await openLayout(pick.id);
      if (!$("copy-name").value) $("copy-name").value = t("pl.copy.defaultName", { date: beijingDate(0) });
      $("route-at").value = beijingDate(0);
      window.gridmap.ready = true;
      window.gridmap.loads += 1;
      document.body.dataset.ready = "1";
    } catch (err) {
      failed(err);
    }
  });
}
