// The planner workspace (web/js/planner.js): the busy indicator and the message bar.

import { ApiError } from "../api.js";
import { t } from "../i18n.js";
import { tOr } from "../ui.js";
import { signIn } from "../planner.js";
import { $, state } from "./state.js";

// ---- busy indicator, messages ----------------------------------------------------------

let busy = 0;
export function setBusy(delta, message) {
  busy = Math.max(0, busy + delta);
  $("progress").hidden = busy === 0;
  document.body.setAttribute("aria-busy", busy ? "true" : "false");
  if (message) $("status-text").textContent = message;
  $("status-chip").hidden = busy === 0;
}

export async function withBusy(messageKey, fn) {
  setBusy(+1, t(messageKey));
  try {
    return await fn();
  } finally {
    setBusy(-1);
  }
}

/** A refusal in words: our own sentence for the code, then the server's detail. */
export function describeError(err) {
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

export function say(kind, text, { reload = false } = {}) {
  state.msg = { kind, text, reload };
  renderMsg();
}

export function renderMsg() {
  const box = $("pl-msg");
  box.hidden = !state.msg;
  if (!state.msg) return;
  box.dataset.kind = state.msg.kind;
  box.setAttribute("role", state.msg.kind === "error" ? "alert" : "status");
  $("pl-msg-text").textContent = state.msg.text;
  $("pl-msg-reload").hidden = !state.msg.reload;
}

export function failed(err, where) {
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
