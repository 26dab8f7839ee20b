// The planner workspace (web/js/planner.js): edits, one at a time, each naming the revision it was made against.

import { ApiError, apiSend } from "../api.js";
import { t } from "../i18n.js";
import { tOr } from "../ui.js";
import { isDraft } from "./helpers.js";
import { loadEdits } from "./history.js";
import { renderImpact } from "./impact.js";
import { drawGrids, restyle } from "./layers.js";
import { openLayout } from "./layouts.js";
import { describeError, failed, say, withBusy } from "./messages.js";
import { select, setMode } from "./modes.js";
import { renderCurrent } from "./panel.js";
import { $, state } from "./state.js";
import { loadValidation } from "./validation.js";

// ---- edits: one at a time, each naming the revision it was made against ---------------------------

let chain = Promise.resolve();

/** Queue an edit (or undo when `body.op === "undo"`); resolves after it was applied or refused. */
export function runEdit(body, opts = {}) {
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

export function applyEditResult(res) {
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
export function refreshAfterEdit() {
  clearTimeout(validationTimer);
  validationTimer = setTimeout(() => {
    loadValidation();
    if (state.tab === "history") loadEdits();
  }, 150);
  state.impact = null;
  window.gridmap.impact = null;
  renderImpact();
}
