// The planner workspace (web/js/planner.js): the attribute form.

import { t } from "../i18n.js";
import { staffPicker } from "../planner.js";
import { runEdit } from "./edits.js";
import { say } from "./messages.js";
import { renderAttrForm } from "./panel.js";
import { $, state } from "./state.js";

// ---- attribute form ---------------------------------------------------------------------------

function intOrNull(id) {
  const raw = $(id).value.trim();
  if (raw === "") return null;
  const n = Number(raw);
  return Number.isInteger(n) && n >= 0 ? n : NaN;
}

export function submitAttrs(ev) {
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

export function onDelete() {
  if (!state.selected) return;
  if (!state.deleteArmed) {
    state.deleteArmed = true;
    renderAttrForm();
    return;
  }
  state.deleteArmed = false;
  runEdit({ op: "delete", code: state.selected }, {});
}
