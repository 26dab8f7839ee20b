// Tiny i18n: message catalogues in /i18n/<lang>.json, `t(key, params)` lookups,
// and declarative DOM translation through data attributes:
//   data-i18n="key"                 -> textContent
//   data-i18n-html="key"            -> innerHTML (only for our own trusted catalogues)
//   data-i18n-attr="attr:key;attr2:key2"

export const LANGS = ["zh-CN", "en"];
const STORAGE_KEY = "gridmap.lang";

let current = "zh-CN";
const catalogues = new Map();
const listeners = new Set();

export function detectLang() {
  try {
    const saved = localStorage.getItem(STORAGE_KEY);
    if (LANGS.includes(saved)) return saved;
  } catch { /* storage disabled */ }
  const prefs = navigator.languages?.length ? navigator.languages : [navigator.language || ""];
  for (const pref of prefs) {
    const p = String(pref).toLowerCase();
    if (p.startsWith("zh")) return "zh-CN";
    if (p.startsWith("en")) return "en";
  }
  return "zh-CN";
}

async function loadCatalogue(lang) {
  if (!catalogues.has(lang)) {
    const res = await fetch(`/i18n/${lang}.json`, { headers: { Accept: "application/json" } });
    if (!res.ok) throw new Error(`i18n catalogue ${lang}: HTTP ${res.status}`);
    catalogues.set(lang, await res.json());
  }
  return catalogues.get(lang);
}

export function getLang() {
  return current;
}

export function isZh() {
  return current === "zh-CN";
}

/** Translate `key`, substituting `{name}` placeholders from `params`. */
export function t(key, params = {}) {
  const cat = catalogues.get(current) || {};
  let msg = cat[key];
  if (msg === undefined) msg = (catalogues.get("zh-CN") || {})[key];
  if (msg === undefined) return key;
  return msg.replace(/\{(\w+)\}/g, (m, name) => (name in params ? String(params[name]) : m));
}

/** Localised feature name: `name` in Chinese, `name_en` in English (falls back to the other). */
export function featureName(props, base = "name") {
  if (!props) return "";
  const zh = props[base];
  const en = props[`${base}_en`];
  return (isZh() ? zh || en : en || zh) || "";
}

// One NumberFormat per language: making one costs far more than formatting with it.
const NUMBER_FORMATS = new Map();

export function formatNumber(n) {
  if (n === null || n === undefined || Number.isNaN(Number(n))) return "–";
  let f = NUMBER_FORMATS.get(current);
  if (!f) {
    f = new Intl.NumberFormat(current);
    NUMBER_FORMATS.set(current, f);
  }
  return f.format(Number(n));
}

/** Format an ISO date (YYYY-MM-DD…) for display. */
// Governance dates are Beijing dates wherever the browser runs (a wall screen, a test runner in UTC).
export const TIME_ZONE = "Asia/Shanghai";

export function formatDate(iso) {
  if (!iso) return "";
  const d = new Date(String(iso));
  if (Number.isNaN(d.getTime())) return String(iso);
  return new Intl.DateTimeFormat(current, { year: "numeric", month: "long", day: "numeric", timeZone: TIME_ZONE })
    .format(d);
}

export function translateDom(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-html]")) el.innerHTML = t(el.dataset.i18nHtml);
  for (const el of root.querySelectorAll("[data-i18n-attr]")) {
    for (const pair of el.dataset.i18nAttr.split(";")) {
      const [attr, key] = pair.split(":").map((s) => s.trim());
      if (attr && key) el.setAttribute(attr, t(key));
    }
  }
}

export async function setLang(lang, { persist = true } = {}) {
  if (!LANGS.includes(lang)) lang = "zh-CN";
  await loadCatalogue("zh-CN"); // fallback catalogue
  await loadCatalogue(lang);
  current = lang;
  if (persist) {
    try { localStorage.setItem(STORAGE_KEY, lang); } catch { /* storage disabled */ }
  }
  document.documentElement.lang = lang;
  document.title = t("app.title");
  translateDom();
  for (const fn of listeners) fn(lang);
}

export function onLangChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/** Hours overdue as days and hours ("超期 88 天 3 小时", "88 d 3 h overdue"); "" when not overdue. */
export function formatOverdue(hours) {
  if (!(Number(hours) > 0)) return "";
  const h = Math.floor(Number(hours));
  const d = Math.floor(h / 24);
  return d ? t("dash.lateDH", { d: formatNumber(d), h: h % 24 }) : t("dash.lateH", { h });
}

/** A case-timeline note in the page's language. A note gridmap wrote itself comes with `note_code` and
 *  `note_params` (api/cases/notes.py) and is said from `note.<code>`; what a person typed (no code) is shown as
 *  typed, and so is the stored English text of a code this catalogue does not know yet. */
export function noteText(e) {
  if (!e.note_code) return e.note || "";
  const p = { ...(e.note_params || {}) };
  const or = (key, fallback, params = {}) => { const v = t(key, params); return v === key ? fallback : v; };
  if (p.source) p.source = or(`source.${p.source}`, p.source);
  if (p.reason) p.reason = or(`note.reason.${p.reason}`, p.reason);
  if (e.note_code === "reported_back") {
    p.who = p.department ? t("note.who.department", { id: p.department }) : t("note.who.person", { id: p.person });
  }
  if (e.note_code === "rerouted" && !p.from) p.from = "—";
  let key = `note.${e.note_code}`;
  if (e.note_code === "received" && p.reason) key = "note.receivedReason";
  if (e.note_code === "reported_back" && p.late) key = "note.reported_back_late";
  return or(key, e.note || "", p);
}
