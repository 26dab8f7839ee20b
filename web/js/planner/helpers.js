// The planner workspace (web/js/planner.js): small helpers.

import { featureName } from "../i18n.js";
import { tOr } from "../ui.js";
import { $, BEIJING, state } from "./state.js";

// ---- small helpers ----------------------------------------------------------------

export function isDraft() {
  return state.layout?.status === "draft";
}

/** Today's date in Beijing as YYYY-MM-DD (governance dates are Beijing dates wherever the browser is). */
export function beijingDate(offsetDays = 0) {
  const d = new Date(Date.now() + offsetDays * 86_400_000);
  return new Intl.DateTimeFormat("en-CA", { timeZone: BEIJING, year: "numeric", month: "2-digit", day: "2-digit" })
    .format(d);
}

export function beijingNowLocal() {
  const parts = new Intl.DateTimeFormat("en-CA", {
    timeZone: BEIJING, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
    hourCycle: "h23",
  }).formatToParts(new Date());
  const get = (type) => parts.find((p) => p.type === type)?.value;
  return `${get("year")}-${get("month")}-${get("day")}T${get("hour")}:${get("minute")}`;
}

export function gridLabel(code) {
  const f = state.features.get(code);
  const name = f ? featureName(f.properties) : "";
  return name ? `${name} (${code})` : code;
}

export function kindName(kind) {
  return tOr(`pl.kind.${kind}`, kind);
}
