// The planner workspace (web/js/planner.js): selection and the editing modes.

import { t } from "../i18n.js";
import { map } from "../planner.js";
import { runEdit } from "./edits.js";
import { isDraft } from "./helpers.js";
import { routePicking, runRoute, setRoutePicking } from "./history.js";
import { gridLayer, restyle } from "./layers.js";
import { say } from "./messages.js";
import { renderAttrForm, renderBuildingCard, renderTools } from "./panel.js";
import { $, L, layers, SERVER_SNAP_M, SNAP_PX, state } from "./state.js";

// ---- selection and modes --------------------------------------------------------------------

const MODES = ["select", "vertices", "split", "merge", "draw", "building"];
export const NEEDS_GRID = new Set(["vertices", "split", "merge"]);

export function setMode(mode) {
  if (!MODES.includes(mode)) mode = "select";
  if (!isDraft()) mode = "select";
  if (NEEDS_GRID.has(mode) && !state.selected) {
    say("info", t("pl.hint.pickFirst"));
    mode = "select";
  }
  // leave the old mode
  map.pm.disableDraw();
  layers.grids.eachLayer((l) => l.pm?.disable());
  state.mode = mode;
  state.buildingPick = null;
  if (mode === "split") map.pm.enableDraw("Line", { snappable: $("snap").checked, snapDistance: SNAP_PX, finishOn: "dblclick" });
  if (mode === "draw") map.pm.enableDraw("Polygon", { snappable: $("snap").checked, snapDistance: SNAP_PX });
  if (mode === "vertices") enableVertexEditing();
  const el = map.getContainer();
  for (const m of MODES) el.classList.toggle(`pl-mode--${m}`, m === mode);
  renderTools();
  renderBuildingCard();
}

export function enableVertexEditing() {
  const layer = gridLayer(state.selected);
  if (!layer) return;
  layer.pm.enable({ snappable: $("snap").checked, snapDistance: SNAP_PX, allowSelfIntersection: false, draggable: false });
  layer.off("pm:edit");
  layer.on("pm:edit", () => saveGeometry(layer));
}

export function select(code, { zoom = false } = {}) {
  if (state.mode === "vertices") layers.grids.eachLayer((l) => l.pm?.disable());
  state.selected = code && state.features.has(code) ? code : null;
  state.deleteArmed = false;
  restyle();
  if (state.mode === "vertices") enableVertexEditing();
  if (zoom && state.selected) {
    const l = gridLayer(state.selected);
    if (l) map.fitBounds(l.getBounds(), { padding: [60, 60], maxZoom: 17 });
  }
  renderAttrForm();
  renderTools();
}

export function onGridClick(code, ev) {
  if (state.mode === "draw" || state.mode === "split" || state.mode === "building" || routePicking) return;
  L.DomEvent.stop(ev);
  if (state.mode === "merge") {
    if (!state.selected || code === state.selected) return;
    const keep = state.selected;
    runEdit({ op: "merge", codes: [keep, code], keep }, { select: keep, mode: "select" });
    return;
  }
  if (state.mode === "vertices" && code === state.selected) return;
  select(code);
}

export function onMapClick(ev) {
  if (routePicking) {
    $("route-lon").value = ev.latlng.lng.toFixed(6);
    $("route-lat").value = ev.latlng.lat.toFixed(6);
    setRoutePicking(false);
    runRoute();
  }
}

export async function onDrawn(ev) {
  const layer = ev.layer;
  const geometry = layer.toGeoJSON().geometry;
  map.removeLayer(layer);
  if (ev.shape === "Line" && state.mode === "split") {
    const code = state.selected;
    await runEdit({ op: "split", code, line: geometry, snap_m: snapMetres(), cut_buildings: $("split-cut").checked },
      { select: code });
    if (state.mode === "split") setMode("select");
  } else if (ev.shape === "Polygon" && state.mode === "draw") {
    await runEdit({ op: "create", geometry, snap_m: snapMetres() }, { selectNew: true });
    if (state.mode === "draw") setMode("select");
  }
}

function saveGeometry(layer) {
  const code = layer.feature?.properties?.code;
  if (!code) return;
  const geometry = layer.toGeoJSON().geometry;
  runEdit({ op: "update_geometry", code, geometry, snap_m: snapMetres() }, { select: code });
}

/** The one "snap" switch governs both the drawing (pixels, in the browser) and the server (metres). */
function snapMetres() {
  return $("snap").checked ? SERVER_SNAP_M : 0;
}

export function pickBuilding(f) {
  state.buildingPick = f;
  layers.buildings.eachLayer((l) => l.getElement?.()?.classList.toggle("is-picked", l.feature === f));
  renderBuildingCard();
}
