// gridmap planner workspace (issue 8): make a draft grid layout (copy the one in force, or import a
// file), edit it on the map (Leaflet-Geoman: vertices with snapping, split along a drawn line, merge,
// draw, delete, reassign a building, attributes), every edit saved server-side at once with the draft's
// revision, undo; validation findings listed and drawn after every edit; the impact against the
// published layout; publish with an effective date; history (edits, compare, route a point as of a date).
// The API contract is api/planner/README.md.

import { api, apiGet, apiSend, ApiError, getKey, takeKeyFromLocation } from "./api.js";
import { detectLang, featureName, formatDate, formatNumber, getLang, isZh, onLangChange, setLang, t } from "./i18n.js";
import { GridMap } from "./map.js";
import { classify } from "./norm.js";
import { mountChrome } from "./chrome.js";
import { createPeoplePicker } from "./peoplepicker.js";
import { escapeHtml, tOr } from "./ui.js";

const L = window.L;
const $ = (id) => document.getElementById(id);
const PLANNERS = ["admin", "planner"];
const BUILDINGS_MIN_ZOOM = 16; // footprints are fetched (for snapping and reassigning) from this zoom on
const SNAP_PX = 14;
const SERVER_SNAP_M = 2; // the API's default snap distance
const MAX_MOVES_DRAWN = 5000; // more would only paint the district orange; the table and summary have them all
const EMPTY_FC = { type: "FeatureCollection", features: [] };
const BEIJING = "Asia/Shanghai";

const state = {
  me: null,
  layouts: [],
  layout: null, // LayoutOut of the layout shown
  revision: null,
  features: new Map(), // code -> grid Feature of the layout shown
  selected: null, // selected grid code
  mode: "select",
  validation: null,
  impact: null,
  tab: "layouts",
  msg: null, // {kind: ok|error|info, text, reload}
  buildingPick: null, // building feature being reassigned
  deleteArmed: false,
  importFields: [],
};

// Test / automation hook: what the page knows, for the browser tests to wait on.
window.gridmap = {
  ready: false, lang: null, layoutId: null, status: null, revision: null, saved: 0, failed: 0,
  lastError: null, validation: null, impact: null, compare: null, route: null, edits: null, map: null,
  gridCount: 0, loads: 0, published: null,
};

let gridMap;
let map;
let baseDrawn = false;
let compareTouched = false;
let signIn;
const layers = {};

// ---- small helpers ----------------------------------------------------------------

function isDraft() {
  return state.layout?.status === "draft";
}

/** Today's date in Beijing as YYYY-MM-DD (governance dates are Beijing dates wherever the browser is). */
function beijingDate(offsetDays = 0) {
  const d = new Date(Date.now() + offsetDays * 86_400_000);
  return new Intl.DateTimeFormat("en-CA", { timeZone: BEIJING, year: "numeric", month: "2-digit", day: "2-digit" })
    .format(d);
}

function beijingNowLocal() {
  const parts = new Intl.DateTimeFormat("en-CA", {
    timeZone: BEIJING, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
    hourCycle: "h23",
  }).formatToParts(new Date());
  const get = (type) => parts.find((p) => p.type === type)?.value;
  return `${get("year")}-${get("month")}-${get("day")}T${get("hour")}:${get("minute")}`;
}

function gridLabel(code) {
  const f = state.features.get(code);
  const name = f ? featureName(f.properties) : "";
  return name ? `${name} (${code})` : code;
}

function kindName(kind) {
  return tOr(`pl.kind.${kind}`, kind);
}

// ---- busy indicator, messages ----------------------------------------------------------

let busy = 0;
function setBusy(delta, message) {
  busy = Math.max(0, busy + delta);
  $("progress").hidden = busy === 0;
  document.body.setAttribute("aria-busy", busy ? "true" : "false");
  if (message) $("status-text").textContent = message;
  $("status-chip").hidden = busy === 0;
}

async function withBusy(messageKey, fn) {
  setBusy(+1, t(messageKey));
  try {
    return await fn();
  } finally {
    setBusy(-1);
  }
}

/** A refusal in words: our own sentence for the code, then the server's detail. */
function describeError(err) {
  if (!(err instanceof ApiError)) return String(err?.message || err);
  if (err.code === "network") return t("error.network");
  const own = tOr(`pl.err.${err.code}`, "");
  const body = err.body || {};
  const extras = [];
  if (body.row) extras.push(t("pl.err.row", { row: body.row }));
  if (body.reason && typeof body.reason === "string") extras.push(tOr(`pl.reason.${body.reason}`, body.reason));
  if (body.field) extras.push(t("pl.err.field", { field: body.field }));
  const detail = err.detail || err.title || t("error.http", { status: err.status });
  const head = own || err.title || t("error.title");
  const tail = [extras.join(" · "), detail !== head ? detail : ""].filter(Boolean).join(" — ");
  return `${head}${tail ? `: ${tail}` : ""} (${err.code}, HTTP ${err.status})`;
}

function say(kind, text, { reload = false } = {}) {
  state.msg = { kind, text, reload };
  renderMsg();
}

function renderMsg() {
  const box = $("pl-msg");
  box.hidden = !state.msg;
  if (!state.msg) return;
  box.dataset.kind = state.msg.kind;
  box.setAttribute("role", state.msg.kind === "error" ? "alert" : "status");
  $("pl-msg-text").textContent = state.msg.text;
  $("pl-msg-reload").hidden = !state.msg.reload;
}

function failed(err, where) {
  if (err instanceof ApiError && err.isUnauthorized) {
    signIn.rejected();
    return;
  }
  window.gridmap.lastError = err instanceof ApiError ? { code: err.code, status: err.status, body: err.body } : { code: "client", detail: String(err) };
  const text = describeError(err);
  if (where) {
    where.textContent = text;
    where.hidden = false;
  } else {
    say("error", text);
  }
}

// ---- map layers -----------------------------------------------------------------------

function gridStyle(f) {
  const code = f.properties?.code;
  const cls = classify(f.properties?.households);
  const sel = code === state.selected ? " is-selected" : "";
  return { className: `gm-grid gm-grid--${cls} pl-grid${sel}` };
}

function initLayers() {
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

function drawGrids() {
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
function repaint(pane) {
  const svg = map.getPane(pane)?.querySelector("svg");
  if (!svg) return;
  svg.style.display = "none";
  void svg.getBoundingClientRect();
  svg.style.display = "";
}

function gridLayer(code) {
  let found = null;
  layers.grids.eachLayer((l) => { if (l.feature?.properties?.code === code) found = l; });
  return found;
}

function restyle() {
  layers.grids.eachLayer((l) => l.setStyle(gridStyle(l.feature)));
  layers.grids.eachLayer((l) => {
    const el = l.getElement?.();
    if (el) el.classList.toggle("is-selected", l.feature.properties.code === state.selected);
  });
}

function fitToGrids() {
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

// ---- selection and modes --------------------------------------------------------------------

const MODES = ["select", "vertices", "split", "merge", "draw", "building"];
const NEEDS_GRID = new Set(["vertices", "split", "merge"]);

function setMode(mode) {
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

function enableVertexEditing() {
  const layer = gridLayer(state.selected);
  if (!layer) return;
  layer.pm.enable({ snappable: $("snap").checked, snapDistance: SNAP_PX, allowSelfIntersection: false, draggable: false });
  layer.off("pm:edit");
  layer.on("pm:edit", () => saveGeometry(layer));
}

function select(code, { zoom = false } = {}) {
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

function onGridClick(code, ev) {
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

function onMapClick(ev) {
  if (routePicking) {
    $("route-lon").value = ev.latlng.lng.toFixed(6);
    $("route-lat").value = ev.latlng.lat.toFixed(6);
    setRoutePicking(false);
    runRoute();
  }
}

async function onDrawn(ev) {
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

function pickBuilding(f) {
  state.buildingPick = f;
  layers.buildings.eachLayer((l) => l.getElement?.()?.classList.toggle("is-picked", l.feature === f));
  renderBuildingCard();
}

// ---- edits: one at a time, each naming the revision it was made against ---------------------------

let chain = Promise.resolve();
let staffPicker = null;

/** Queue an edit (or undo when `body.op === "undo"`); resolves after it was applied or refused. */
function runEdit(body, opts = {}) {
  const next = chain.then(() => doEdit(body, opts));
  chain = next.catch(() => {});
  return next;
}

async function doEdit(body, { select: keepSelected, selectNew = false, mode, errorEl } = {}) {
  if (!state.layout || !isDraft()) return false;
  const id = state.layout.id;
  const { op, ...fields } = body;
  const path = op === "undo" ? `layouts/${id}/undo` : `layouts/${id}/edits`;
  const json = op === "undo" ? { base_revision: state.revision } : { base_revision: state.revision, op, ...fields };
  const before = new Set(state.features.keys());
  return withBusy("pl.busy.saving", async () => {
    try {
      const res = await apiSend(path, { json });
      applyEditResult(res);
      window.gridmap.saved += 1;
      window.gridmap.lastError = null;
      const codes = res.edit?.codes || [];
      const whole = res.edit?.params?.buildings_kept_whole || [];
      window.gridmap.keptWhole = whole;
      say("ok", t("pl.saved", { op: tOr(`pl.op.${res.edit?.op || op}`, op), rev: res.revision, codes: codes.join(", ") || "–" })
        + (whole.length ? ` ${t("pl.split.keptWhole", { n: whole.length, list: whole.map((b) => `${b.building_code} → ${b.code}`).join(", ") })}` : ""));
      if (errorEl) errorEl.hidden = true;
      if (selectNew) {
        const added = [...state.features.keys()].find((c) => !before.has(c));
        select(added || null);
      } else if (keepSelected !== undefined) {
        select(state.features.has(keepSelected) ? keepSelected : null);
      } else if (state.selected && !state.features.has(state.selected)) {
        select(null);
      }
      if (mode) setMode(mode);
      refreshAfterEdit();
      return true;
    } catch (err) {
      window.gridmap.failed += 1;
      if (err instanceof ApiError && err.code === "revision_conflict") {
        failed(err);
        say("error", t("pl.err.revision_conflict"), { reload: true });
        await openLayout(id, { fit: false, keepMsg: true });
      } else {
        failed(err, errorEl);
        if (errorEl) say("error", describeError(err));
        drawGrids(); // put back what geoman moved locally: the draft is as the server says
        restyle();
      }
      return false;
    }
  });
}

function applyEditResult(res) {
  for (const code of res.removed || []) state.features.delete(code);
  for (const f of res.changed?.features || []) {
    const code = f.properties?.code ?? f.id;
    state.features.set(String(code), f);
  }
  state.revision = res.revision;
  if (state.layout) {
    state.layout.revision = res.revision;
    state.layout.grid_count = state.features.size;
  }
  window.gridmap.revision = res.revision;
  drawGrids();
  restyle();
  renderCurrent();
}

let validationTimer = 0;
function refreshAfterEdit() {
  clearTimeout(validationTimer);
  validationTimer = setTimeout(() => {
    loadValidation();
    if (state.tab === "history") loadEdits();
  }, 150);
  state.impact = null;
  window.gridmap.impact = null;
  renderImpact();
}

// ---- layouts ----------------------------------------------------------------------------------

async function loadLayouts() {
  const res = await api.layouts();
  state.layouts = res?.items || [];
  renderLayouts();
  renderLayoutSelects();
}

function statusName(l) {
  if (l.current) return t("pl.status.current");
  return tOr(`pl.status.${l.status}`, l.status);
}

function renderLayouts() {
  const groups = [["draft", "pl.group.drafts"], ["published", "pl.group.published"], ["retired", "pl.group.retired"]];
  const html = groups.map(([status, key]) => {
    const items = state.layouts.filter((l) => l.status === status);
    const rows = items.map((l) => {
      const open = state.layout?.id === l.id;
      const when = l.effective_from ? t("pl.layout.from", { date: formatDate(l.effective_from) }) : "";
      const until = l.effective_to ? t("pl.layout.to", { date: formatDate(l.effective_to) }) : "";
      const rev = status === "draft" ? t("pl.layout.rev", { n: l.revision ?? 0 }) : "";
      return `<li class="pl-layout${open ? " is-open" : ""}" data-id="${l.id}">
        <div class="pl-layout__main">
          <span class="pl-status pl-status--${l.current ? "current" : escapeHtml(l.status)}">${escapeHtml(statusName(l))}</span>
          <strong class="pl-layout__name">${escapeHtml(l.name)}</strong>
          <span class="pl-layout__meta">#${l.id} · ${escapeHtml(t("pl.layout.grids", { n: formatNumber(l.grid_count) }))}${rev ? ` · ${escapeHtml(rev)}` : ""}${when ? ` · ${escapeHtml(when)}` : ""}${until ? ` · ${escapeHtml(until)}` : ""}</span>
        </div>
        <div class="pl-layout__actions">
          <button type="button" class="btn btn--small" data-open="${l.id}" ${open ? "disabled" : ""}>${escapeHtml(t(open ? "pl.layout.isOpen" : "pl.layout.open"))}</button>
          ${status === "draft" ? `<button type="button" class="btn btn--small btn--danger" data-delete="${l.id}">${escapeHtml(t("pl.layout.delete"))}</button>` : ""}
        </div>
      </li>`;
    }).join("");
    return `<h3 class="pl-group">${escapeHtml(t(key))} <span class="pl-group__n">${items.length}</span></h3>`
      + (rows ? `<ul class="pl-layout-list">${rows}</ul>` : `<p class="pl-hint">${escapeHtml(t("pl.group.empty"))}</p>`);
  }).join("");
  $("layouts").innerHTML = html;
}

function renderLayoutSelects() {
  const opt = (l, sel) => `<option value="${l.id}" ${sel ? "selected" : ""}>#${l.id} ${escapeHtml(l.name)} · ${escapeHtml(statusName(l))}</option>`;
  const published = state.layouts.filter((l) => l.status !== "draft");
  const cur = state.layouts.find((l) => l.current) || published[0];
  const keepAgainst = $("impact-against").value;
  $("impact-against").innerHTML = published.map((l) => opt(l, keepAgainst ? String(l.id) === keepAgainst : l === cur)).join("");
  // Until the planner picks, compare the layout in force (A) with the one open (B).
  const a = compareTouched ? $("compare-a").value : String(cur?.id || "");
  const b = compareTouched ? $("compare-b").value : String(state.layout?.id || "");
  $("compare-a").innerHTML = state.layouts.map((l) => opt(l, String(l.id) === a)).join("");
  $("compare-b").innerHTML = state.layouts.map((l) => opt(l, String(l.id) === b)).join("");
}

async function openLayout(id, { fit = true, keepMsg = false } = {}) {
  await withBusy("pl.busy.loading", async () => {
    try {
      const [layout, fc] = await Promise.all([apiGet(`layouts/${id}`), apiGet(`layouts/${id}/grids`)]);
      state.layout = layout;
      state.revision = fc.revision ?? layout.revision ?? null;
      state.features = new Map(fc.features.map((f) => [String(f.properties?.code ?? f.id), f]));
      if (!state.features.has(state.selected)) state.selected = null;
      state.validation = null;
      state.impact = null;
      window.gridmap.layoutId = layout.id;
      window.gridmap.status = layout.status;
      window.gridmap.revision = state.revision;
      window.gridmap.validation = null;
      window.gridmap.impact = null;
      if (!keepMsg) { state.msg = null; renderMsg(); }
      setMode(isDraft() ? state.mode : "select");
      drawGrids();
      restyle();
      if (fit) fitToGrids();
      const url = new URL(window.location.href);
      url.searchParams.set("layout", String(layout.id));
      window.history.replaceState(window.history.state, "", url.pathname + url.search + url.hash);
      renderCurrent();
      renderLayouts();
      renderLayoutSelects();
      renderAttrForm();
      renderValidation();
      renderImpact();
      layers.moves.clearLayers();
      if (isDraft()) loadValidation();
      if (state.tab === "history") loadEdits();
    } catch (err) {
      failed(err);
    }
  });
}

async function createCopy(ev) {
  ev.preventDefault();
  const name = $("copy-name").value.trim();
  const errEl = $("copy-error");
  errEl.hidden = true;
  if (!name) {
    errEl.textContent = t("pl.err.nameRequired");
    errEl.hidden = false;
    return;
  }
  await withBusy("pl.busy.copying", async () => {
    try {
      const created = await apiSend("layouts", { json: { name, copy_of: null } });
      say("ok", t("pl.copy.done", { name: created.name, n: formatNumber(created.grid_count) }));
      await loadLayouts();
      await openLayout(created.id, { keepMsg: true });
      showTab("edit");
    } catch (err) {
      failed(err, errEl);
    }
  });
}

async function importFile(ev) {
  ev.preventDefault();
  const errEl = $("import-error");
  errEl.hidden = true;
  const file = $("import-file").files?.[0];
  const name = $("import-name").value.trim();
  const problem = !file ? "pl.err.fileRequired" : !name ? "pl.err.nameRequired"
    : !$("import-code-field").value.trim() ? "pl.err.codeFieldRequired" : null;
  let crs = $("import-crs").value;
  if (!problem && crs === "epsg") {
    const n = $("import-epsg").value.trim();
    if (!/^[0-9]{4,5}$/.test(n)) {
      errEl.textContent = t("pl.err.epsg");
      errEl.hidden = false;
      return;
    }
    crs = `EPSG:${n}`;
  }
  if (problem) {
    errEl.textContent = t(problem);
    errEl.hidden = false;
    return;
  }
  const form = new FormData();
  form.append("file", file, file.name);
  form.append("name", name);
  form.append("crs", crs);
  form.append("code_field", $("import-code-field").value.trim());
  if ($("import-name-field").value.trim()) form.append("name_field", $("import-name-field").value.trim());
  await withBusy("pl.busy.importing", async () => {
    try {
      const created = await apiSend("layouts", { form });
      const imp = created.import || {};
      say("ok", t("pl.import.done", {
        name: created.name, n: formatNumber(imp.rows ?? created.grid_count),
        repaired: formatNumber((imp.repaired || []).length), crs: imp.crs_assumed || crs,
      }));
      $("import-form").reset();
      $("import-fields").innerHTML = "";
      $("import-fields-hint").hidden = true;
      await loadLayouts();
      await openLayout(created.id, { keepMsg: true });
      showTab("edit");
    } catch (err) {
      failed(err, errEl);
      say("error", describeError(err));
    }
  });
}

/** Offer the fields of a GeoJSON file for the code and name mapping (other formats: typed by hand). */
async function onImportFile() {
  const file = $("import-file").files?.[0];
  $("import-fields").innerHTML = "";
  $("import-fields-hint").hidden = true;
  state.importFields = [];
  if (!file) return;
  if (!$("import-name").value.trim()) $("import-name").value = file.name.replace(/\.[^.]+$/, "");
  if (!/\.(geo)?json$/i.test(file.name) || file.size > 50_000_000) return;
  let data;
  try {
    data = JSON.parse(await file.text());
    const keys = new Set();
    for (const f of (data.features || []).slice(0, 200)) for (const k of Object.keys(f.properties || {})) keys.add(k);
    state.importFields = [...keys];
  } catch {
    return; // the server will say what is wrong with it
  }
  $("import-fields").innerHTML = state.importFields.map((k) => `<option value="${escapeHtml(k)}"></option>`).join("");
  const pick = (current, re) => (state.importFields.includes(current) ? current : state.importFields.find((k) => re.test(k)) || current);
  $("import-code-field").value = pick($("import-code-field").value.trim(), /code|编码|bm/i);
  $("import-name-field").value = pick($("import-name-field").value.trim(), /name|名称|mc/i);
  renderImportHint();
  // The file may declare its CRS (GeoJSON "crs" member, old style): preselect it.
  const declared = String(data?.crs?.properties?.name || "");
  const epsg = declared.match(/EPSG:{1,2}(\d{4,5})/i)?.[1];
  if (epsg === "4326") $("import-crs").value = "wgs84";
  else if (epsg === "4490") $("import-crs").value = "cgcs2000";
}

function renderImportHint() {
  const el = $("import-fields-hint");
  el.hidden = !state.importFields.length;
  el.textContent = state.importFields.length ? t("pl.import.fields", { fields: state.importFields.join(", ") }) : "";
}

async function deleteLayout(id) {
  const btn = document.querySelector(`[data-delete="${id}"]`);
  if (btn && btn.dataset.armed !== "1") {
    btn.dataset.armed = "1";
    btn.textContent = t("pl.layout.deleteConfirm");
    return;
  }
  await withBusy("pl.busy.deleting", async () => {
    try {
      await apiSend(`layouts/${id}`, { method: "DELETE" });
      say("ok", t("pl.layout.deleted", { id }));
      if (state.layout?.id === id) {
        state.layout = null;
        state.features.clear();
        drawGrids();
      }
      await loadLayouts();
      if (!state.layout) {
        const cur = state.layouts.find((l) => l.current);
        if (cur) await openLayout(cur.id, { keepMsg: true });
      }
    } catch (err) {
      failed(err);
    }
  });
}

// ---- validation ---------------------------------------------------------------------------------

let validationCtl = null;
async function loadValidation() {
  if (!state.layout || !isDraft()) return;
  validationCtl?.abort();
  validationCtl = new AbortController();
  const id = state.layout.id;
  setBusy(+1, t("pl.busy.validating"));
  try {
    const v = await apiGet(`layouts/${id}/validation`, { signal: validationCtl.signal });
    if (state.layout?.id !== id) return;
    state.validation = v;
    window.gridmap.validation = { revision: v.revision, blocking: v.blocking, counts: v.counts || {},
      blocking_counts: v.blocking_counts || {}, known_counts: v.known_counts || {},
      unstaffed: (v.unstaffed || []).map((g) => g.code), n: v.findings?.features?.length ?? 0 };
    renderValidation();
  } catch (err) {
    if (err?.name !== "AbortError") failed(err);
  } finally {
    setBusy(-1);
  }
}

function findingText(p) {
  return (isZh() ? p.message_zh || p.message_en : p.message_en || p.message_zh) || kindName(p.kind);
}

function renderValidation() {
  const v = state.validation;
  layers.findings.clearLayers();
  const badge = $("val-badge");
  if (!v) {
    $("val-verdict").dataset.state = "none";
    $("val-verdict").textContent = isDraft() ? t("pl.val.pending") : t("pl.val.onlyDrafts");
    $("val-counts").innerHTML = "";
    $("findings").innerHTML = "";
    badge.hidden = true;
    return;
  }
  const feats = v.findings?.features || [];
  layers.findings.addData(v.findings || EMPTY_FC);
  repaint("pl-findings");
  const nBlocking = feats.filter((f) => f.properties?.severity === "blocking").length;
  badge.hidden = feats.length === 0;
  badge.textContent = String(nBlocking || feats.length);
  badge.classList.toggle("pl-badge--warn", !nBlocking);
  const verdict = $("val-verdict");
  verdict.dataset.state = v.blocking ? "blocking" : feats.length ? "warnings" : "clean";
  verdict.textContent = v.blocking ? t("pl.val.blocking", { n: nBlocking, rev: v.revision })
    : feats.length ? t("pl.val.warnings", { n: feats.length, rev: v.revision }) : t("pl.val.clean", { rev: v.revision });
  const nKnown = Object.values(v.known_counts || {}).reduce((a, b) => a + b, 0);
  $("val-known").hidden = !nKnown;
  $("val-known").textContent = nKnown ? t("pl.val.known", { n: nKnown }) : "";
  const unstaffed = v.unstaffed || [];
  $("val-unstaffed").hidden = !unstaffed.length;
  $("val-unstaffed").textContent = unstaffed.length ? t("pl.val.unstaffed", { n: unstaffed.length,
    list: unstaffed.map((g) => `${g.name} (${g.code})`).join(isZh() ? "、" : ", ") }) : "";
  const counts = v.counts || {};
  const blockingCounts = v.blocking_counts || {};
  $("val-counts").innerHTML = Object.entries(counts).filter(([, n]) => n).map(([kind, n]) =>
    `<div class="${blockingCounts[kind] ? "is-blocking" : (v.known_counts || {})[kind] ? "is-known" : ""}" data-kind="${escapeHtml(kind)}"><dt>${escapeHtml(kindName(kind))}</dt><dd>${formatNumber(n)}</dd></div>`).join("");
  $("findings").innerHTML = feats.map((f, i) => {
    const p = f.properties || {};
    const area = p.area_m2 ? ` · ${formatNumber(Math.round(p.area_m2))} m²` : "";
    const codes = (p.codes || []).length ? ` · ${(p.codes || []).map(escapeHtml).join(", ")}` : "";
    const sev = ["blocking", "known"].includes(p.severity) ? p.severity : "warning";
    return `<li class="pl-finding-item pl-finding-item--${sev}" data-i="${i}" data-kind="${escapeHtml(p.kind)}" tabindex="0" role="button">
      <span class="pl-finding-item__kind">${escapeHtml(kindName(p.kind))}</span>
      <span class="pl-finding-item__text">${escapeHtml(findingText(p))}</span>
      <span class="pl-finding-item__meta">${escapeHtml(tOr(`pl.sev.${p.severity}`, p.severity || ""))}${area}${codes}</span>
    </li>`;
  }).join("");
}

function zoomToFinding(i) {
  const f = state.validation?.findings?.features?.[i];
  if (!f) return;
  const layer = L.geoJSON(f);
  const b = layer.getBounds();
  if (b.isValid()) map.fitBounds(b, { padding: [80, 80], maxZoom: 18 });
  const codes = f.properties?.codes || [];
  if (codes.length === 1) select(codes[0]);
  for (const el of document.querySelectorAll(".pl-finding-item")) el.classList.toggle("is-active", el.dataset.i === String(i));
}

// ---- impact -------------------------------------------------------------------------------------

async function runImpact() {
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

function renderImpact() {
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

// ---- publish ------------------------------------------------------------------------------------

function openPublish() {
  if (!isDraft()) return;
  const dlg = $("publish-dlg");
  $("publish-refusal").hidden = true;
  $("publish-date").min = beijingDate(0);
  if (!$("publish-date").value || $("publish-date").value < beijingDate(0)) $("publish-date").value = beijingDate(1);
  $("publish-override").hidden = state.me?.role !== "admin";
  const v = state.validation;
  $("publish-lead").textContent = t("pl.publish.lead", { name: state.layout.name, rev: state.revision })
    + (v?.blocking ? ` ${t("pl.publish.willRefuse")}` : "");
  renderUnstaffed(v?.unstaffed || []);
  dlg.showModal();
}

/** The grids that would have nobody on duty, and the control to accept them with a reason (recorded). */
function renderUnstaffed(grids) {
  state.unstaffed = grids;
  $("publish-unstaffed").hidden = !grids.length;
  if (!grids.length) return;
  const households = grids.reduce((a, g) => a + (g.households || 0), 0);
  $("publish-unstaffed-lead").textContent = t("pl.publish.unstaffedLead", { n: grids.length, households: formatNumber(households) });
  $("publish-unstaffed-list").innerHTML = grids.map((g) => `<li data-code="${escapeHtml(g.code)}"><strong>${escapeHtml(g.name || "")}</strong>
      <code>${escapeHtml(g.code)}</code> · ${escapeHtml(t("pl.households", { n: formatNumber(g.households) }))}</li>`).join("");
}

function effectiveFrom(date) {
  // Beijing midnight of the chosen day; today means "now" (a publish may not start in the past).
  if (date === beijingDate(0)) return null;
  return `${date}T00:00:00+08:00`;
}

async function submitPublish(ev) {
  ev.preventDefault();
  const refusal = $("publish-refusal");
  refusal.hidden = true;
  const date = $("publish-date").value;
  if (!date || date < beijingDate(0)) {
    refusal.textContent = t("pl.err.publishDate");
    refusal.hidden = false;
    return;
  }
  const body = {
    base_revision: state.revision,
    reroute_open_cases: $("publish-reroute").checked,
  };
  const from = effectiveFrom(date);
  if (from) body.effective_from = from;
  const reason = $("publish-reason").value.trim();
  if (reason && state.me?.role === "admin") body.override_reason = reason;
  if ((state.unstaffed || []).length && $("publish-accept-unstaffed").checked) {
    body.accept_unstaffed = state.unstaffed.map((g) => g.code);
    const why = $("publish-unstaffed-reason").value.trim();
    if (!why) {
      refusal.textContent = t("pl.publish.unstaffedReasonNeeded");
      refusal.hidden = false;
      return;
    }
    body.unstaffed_reason = why;
  }
  const id = state.layout.id;
  await withBusy("pl.busy.publishing", async () => {
    try {
      const out = await apiSend(`layouts/${id}/publish`, { json: body });
      $("publish-dlg").close();
      window.gridmap.published = { id: out.id, effective_from: out.effective_from };
      say("ok", t("pl.publish.done", { name: out.name, date: formatDate(out.effective_from || new Date().toISOString()) }));
      await loadLayouts();
      await openLayout(id, { fit: false, keepMsg: true });
    } catch (err) {
      window.gridmap.lastError = err instanceof ApiError ? { code: err.code, status: err.status, body: err.body } : { code: "client" };
      if (err instanceof ApiError && err.isUnauthorized) { $("publish-dlg").close(); signIn.rejected(); return; }
      refusal.innerHTML = publishRefusal(err);
      refusal.hidden = false;
    }
  });
}

function publishRefusal(err) {
  if (err instanceof ApiError && err.code === "unstaffed_grids") {
    renderUnstaffed(err.body?.grids || []);
    return `<strong>${escapeHtml(t("pl.err.unstaffed_grids", { n: (err.body?.grids || []).length }))}</strong><p>${escapeHtml(t("pl.publish.unstaffedHint"))}</p>`;
  }
  if (err instanceof ApiError && err.code === "blocking_findings") {
    const counts = err.body?.blocking_counts || err.body?.counts || {};
    const items = Object.entries(counts).filter(([, n]) => n)
      .map(([k, n]) => `<li>${escapeHtml(kindName(k))}: ${formatNumber(n)}</li>`).join("");
    const hint = state.me?.role === "admin" ? t("pl.publish.adminHint") : t("pl.publish.plannerHint");
    return `<strong>${escapeHtml(t("pl.err.blocking_findings"))}</strong><ul>${items}</ul><p>${escapeHtml(hint)}</p>`;
  }
  return `<strong>${escapeHtml(t("pl.publish.refused"))}</strong><p>${escapeHtml(describeError(err))}</p>`;
}

// ---- cancel a scheduled publish -------------------------------------------------------------------

function isScheduled() {
  const l = state.layout;
  return Boolean(l && l.status === "published" && l.effective_from && new Date(l.effective_from) > new Date());
}

function openCancelPublish() {
  if (!isScheduled()) return;
  $("cancel-refusal").hidden = true;
  $("cancel-reason").value = "";
  $("cancel-lead").textContent = t("pl.cancelPublish.lead", { name: state.layout.name, date: formatDateTime(state.layout.effective_from) });
  $("cancel-dlg").showModal();
}

async function submitCancelPublish(ev) {
  ev.preventDefault();
  const id = state.layout.id;
  const reason = $("cancel-reason").value.trim();
  await withBusy("pl.busy.publishing", async () => {
    try {
      const out = await apiSend(`layouts/${id}/publish/cancel`, { json: reason ? { reason } : {} });
      $("cancel-dlg").close();
      window.gridmap.cancelled = { id: out.id, status: out.status };
      say("ok", t("pl.cancelPublish.done", { name: out.name }));
      await loadLayouts();
      await openLayout(id, { fit: false, keepMsg: true });
    } catch (err) {
      window.gridmap.lastError = err instanceof ApiError ? { code: err.code, status: err.status, body: err.body } : { code: "client" };
      if (err instanceof ApiError && err.isUnauthorized) { $("cancel-dlg").close(); signIn.rejected(); return; }
      $("cancel-refusal").innerHTML = `<strong>${escapeHtml(t("pl.cancelPublish.refused"))}</strong><p>${escapeHtml(describeError(err))}</p>`;
      $("cancel-refusal").hidden = false;
    }
  });
}

// ---- history ----------------------------------------------------------------------------------

async function loadEdits() {
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

function formatDateTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return new Intl.DateTimeFormat(getLang(), { dateStyle: "short", timeStyle: "short", timeZone: BEIJING }).format(d);
}

async function runCompare(ev) {
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

let routePicking = false;
function setRoutePicking(on) {
  routePicking = on;
  $("route-pick").setAttribute("aria-pressed", on ? "true" : "false");
  map.getContainer().classList.toggle("pl-picking", on);
}

async function runRoute(ev) {
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

// ---- rendering of the side panel ------------------------------------------------------------

function renderCurrent() {
  const l = state.layout;
  $("pl-current").hidden = !l;
  $("pl-badge").hidden = !l;
  if (!l) return;
  $("cur-status").className = `pl-status pl-status--${l.current ? "current" : l.status}`;
  $("cur-status").textContent = statusName(l);
  $("cur-name").textContent = l.name;
  const meta = [`#${l.id}`, t("pl.layout.grids", { n: formatNumber(state.features.size) })];
  if (l.status === "draft") meta.push(t("pl.layout.rev", { n: state.revision ?? 0 }));
  if (l.effective_from) meta.push(t("pl.layout.from", { date: formatDate(l.effective_from) }));
  $("cur-meta").textContent = meta.join(" · ");
  $("btn-undo").hidden = !isDraft();
  $("btn-publish").hidden = !isDraft();
  $("btn-cancel-publish").hidden = !isScheduled();
  $("btn-undo").disabled = !state.revision;
  $("pl-badge-status").textContent = statusName(l);
  $("pl-badge-name").textContent = l.name;
  $("pl-badge-rev").textContent = l.status === "draft" ? t("pl.layout.rev", { n: state.revision ?? 0 }) : (l.effective_from ? formatDate(l.effective_from) : "");
}

const TOOL_HINTS = {
  select: "pl.hint.select", vertices: "pl.hint.vertices", split: "pl.hint.split", merge: "pl.hint.merge",
  draw: "pl.hint.draw", building: "pl.hint.building",
};

function renderTools() {
  const draft = isDraft();
  $("edit-readonly").hidden = draft;
  $("edit-tools").hidden = !draft;
  for (const btn of document.querySelectorAll(".pl-tool")) {
    btn.setAttribute("aria-pressed", btn.dataset.mode === state.mode ? "true" : "false");
    btn.disabled = !draft || (NEEDS_GRID.has(btn.dataset.mode) && !state.selected);
  }
  const sel = state.selected ? gridLabel(state.selected) : "";
  $("tool-hint").textContent = t(TOOL_HINTS[state.mode], { grid: sel });
}

function renderAttrForm() {
  const f = state.selected ? state.features.get(state.selected) : null;
  $("attr-form").hidden = !f;
  $("attr-error").hidden = true;
  if (!f) return;
  const p = f.properties || {};
  const draft = isDraft();
  $("attr-code-now").textContent = p.code;
  $("attr-name").value = p.name ?? "";
  $("attr-name-en").value = p.name_en ?? "";
  $("attr-code").value = p.code ?? "";
  $("attr-households").value = p.households ?? "";
  $("attr-population").value = p.population ?? "";
  staffPicker.setValue(p.staff || []);
  staffPicker.setArea(p.community_code || null);
  for (const el of $("attr-form").querySelectorAll("input, button")) el.disabled = !draft;
  staffPicker.setDisabled(!draft);
  renderAttrLabels();
}

/** The parts of the attribute form that depend on the language (a switch keeps what was typed). */
function renderAttrLabels() {
  const f = state.selected ? state.features.get(state.selected) : null;
  if (!f) return;
  const staff = f.properties?.staff || [];
  $("attr-staff-names").textContent = staff.length ? "" : t("pl.attr.noStaffWarn");
  $("attr-staff-names").hidden = staff.length > 0 || !isDraft();  // a warning for the draft being planned
  staffPicker.relabel();
  $("attr-delete").textContent = t(state.deleteArmed ? "pl.attr.deleteConfirm" : "pl.attr.delete");
}

function renderBuildingCard() {
  const f = state.buildingPick;
  $("building-card").hidden = !(f && state.mode === "building");
  if (!f) return;
  $("building-code").textContent = f.id;
  $("building-where").textContent = `${f.properties?.address || ""} · ${t("pl.households", { n: formatNumber(f.properties?.households) })}`;
  const codes = [...state.features.keys()].sort();
  // Preselect the grid that holds the building's centre, else the selected grid.
  let guess = state.selected;
  const c = L.geoJSON(f).getBounds().getCenter();
  layers.grids.eachLayer((l) => {
    if (!guess && l.getBounds().contains(c)) guess = l.feature.properties.code;
  });
  $("building-grid").innerHTML = codes.map((code) => `<option value="${code}" ${code === guess ? "selected" : ""}>${escapeHtml(gridLabel(code))}</option>`).join("");
}

function showTab(tab) {
  state.tab = tab;
  for (const btn of document.querySelectorAll(".pl-tabs__tab")) {
    const on = btn.dataset.tab === tab;
    btn.setAttribute("aria-selected", on ? "true" : "false");
    $(`pane-${btn.dataset.tab}`).hidden = !on;
  }
  if (tab === "history") loadEdits();
  if (tab === "validation" && isDraft() && !state.validation) loadValidation();
}

function relabel() {
  window.gridmap.lang = getLang();
  document.title = t("pl.pageTitle");
  for (const btn of document.querySelectorAll(".lang-switch__btn")) {
    btn.setAttribute("aria-pressed", btn.dataset.lang === getLang() ? "true" : "false");
  }
  map?.pm?.setLang(isZh() ? "zh" : "en");
  signIn?.render();
  renderMsg();
  renderWho();
  renderCurrent();
  renderLayouts();
  renderLayoutSelects();
  renderTools();
  renderAttrLabels();
  renderValidation();
  renderImpact();
  renderImportHint();
  gridMap?.relabel();
}

function renderWho() {
  const el = $("who");
  el.hidden = !state.me;
  if (!state.me) return;
  el.innerHTML = `<span class="pl-who__name">${escapeHtml(state.me.name)}</span>`
    + `<span class="pl-who__role">${escapeHtml(tOr(`op.role.${state.me.role}`, state.me.role))}</span>`;
}

// ---- attribute form ---------------------------------------------------------------------------

function intOrNull(id) {
  const raw = $(id).value.trim();
  if (raw === "") return null;
  const n = Number(raw);
  return Number.isInteger(n) && n >= 0 ? n : NaN;
}

function submitAttrs(ev) {
  ev.preventDefault();
  const code = state.selected;
  const f = state.features.get(code);
  if (!f) return;
  const p = f.properties || {};
  const errEl = $("attr-error");
  errEl.hidden = true;
  const body = { op: "update_attrs", code };
  const name = $("attr-name").value.trim();
  const nameEn = $("attr-name-en").value.trim();
  const newCode = $("attr-code").value.trim();
  if (!name) {
    errEl.textContent = t("pl.err.nameRequired");
    errEl.hidden = false;
    return;
  }
  if (name !== (p.name ?? "")) body.name = name;
  if (nameEn !== (p.name_en ?? "")) body.name_en = nameEn || null;
  if (newCode !== code) body.new_code = newCode;
  for (const [field, id] of [["households", "attr-households"], ["population", "attr-population"]]) {
    const v = intOrNull(id);
    if (Number.isNaN(v)) {
      errEl.textContent = t("pl.err.count", { field: t(`pl.attr.${field}`) });
      errEl.hidden = false;
      return;
    }
    if (v !== null && v !== p[field]) body[field] = v;
  }
  const staff = staffPicker.ids();
  const before = (p.staff || []).map((s) => s.id).join(",");
  if (staff.join(",") !== before) body.staff = staff;
  if (Object.keys(body).length === 2) {
    say("info", t("pl.attr.nothing"));
    return;
  }
  runEdit(body, { select: body.new_code || code, errorEl: errEl });
}

function onDelete() {
  if (!state.selected) return;
  if (!state.deleteArmed) {
    state.deleteArmed = true;
    renderAttrForm();
    return;
  }
  state.deleteArmed = false;
  runEdit({ op: "delete", code: state.selected }, {});
}

// ---- loading ------------------------------------------------------------------------------------

async function load() {
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

// ---- boot ---------------------------------------------------------------------------------------

function wire() {
  for (const btn of document.querySelectorAll(".pl-tabs__tab")) btn.addEventListener("click", () => showTab(btn.dataset.tab));
  for (const btn of document.querySelectorAll(".pl-tool")) btn.addEventListener("click", () => setMode(btn.dataset.mode));
  $("snap").addEventListener("change", () => setMode(state.mode));
  $("layouts").addEventListener("click", (ev) => {
    const open = ev.target.closest("[data-open]");
    if (open) { openLayout(Number(open.dataset.open)); return; }
    const del = ev.target.closest("[data-delete]");
    if (del) deleteLayout(Number(del.dataset.delete));
  });
  $("copy-form").addEventListener("submit", createCopy);
  $("import-form").addEventListener("submit", importFile);
  $("import-file").addEventListener("change", onImportFile);
  $("import-crs").addEventListener("change", () => { $("import-epsg-wrap").hidden = $("import-crs").value !== "epsg"; });
  $("attr-form").addEventListener("submit", submitAttrs);
  $("attr-delete").addEventListener("click", onDelete);
  $("building-assign").addEventListener("click", () => {
    const f = state.buildingPick;
    if (!f) return;
    runEdit({ op: "assign_building", building_code: String(f.id), code: $("building-grid").value }, {}).then((ok) => {
      if (ok) { state.buildingPick = null; renderBuildingCard(); }
    });
  });
  $("btn-undo").addEventListener("click", () => runEdit({ op: "undo" }, {}));
  $("btn-publish").addEventListener("click", openPublish);
  $("publish-form").addEventListener("submit", submitPublish);
  $("publish-cancel").addEventListener("click", () => $("publish-dlg").close());
  $("btn-cancel-publish").addEventListener("click", openCancelPublish);
  $("cancel-form").addEventListener("submit", submitCancelPublish);
  $("cancel-close").addEventListener("click", () => $("cancel-dlg").close());
  staffPicker = createPeoplePicker($("attr-staff"), { roles: ["grid_leader", "grid_worker"], t: (k, p) => t(k, p) });
  $("val-refresh").addEventListener("click", loadValidation);
  const findingClick = (ev) => {
    const li = ev.target.closest(".pl-finding-item");
    if (li && (ev.type === "click" || ev.key === "Enter" || ev.key === " ")) { ev.preventDefault(); zoomToFinding(Number(li.dataset.i)); }
  };
  $("findings").addEventListener("click", findingClick);
  $("findings").addEventListener("keydown", findingClick);
  $("impact-run").addEventListener("click", runImpact);
  $("impact-rows").addEventListener("click", (ev) => {
    const b = ev.target.closest("[data-zoom]");
    if (b) select(b.dataset.zoom, { zoom: true });
  });
  $("compare-form").addEventListener("submit", runCompare);
  for (const id of ["compare-a", "compare-b"]) $(id).addEventListener("change", () => { compareTouched = true; });
  $("route-form").addEventListener("submit", runRoute);
  $("route-pick").addEventListener("click", () => setRoutePicking(!routePicking));
  $("pl-msg-close").addEventListener("click", () => { state.msg = null; renderMsg(); });
  $("pl-msg-reload").addEventListener("click", () => { if (state.layout) openLayout(state.layout.id, { fit: false }); });
  for (const btn of document.querySelectorAll(".lang-switch__btn")) {
    btn.addEventListener("click", () => { if (btn.dataset.lang !== getLang()) setLang(btn.dataset.lang); });
  }
  onLangChange(relabel);
  document.addEventListener("keydown", (ev) => {
    const typing = /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement?.tagName || "");
    if (ev.key === "Escape" && !typing && state.mode !== "select") setMode("select");
    if ((ev.ctrlKey || ev.metaKey) && ev.key === "z" && !typing && isDraft()) {
      ev.preventDefault();
      runEdit({ op: "undo" }, {});
    }
  });
}

async function main() {
  await setLang(detectLang(), { persist: false });
  wire(); // after the first setLang: relabel() needs the map, made below
  gridMap = new GridMap($("map"), {});
  map = gridMap.map;
  initLayers();
  const chrome = mountChrome({ onReady: load, needs: "pl.auth.needPlanner" }); // the shared sign-in
  signIn = chrome.signIn;
  relabel();
  takeKeyFromLocation();
  await chrome.start();
}

main().catch((err) => {
  console.error("planner: startup failed", err);
  say("error", String(err?.message || err));
});
