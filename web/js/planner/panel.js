// The planner workspace (web/js/planner.js): the side panel's rendering.

import { formatDate, formatNumber, getLang, isZh, t } from "../i18n.js";
import { escapeHtml, tOr } from "../ui.js";
import { gridMap, map, signIn, staffPicker } from "../planner.js";
import { gridLabel, isDraft } from "./helpers.js";
import { loadEdits } from "./history.js";
import { renderImpact } from "./impact.js";
import { renderImportHint, renderLayouts, renderLayoutSelects, statusName } from "./layouts.js";
import { renderMsg } from "./messages.js";
import { NEEDS_GRID } from "./modes.js";
import { isScheduled } from "./publish.js";
import { $, L, layers, state } from "./state.js";
import { loadValidation, renderValidation } from "./validation.js";

// ---- rendering of the side panel ------------------------------------------------------------

export function renderCurrent() {
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

export function renderTools() {
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

export function renderAttrForm() {
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

export function renderBuildingCard() {
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

export function showTab(tab) {
  state.tab = tab;
  for (const btn of document.querySelectorAll(".pl-tabs__tab")) {
    const on = btn.dataset.tab === tab;
    btn.setAttribute("aria-selected", on ? "true" : "false");
    $(`pane-${btn.dataset.tab}`).hidden = !on;
  }
  if (tab === "history") loadEdits();
  if (tab === "validation" && isDraft() && !state.validation) loadValidation();
}

export function relabel() {
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

export function renderWho() {
  const el = $("who");
  el.hidden = !state.me;
  if (!state.me) return;
  el.innerHTML = `<span class="pl-who__name">${escapeHtml(state.me.name)}</span>`
    + `<span class="pl-who__role">${escapeHtml(tOr(`op.role.${state.me.role}`, state.me.role))}</span>`;
}
