// gridmap planner workspace (issue 8): make a draft grid layout (copy the one in force, or import a
// file), edit it on the map (Leaflet-Geoman: vertices with snapping, split along a drawn line, merge,
// draw, delete, reassign a building, attributes), every edit saved server-side at once with the draft's
// revision, undo; validation findings listed and drawn after every edit; the impact against the
// published layout; publish with an effective date; history (edits, compare, route a point as of a date).
// The API contract is api/planner/README.md.
//
// This is the entry module: it wires the page and starts it. The rest lives in web/js/planner/, one module per
// section (issue 22), each importing what it uses; no build step.

import { takeKeyFromLocation } from "./api.js";
import { mountChrome } from "./chrome.js";
import { detectLang, getLang, onLangChange, setLang, t } from "./i18n.js";
import { GridMap } from "./map.js";
import { createPeoplePicker } from "./peoplepicker.js";
import { initProposals, rerenderProposals } from "./proposals.js";
import { tOr } from "./ui.js";
import { onDelete, submitAttrs } from "./planner/attributes.js";
import { applyEditResult, refreshAfterEdit, runEdit } from "./planner/edits.js";
import { isDraft } from "./planner/helpers.js";
import { routePicking, runCompare, runRoute, setRoutePicking } from "./planner/history.js";
import { runImpact } from "./planner/impact.js";
import { initLayers } from "./planner/layers.js";
import { createCopy, deleteLayout, importFile, onImportFile, openLayout } from "./planner/layouts.js";
import { load } from "./planner/loading.js";
import { renderMsg, say } from "./planner/messages.js";
import { select, setMode } from "./planner/modes.js";
import { relabel, renderBuildingCard, showTab } from "./planner/panel.js";
import { openCancelPublish, openPublish, submitCancelPublish, submitPublish } from "./planner/publish.js";
import { $, state } from "./planner/state.js";
import { loadValidation, zoomToFinding } from "./planner/validation.js";

// ---- boot ---------------------------------------------------------------------------------------

// Set here (at start-up) and read by the other modules: live bindings.
export let gridMap;
export let map;
export let compareTouched = false;
export let signIn;
export let staffPicker = null;

function wire() {
  for (const btn of document.querySelectorAll(".pl-tabs__tab")) btn.addEventListener("click", () => showTab(btn.dataset.tab));
  initProposals({ // issue 20: proposed layouts, applied through the same edit log as any edit
    draft: () => (state.layout && isDraft() ? { id: state.layout.id, revision: state.revision } : null),
    map: () => map,
    applied: (res) => { applyEditResult(res); refreshAfterEdit(); say("ok", t("pl.saved", { op: tOr("pl.op.apply_proposal", "apply_proposal"), rev: res.revision, codes: (res.edit?.codes || []).join(", ") })); },
  });
  onLangChange(rerenderProposals);
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
