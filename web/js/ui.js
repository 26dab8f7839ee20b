// Small helpers every page shares (one home for each): HTML escaping, building elements, translating with a
// fallback, describing an API error in the page's language, the busy bar and the toast.

import { ApiError } from "./api.js";
import { onLangChange, t } from "./i18n.js";

/** Text made safe for innerHTML and attribute values. */
export function escapeHtml(s) {
  return String(s ?? "").replace(/[&<>"']/g, (c) => ({
    "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;",
  })[c]);
}

/**
 * Build an element: `h("button", {class: "btn", onclick: fn, text: "OK"}, child, …)`. Attributes that are
 * null, undefined or false are left out; `on…` attributes become listeners; children may be nodes or text.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** `t(key)`, or `fallback` when the catalogues have no such key (codes from the server we have no name for). */
export function tOr(key, fallback) {
  const v = t(key);
  return v === key ? fallback : v;
}

/** One line saying what went wrong, in the page's language (problem+json title and detail when known). */
export function describeError(err) {
  if (err instanceof ApiError) {
    if (err.code === "network") return t("error.network");
    if (err.code === "bad_response") return t("error.badResponse");
    const known = t(`error.code.${err.code}`);
    const head = known !== `error.code.${err.code}` ? known : err.title || t("error.http", { status: err.status });
    return `${err.detail && err.detail !== head ? `${head}: ${err.detail}` : head} (HTTP ${err.status})`;
  }
  return String(err?.message || err);
}

let busy = 0;
/**
 * Count work in flight (+1 when a request starts, -1 when it ends) and show the page's busy bar
 * (`#progress`) while any is.
 */
export function setBusy(delta) {
  busy = Math.max(0, busy + delta);
  const bar = document.getElementById("progress");
  if (bar) bar.hidden = busy === 0;
  document.body.setAttribute("aria-busy", busy ? "true" : "false");
  return busy;
}

let toastTimer = 0;
// A toast says its words in the language it was raised in: on a switch it goes rather than linger in the other one.
onLangChange(() => {
  const el = document.getElementById("ui-toast");
  if (el) el.hidden = true;
});
/** A short confirmation at the top of the screen, read out by screen readers (role=status). */
export function toast(msg, { kind = "ok", ms = 3500 } = {}) {
  let el = document.getElementById("ui-toast");
  if (!el) {
    el = h("div", { id: "ui-toast", class: "ui-toast", role: "status", "aria-live": "polite" });
    document.body.append(el);
  }
  el.textContent = msg;
  el.dataset.kind = kind;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; }, ms);
}
