// The planner workspace (web/js/planner.js): the layouts list, copies and imports.

import { api, apiGet, apiSend } from "../api.js";
import { formatDate, formatNumber, t } from "../i18n.js";
import { escapeHtml, tOr } from "../ui.js";
import { compareTouched } from "../planner.js";
import { isDraft } from "./helpers.js";
import { loadEdits } from "./history.js";
import { renderImpact } from "./impact.js";
import { drawGrids, fitToGrids, restyle } from "./layers.js";
import { describeError, failed, renderMsg, say, withBusy } from "./messages.js";
import { setMode } from "./modes.js";
import { renderAttrForm, renderCurrent, showTab } from "./panel.js";
import { $, layers, state } from "./state.js";
import { loadValidation, renderValidation } from "./validation.js";

// ---- layouts ----------------------------------------------------------------------------------

export async function loadLayouts() {
  const res = await api.layouts();
  state.layouts = res?.items || [];
  renderLayouts();
  renderLayoutSelects();
}

export function statusName(l) {
  if (l.current) return t("pl.status.current");
  return tOr(`pl.status.${l.status}`, l.status);
}

export function renderLayouts() {
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

export function renderLayoutSelects() {
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

export async function openLayout(id, { fit = true, keepMsg = false } = {}) {
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

export async function createCopy(ev) {
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

export async function importFile(ev) {
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
export async function onImportFile() {
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

export function renderImportHint() {
  const el = $("import-fields-hint");
  el.hidden = !state.importFields.length;
  el.textContent = state.importFields.length ? t("pl.import.fields", { fields: state.importFields.join(", ") }) : "";
}

export async function deleteLayout(id) {
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
