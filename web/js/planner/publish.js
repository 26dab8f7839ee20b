// The planner workspace (web/js/planner.js): publishing, and cancelling a scheduled publish.

import { ApiError, apiSend } from "../api.js";
import { formatDate, formatNumber, t } from "../i18n.js";
import { escapeHtml } from "../ui.js";
import { signIn } from "../planner.js";
import { beijingDate, isDraft, kindName } from "./helpers.js";
import { formatDateTime } from "./history.js";
import { loadLayouts, openLayout } from "./layouts.js";
import { describeError, say, withBusy } from "./messages.js";
import { $, state } from "./state.js";

// ---- publish ------------------------------------------------------------------------------------

export function openPublish() {
  if (!isDraft()) return;
  const dlg = $("publish-dlg");
  $("publish-refusal").hidden = true;
  $("publish-date").min = beijingDate(0);
  if (!$("publish-date").value || $("publish-date").value < beijingDate(0)) $("publish-date").value = beijingDate(1);
  $("publish-override").hidden = state.me?.role !== "admin";
  const v = state.validation;
  $("publish-lead").textContent = t("pl.publish.lead", { name: state.layout.name, rev: state.revision })
    + (v?.blocking ? ` ${t("pl.publish.willRefuse")}` : "");
  renderUnstaffed(v?.unstaffed || []);
  dlg.showModal();
}

/** The grids that would have nobody on duty, and the control to accept them with a reason (recorded). */
function renderUnstaffed(grids) {
  state.unstaffed = grids;
  $("publish-unstaffed").hidden = !grids.length;
  if (!grids.length) return;
  const households = grids.reduce((a, g) => a + (g.households || 0), 0);
  $("publish-unstaffed-lead").textContent = t("pl.publish.unstaffedLead", { n: grids.length, households: formatNumber(households) });
  $("publish-unstaffed-list").innerHTML = grids.map((g) => `<li data-code="${escapeHtml(g.code)}"><strong>${escapeHtml(g.name || "")}</strong>
      <code>${escapeHtml(g.code)}</code> · ${escapeHtml(t("pl.households", { n: formatNumber(g.households) }))}</li>`).join("");
}

function effectiveFrom(date) {
  // Beijing midnight of the chosen day; today means "now" (a publish may not start in the past).
  if (date === beijingDate(0)) return null;
  return `${date}T00:00:00+08:00`;
}

export async function submitPublish(ev) {
  ev.preventDefault();
  const refusal = $("publish-refusal");
  refusal.hidden = true;
  const date = $("publish-date").value;
  if (!date || date < beijingDate(0)) {
    refusal.textContent = t("pl.err.publishDate");
    refusal.hidden = false;
    return;
  }
  const body = {
    base_revision: state.revision,
    reroute_open_cases: $("publish-reroute").checked,
  };
  const from = effectiveFrom(date);
  if (from) body.effective_from = from;
  const reason = $("publish-reason").value.trim();
  if (reason && state.me?.role === "admin") body.override_reason = reason;
  if ((state.unstaffed || []).length && $("publish-accept-unstaffed").checked) {
    body.accept_unstaffed = state.unstaffed.map((g) => g.code);
    const why = $("publish-unstaffed-reason").value.trim();
    if (!why) {
      refusal.textContent = t("pl.publish.unstaffedReasonNeeded");
      refusal.hidden = false;
      return;
    }
    body.unstaffed_reason = why;
  }
  const id = state.layout.id;
  await withBusy("pl.busy.publishing", async () => {
    try {
      const out = await apiSend(`layouts/${id}/publish`, { json: body });
      $("publish-dlg").close();
      window.gridmap.published = { id: out.id, effective_from: out.effective_from };
      say("ok", t("pl.publish.done", { name: out.name, date: formatDate(out.effective_from || new Date().toISOString()) }));
      await loadLayouts();
      await openLayout(id, { fit: false, keepMsg: true });
    } catch (err) {
      window.gridmap.lastError = err instanceof ApiError ? { code: err.code, status: err.status, body: err.body } : { code: "client" };
      if (err instanceof ApiError && err.isUnauthorized) { $("publish-dlg").close(); signIn.rejected(); return; }
      refusal.innerHTML = publishRefusal(err);
      refusal.hidden = false;
    }
  });
}

function publishRefusal(err) {
  if (err instanceof ApiError && err.code === "unstaffed_grids") {
    renderUnstaffed(err.body?.grids || []);
    return `<strong>${escapeHtml(t("pl.err.unstaffed_grids", { n: (err.body?.grids || []).length }))}</strong><p>${escapeHtml(t("pl.publish.unstaffedHint"))}</p>`;
  }
  if (err instanceof ApiError && err.code === "blocking_findings") {
    const counts = err.body?.blocking_counts || err.body?.counts || {};
    const items = Object.entries(counts).filter(([, n]) => n)
      .map(([k, n]) => `<li>${escapeHtml(kindName(k))}: ${formatNumber(n)}</li>`).join("");
    const hint = state.me?.role === "admin" ? t("pl.publish.adminHint") : t("pl.publish.plannerHint");
    return `<strong>${escapeHtml(t("pl.err.blocking_findings"))}</strong><ul>${items}</ul><p>${escapeHtml(hint)}</p>`;
  }
  return `<strong>${escapeHtml(t("pl.publish.refused"))}</strong><p>${escapeHtml(describeError(err))}</p>`;
}

// ---- cancel a scheduled publish -------------------------------------------------------------------

export function isScheduled() {
  const l = state.layout;
  return Boolean(l && l.status === "published" && l.effective_from && new Date(l.effective_from) > new Date());
}

export function openCancelPublish() {
  if (!isScheduled()) return;
  $("cancel-refusal").hidden = true;
  $("cancel-reason").value = "";
  $("cancel-lead").textContent = t("pl.cancelPublish.lead", { name: state.layout.name, date: formatDateTime(state.layout.effective_from) });
  $("cancel-dlg").showModal();
}

export async function submitCancelPublish(ev) {
  ev.preventDefault();
  const id = state.layout.id;
  const reason = $("cancel-reason").value.trim();
  await withBusy("pl.busy.publishing", async () => {
    try {
      const out = await apiSend(`layouts/${id}/publish/cancel`, { json: reason ? { reason } : {} });
      $("cancel-dlg").close();
      window.gridmap.cancelled = { id: out.id, status: out.status };
      say("ok", t("pl.cancelPublish.done", { name: out.name }));
      await loadLayouts();
      await openLayout(id, { fit: false, keepMsg: true });
    } catch (err) {
      window.gridmap.lastError = err instanceof ApiError ? { code: err.code, status: err.status, body: err.body } : { code: "client" };
      if (err instanceof ApiError && err.isUnauthorized) { $("cancel-dlg").close(); signIn.rejected(); return; }
      $("cancel-refusal").innerHTML = `<strong>${escapeHtml(t("pl.cancelPublish.refused"))}</strong><p>${escapeHtml(describeError(err))}</p>`;
      $("cancel-refusal").hidden = false;
    }
  });
}
