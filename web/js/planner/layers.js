// The planner workspace (web/js/planner.js): the map layers.

import { apiGet } from "../api.js";
import { featureName, formatNumber, isZh, t } from "../i18n.js";
import { classify } from "../norm.js";
import { escapeHtml, tOr } from "../ui.js";
import { gridMap, map } from "../planner.js";
import { failed } from "./messages.js";
import { enableVertexEditing, onDrawn, onGridClick, onMapClick, pickBuilding } from "./modes.js";
import { $, BUILDINGS_MIN_ZOOM, L, layers, SNAP_PX, state } from "./state.js";

// ---- map layers -----------------------------------------------------------------------

function gridStyle(f) {
  const code = f.properties?.code;
  const cls = classify(f.properties?.households);
  const sel = code === state.selected ? " is-selected" : "";
  return { className: `gm-grid gm-grid--${cls} pl-grid${sel}` };
}

export function initLayers() {
  const pane = (name, z) => {
    const p = map.createPane(name);
    p.style.zIndex = String(z);
    return name;
  };
  pane("pl-edit", 401); // just above GridMap's (empty) grid pane, under community and street lines
  pane("pl-buildings", 405);
  pane("pl-findings", 440);
  pane("pl-moves", 445);
  pane("pl-route", 460);
  map.getPane("pl-findings").style.pointerEvents = "none";

  layers.buildings = L.geoJSON(null, {
    pane: "pl-buildings",
    renderer: L.svg({ pane: "pl-buildings", padding: 0.5 }),
    style: () => ({ className: "pl-building" }),
    onEachFeature: (f, layer) => {
      layer.on("click", (ev) => {
        if (state.mode !== "building") return;
        L.DomEvent.stop(ev);
        pickBuilding(f);
      });
      layer.bindTooltip(() => `${escapeHtml(f.properties?.address || f.id)}<br><code>${escapeHtml(f.id)}</code>`
        + ` · ${escapeHtml(t("pl.households", { n: formatNumber(f.properties?.households) }))}`,
      { sticky: true, className: "gm-tip" });
    },
  }).addTo(map);

  layers.grids = L.geoJSON(null, {
    pane: "pl-edit",
    renderer: L.svg({ pane: "pl-edit", padding: 0.5 }),
    style: gridStyle,
    onEachFeature: (f, layer) => {
      const code = f.properties.code;
      layer.on("click", (ev) => onGridClick(code, ev));
      layer.on("add", () => layer.getElement?.()?.setAttribute("data-code", code));
      layer.bindTooltip(() => {
        const p = f.properties || {};
        return `<strong>${escapeHtml(featureName(p))}</strong><span class="gm-tip__row"><code>${escapeHtml(code)}</code></span>`
          + `<span class="gm-tip__row">${escapeHtml(t("pl.households", { n: formatNumber(p.households) }))}</span>`;
      }, { sticky: true, direction: "top", offset: [0, -8], className: "gm-tip", opacity: 1 });
    },
  }).addTo(map);

  layers.findings = L.geoJSON(null, {
    pane: "pl-findings",
    renderer: L.svg({ pane: "pl-findings", padding: 0.5 }),
    interactive: false,
    style: (f) => ({ className: `pl-finding pl-finding--${["blocking", "known"].includes(f.properties?.severity) ? f.properties.severity : "warning"}` }),
    pointToLayer: (f, ll) => L.circleMarker(ll, { radius: 7, pane: "pl-findings" }),
  }).addTo(map);

  // Impact moves can be tens of thousands of points: one canvas, not an SVG element each.
  const movesCanvas = L.canvas({ pane: "pl-moves", padding: 0.3 });
  layers.moves = L.geoJSON(null, {
    pane: "pl-moves",
    renderer: movesCanvas,
    pointToLayer: (f, ll) => L.circleMarker(ll, { radius: f.properties?.kind === "building" ? 4 : 6, pane: "pl-moves" }),
    // (the style applies to the circle markers too, so it styles both the moves and the compared areas)
    style: (f) => (f.geometry?.type === "Point" ? moveStyle(f.properties?.kind)
      : { color: "#7a3db8", weight: 2, fillColor: "#7a3db8", fillOpacity: 0.35 }),
    onEachFeature: (f, layer) => layer.bindTooltip(() => moveTooltip(f), { className: "gm-tip" }),
  }).addTo(map);

  layers.route = L.layerGroup().addTo(map);

  map.on("moveend", loadBuildings);
  map.on("zoomend", () => { repaint("pl-edit"); repaint("pl-findings"); });
  map.on("click", onMapClick);
  map.on("pm:create", onDrawn);

  // Geoman: our own toolbar in the side panel, so no geoman control; snapping is per-call.
  map.pm.setGlobalOptions({ snappable: true, snapDistance: SNAP_PX, allowSelfIntersection: false });
  map.pm.setLang(isZh() ? "zh" : "en");
  window.gridmap.map = map;
}

const MOVE_COLOURS = { building: "#e0712b", facility: "#7a3db8", open_case: "#b42318" };

function moveStyle(kind) {
  return { color: "#ffffff", weight: 1, fillColor: MOVE_COLOURS[kind] || "#e0712b", fillOpacity: 0.95 };
}

function moveTooltip(f) {
  const p = f.properties || {};
  if (p.kind) {
    return `<strong>${escapeHtml(tOr(`pl.moveKind.${p.kind}`, p.kind))} ${escapeHtml(p.id ?? "")}</strong>`
      + `<span class="gm-tip__row">${escapeHtml(p.from_code || "–")} → ${escapeHtml(p.to_code || "–")}</span>`;
  }
  return `<strong>${escapeHtml(p.code || "")}</strong><span class="gm-tip__row">${escapeHtml(tOr(`pl.gstatus.${p.status}`, p.status || ""))}`
    + ` · ${escapeHtml(formatNumber(Math.round(p.area_change_m2 || 0)))} m²</span>`;
}

export function drawGrids() {
  const fc = { type: "FeatureCollection", features: [...state.features.values()] };
  layers.grids.clearLayers();
  layers.grids.addData(fc);
  gridMap.setGridLabels(fc);
  repaint("pl-edit");
  window.gridmap.gridCount = state.features.size;
  if (state.mode === "vertices") enableVertexEditing();
}

/**
 * Make the browser repaint a pane's SVG. Chromium without GPU compositing (headless, and office PCs
 * with software rendering) was seen to repaint only part of a freshly replaced path, leaving a grid half
 * filled; a display flip of the one SVG element forces the whole layer to paint again.
 */
export function repaint(pane) {
  const svg = map.getPane(pane)?.querySelector("svg");
  if (!svg) return;
  svg.style.display = "none";
  void svg.getBoundingClientRect();
  svg.style.display = "";
}

export function gridLayer(code) {
  let found = null;
  layers.grids.eachLayer((l) => { if (l.feature?.properties?.code === code) found = l; });
  return found;
}

export function restyle() {
  layers.grids.eachLayer((l) => l.setStyle(gridStyle(l.feature)));
  layers.grids.eachLayer((l) => {
    const el = l.getElement?.();
    if (el) el.classList.toggle("is-selected", l.feature.properties.code === state.selected);
  });
}

export function fitToGrids() {
  const b = layers.grids.getBounds();
  if (b.isValid()) map.fitBounds(b, { padding: [24, 24] });
}

let buildingsCtl = null;
async function loadBuildings() {
  if (map.getZoom() < BUILDINGS_MIN_ZOOM) {
    layers.buildings.clearLayers();
    window.gridmap.buildings = 0;
    return;
  }
  buildingsCtl?.abort();
  buildingsCtl = new AbortController();
  const b = map.getBounds();
  const bbox = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map((v) => v.toFixed(6)).join(",");
  try {
    const fc = await apiGet("buildings", { params: { bbox, limit: 3000 }, signal: buildingsCtl.signal });
    layers.buildings.clearLayers();
    layers.buildings.addData(fc);
    window.gridmap.buildings = fc.features?.length ?? 0;
  } catch (err) {
    if (err?.name !== "AbortError") failed(err);
  }
}
