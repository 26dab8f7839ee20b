// The planner workspace (web/js/planner.js): validation findings.

import { apiGet } from "../api.js";
import { formatNumber, isZh, t } from "../i18n.js";
import { escapeHtml, tOr } from "../ui.js";
import { map } from "../planner.js";
import { isDraft, kindName } from "./helpers.js";
import { repaint } from "./layers.js";
import { failed, setBusy } from "./messages.js";
import { select } from "./modes.js";
import { $, EMPTY_FC, L, layers, state } from "./state.js";

// ---- validation ---------------------------------------------------------------------------------

let validationCtl = null;
export async function loadValidation() {
  if (!state.layout || !isDraft()) return;
  validationCtl?.abort();
  validationCtl = new AbortController();
  const id = state.layout.id;
  setBusy(+1, t("pl.busy.validating"));
  try {
    const v = await apiGet(`layouts/${id}/validation`, { signal: validationCtl.signal });
    if (state.layout?.id !== id) return;
    state.validation = v;
    window.gridmap.validation = { revision: v.revision, blocking: v.blocking, counts: v.counts || {},
      blocking_counts: v.blocking_counts || {}, known_counts: v.known_counts || {},
      unstaffed: (v.unstaffed || []).map((g) => g.code), n: v.findings?.features?.length ?? 0 };
    renderValidation();
  } catch (err) {
    if (err?.name !== "AbortError") failed(err);
  } finally {
    setBusy(-1);
  }
}

function findingText(p) {
  return (isZh() ? p.message_zh || p.message_en : p.message_en || p.message_zh) || kindName(p.kind);
}

export function renderValidation() {
  const v = state.validation;
  layers.findings.clearLayers();
  const badge = $("val-badge");
  if (!v) {
    $("val-verdict").dataset.state = "none";
    $("val-verdict").textContent = isDraft() ? t("pl.val.pending") : t("pl.val.onlyDrafts");
    $("val-counts").innerHTML = "";
    $("findings").innerHTML = "";
    badge.hidden = true;
    return;
  }
  const feats = v.findings?.features || [];
  layers.findings.addData(v.findings || EMPTY_FC);
  repaint("pl-findings");
  const nBlocking = feats.filter((f) => f.properties?.severity === "blocking").length;
  badge.hidden = feats.length === 0;
  badge.textContent = String(nBlocking || feats.length);
  badge.classList.toggle("pl-badge--warn", !nBlocking);
  const verdict = $("val-verdict");
  verdict.dataset.state = v.blocking ? "blocking" : feats.length ? "warnings" : "clean";
  verdict.textContent = v.blocking ? t("pl.val.blocking", { n: nBlocking, rev: v.revision })
    : feats.length ? t("pl.val.warnings", { n: feats.length, rev: v.revision }) : t("pl.val.clean", { rev: v.revision });
  const nKnown = Object.values(v.known_counts || {}).reduce((a, b) => a + b, 0);
  $("val-known").hidden = !nKnown;
  $("val-known").textContent = nKnown ? t("pl.val.known", { n: nKnown }) : "";
  const unstaffed = v.unstaffed || [];
  $("val-unstaffed").hidden = !unstaffed.length;
  $("val-unstaffed").textContent = unstaffed.length ? t("pl.val.unstaffed", { n: unstaffed.length,
    list: unstaffed.map((g) => `${g.name} (${g.code})`).join(isZh() ? "、" : ", ") }) : "";
  const counts = v.counts || {};
  const blockingCounts = v.blocking_counts || {};
  $("val-counts").innerHTML = Object.entries(counts).filter(([, n]) => n).map(([kind, n]) =>
    `<div class="${blockingCounts[kind] ? "is-blocking" : (v.known_counts || {})[kind] ? "is-known" : ""}" data-kind="${escapeHtml(kind)}"><dt>${escapeHtml(kindName(kind))}</dt><dd>${formatNumber(n)}</dd></div>`).join("");
  $("findings").innerHTML = feats.map((f, i) => {
    const p = f.properties || {};
    const area = p.area_m2 ? ` · ${formatNumber(Math.round(p.area_m2))} m²` : "";
    const codes = (p.codes || []).length ? ` · ${(p.codes || []).map(escapeHtml).join(", ")}` : "";
    const sev = ["blocking", "known"].includes(p.severity) ? p.severity : "warning";
    return `<li class="pl-finding-item pl-finding-item--${sev}" data-i="${i}" data-kind="${escapeHtml(p.kind)}" tabindex="0" role="button">
      <span class="pl-finding-item__kind">${escapeHtml(kindName(p.kind))}</span>
      <span class="pl-finding-item__text">${escapeHtml(findingText(p))}</span>
      <span class="pl-finding-item__meta">${escapeHtml(tOr(`pl.sev.${p.severity}`, p.severity || ""))}${area}${codes}</span>
    </li>`;
  }).join("");
}

export function zoomToFinding(i) {
  const f = state.validation?.findings?.features?.[i];
  if (!f) return;
  const layer = L.geoJSON(f);
  const b = layer.getBounds();
  if (b.isValid()) map.fitBounds(b, { padding: [80, 80], maxZoom: 18 });
  const codes = f.properties?.codes || [];
  if (codes.length === 1) select(codes[0]);
  for (const el of document.querySelectorAll(".pl-finding-item")) el.classList.toggle("is-active", el.dataset.i === String(i));
}
