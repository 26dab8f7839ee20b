// Shared by the map wall's modules (web/js/wall.js and web/js/wall/*.js): the element lookup, the two paged
// lists, and Beijing-time formatting.

import { getLang, TIME_ZONE } from "../i18n.js";

export const $ = (id) => document.getElementById(id);

export const LISTS = ["overdue", "escalated"];

/** Intl formatters are costly to make (tens of microseconds each); the ticker and the clock format many
 *  times a second, so keep one per language and pattern. */
const FORMATTERS = new Map();

export function formatter(name, opts) {
  const key = `${getLang()}|${name}`;
  let f = FORMATTERS.get(key);
  if (!f) {
    f = new Intl.DateTimeFormat(getLang(), { timeZone: TIME_ZONE, ...opts });
    FORMATTERS.set(key, f);
  }
  return f;
}

export function fmtTime(iso, withDate = false) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const opts = { hour: "2-digit", minute: "2-digit", hour12: false };
  if (withDate) Object.assign(opts, { month: "2-digit", day: "2-digit" });
  return formatter(withDate ? "datetime" : "time", opts).format(d);
}

/** Beijing date (YYYY-MM-DD) of a Date. */
export function beijingDate(d = new Date()) {
  return new Intl.DateTimeFormat("en-CA", { timeZone: TIME_ZONE, year: "numeric", month: "2-digit", day: "2-digit" })
    .format(d);
}
