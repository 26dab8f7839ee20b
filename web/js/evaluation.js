// The evaluation page (/evaluation.html, 考核评价): rates per street, community, grid, department or worker for a
// period, ranked, with their trend and drill-down (street → community → grid → the grid's cases in the
// console), exported to XLSX. Every figure and every definition comes from /api/v1/evaluation (the one home of
// the rules is api/evaluation/definitions.py); a load that fails clears the figures and says so, so the page
// never shows an old figure as if it were current.

import { ApiError, apiGet, authHeader } from "./api.js";
import { mountChrome } from "./chrome.js";
import { detectLang, featureName, formatNumber, getLang, onLangChange, setLang, t } from "./i18n.js";
import { describeError, h, setBusy } from "./ui.js";

const $ = (id) => document.getElementById(id);
const RATES = ["response_rate", "resolution_rate", "satisfaction_rate", "on_time_rate", "first_time_rate"];
const SORTS = ["score", ...RATES, "cases"];
/** Where a row of each level drills to (a grid: its cases in the console). */
const DRILL = { street: "community", community: "grid" };

const state = { me: null, path: [], data: null, trend: null, defs: null, error: null, seq: 0, loadedAt: null };
let chrome = null;

// ---- the period -----------------------------------------------------------------------------------------

function beijingToday() {
  return new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Shanghai" }).format(new Date());
}

function periodParams() {
  const kind = $("ev-kind").value;
  if (kind === "month") return $("ev-month").value ? { period: $("ev-month").value } : null;
  if (kind === "quarter") return $("ev-quarter").value ? { period: $("ev-quarter").value } : null;
  return $("ev-from").value && $("ev-to").value ? { from: $("ev-from").value, to: $("ev-to").value } : null;
}

function fillPeriodControls() {
  const today = beijingToday();
  const [y, m] = today.split("-").map(Number);
  const last = m === 1 ? `${y - 1}-12` : `${y}-${String(m - 1).padStart(2, "0")}`;
  $("ev-month").value = last; // the last whole month: the usual assessment period
  const quarters = [];
  for (let i = 0; i < 8; i += 1) {
    const q0 = Math.floor((m - 1) / 3) - i;
    const yy = y + Math.floor(q0 / 4);
    quarters.push(`${yy}-Q${((q0 % 4) + 4) % 4 + 1}`);
  }
  $("ev-quarter").replaceChildren(...quarters.map((q) => h("option", { value: q, text: q })));
  $("ev-to").value = today;
  $("ev-from").value = `${y}-${String(m).padStart(2, "0")}-01`;
}

function showPeriodKind() {
  const kind = $("ev-kind").value;
  $("ev-month-box").hidden = kind !== "month";
  $("ev-quarter-box").hidden = kind !== "quarter";
  $("ev-from-box").hidden = kind !== "custom";
  $("ev-to-box").hidden = kind !== "custom";
}

// ---- what is asked --------------------------------------------------------------------------------------

function here() {
  return state.path[state.path.length - 1] || { level: $("ev-level").value, within: null };
}

function params() {
  const p = periodParams();
  if (!p) return null;
  const { level, within } = here();
  return { ...p, level, sort: $("ev-sort").value, ...(within ? { within } : {}) };
}

function pct(v) {
  return v === null || v === undefined ? "–" : `${(v * 100).toFixed(1)}%`;
}

function unitName(u) {
  const name = featureName({ name: u.name, name_en: u.name_en });
  return name || u.code;
}

// ---- loading --------------------------------------------------------------------------------------------

function setStatus(kind, text) {
  $("ev-status").dataset.kind = kind;
  $("ev-status").textContent = text;
}

async function load() {
  const p = params();
  if (!p) { setStatus("error", t("ev.periodMissing")); clearFigures(); return; }
  const seq = ++state.seq;
  setStatus("loading", t("ev.loading"));
  document.body.classList.add("is-loading");
  setBusy(+1);
  try {
    const { level, within, sort, ...period } = p;
    const [data, trend] = await Promise.all([
      apiGet("evaluation/units", { params: p }),
      apiGet("evaluation/trend", { params: { ...period, bucket: $("ev-bucket").value, ...(within ? { within } : {}) } }),
    ]);
    if (seq !== state.seq) return; // a newer request is on its way
    Object.assign(state, { data, trend, error: null, loadedAt: new Date() });
    render();
  } catch (err) {
    if (seq !== state.seq) return;
    if (err instanceof ApiError && err.isUnauthorized) { chrome.unauthorized(); return; }
    if (err instanceof ApiError && err.status === 403) { chrome.signIn.wrongRole(); return; }
    // Never leave the previous figures on screen as if they answered this request.
    Object.assign(state, { data: null, trend: null, error: err });
    clearFigures();
    setStatus("error", t("ev.failed", { error: describeError(err) }));
  } finally {
    setBusy(-1);
    if (seq === state.seq) {
      document.body.classList.remove("is-loading");
      window.gridmap.loads = (window.gridmap.loads || 0) + 1; // for tests: a load (or its failure) is on screen
      window.gridmap.ready = true;
    }
  }
}

function clearFigures() {
  $("ev-kpis").replaceChildren(h("h2", { class: "visually-hidden", text: t("ev.totals") }));
  $("ev-table").replaceChildren();
  $("ev-trend").replaceChildren();
  $("ev-export").disabled = true;
}

// ---- rendering ------------------------------------------------------------------------------------------

function render() {
  renderCrumbs();
  renderDefs();
  if (!state.data) return;
  const d = state.data;
  $("ev-export").disabled = false;
  setStatus("ok", t("ev.updated", {
    period: `${d.period.start} – ${d.period.end}`,
    at: new Intl.DateTimeFormat(getLang(), { timeZone: "Asia/Shanghai", hour: "2-digit", minute: "2-digit",
      second: "2-digit", hour12: false }).format(state.loadedAt),
    n: formatNumber(d.total.cases),
  }));
  renderKpis(d.total);
  renderTable(d);
  renderTrend(state.trend);
}

function renderKpis(total) {
  const card = (key, value, sub) => h("dl", { class: "ev-kpi", "data-kpi": key },
    h("dt", { text: t(`ev.m.${key}`) }), h("dd", { text: value }), sub ? h("small", { text: sub }) : null);
  $("ev-kpis").replaceChildren(
    h("h2", { class: "visually-hidden", text: t("ev.totals") }),
    card("cases", formatNumber(total.cases), t("ev.sub.followedUp", { n: formatNumber(total.followed_up) })),
    ...RATES.map((k) => card(k, pct(total[k]))),
    card("score", total.score === null ? "–" : total.score.toFixed(1)),
    card("reopened", formatNumber(total.reopened), t("ev.sub.overdue", { n: formatNumber(total.overdue) })));
}

function renderTable(d) {
  const sort = d.sort;
  const cols = ["cases", ...RATES, "reopened", "score"];
  const head = h("tr", {}, h("th", { text: t("ev.col.rank") }), h("th", { text: t(`ev.level.${d.level}`) }),
    cols.map((c) => h("th", { class: c === sort ? "is-sorted" : null, "data-col": c, text: t(`ev.m.${c}`) })));
  const next = DRILL[d.level];
  const rows = d.items.map((u) => {
    let name = unitName(u);
    if (next) {
      name = h("button", { type: "button", class: "ev-drill", "data-code": u.code, text: name,
        title: t("ev.drillTo", { level: t(`ev.level.${next}`) }),
        onclick: () => { state.path.push({ level: next, within: u.code, name: unitName(u) }); syncSortLevel(); load(); } });
    } else if (d.level === "grid") {
      name = h("a", { href: `/console.html?grid=${encodeURIComponent(u.code)}&tab=done`, class: "ev-drill",
        "data-code": u.code, text: name, title: t("ev.toConsole") });
    }
    return h("tr", { "data-code": u.code }, h("td", { text: u.rank ?? "–" }), h("td", {}, name),
      cols.map((c) => {
        const v = u[c];
        const text = c === "score" ? (v === null ? "–" : v.toFixed(1)) : RATES.includes(c) ? pct(v) : formatNumber(v);
        return h("td", { class: `${c === sort ? "is-sorted" : ""} ${RATES.includes(c) && v !== null && v < 0.9 ? "ev-low" : ""}`,
          "data-col": c, text });
      }));
  });
  $("ev-table").replaceChildren(h("thead", {}, head),
    h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: cols.length + 2, class: "ev-empty", text: t("ev.none") }))));
}

function renderTrend(tr) {
  if (!tr?.items?.length) { $("ev-trend").replaceChildren(h("p", { class: "ev-empty", text: t("ev.none") })); return; }
  const max = Math.max(...tr.items.map((p) => p.cases), 1);
  const cols = ["response_rate", "resolution_rate", "satisfaction_rate", "on_time_rate"];
  $("ev-trend").replaceChildren(h("table", { class: "ev-trend", id: "ev-trend-table" },
    h("thead", {}, h("tr", {}, h("th", { text: t(`ev.bucket.${tr.bucket}`) }), h("th", { text: t("ev.m.cases") }),
      cols.map((c) => h("th", { text: t(`ev.m.${c}`) })))),
    h("tbody", {}, tr.items.map((p) => h("tr", {},
      h("td", { text: p.start }),
      h("td", {}, h("span", { class: "ev-bar", style: `width:${Math.round((p.cases / max) * 60)}px` }), formatNumber(p.cases)),
      cols.map((c) => h("td", { text: pct(p[c]) })))))));
}

function renderCrumbs() {
  const items = [{ level: state.path[0]?.level || $("ev-level").value, within: null, name: t("ev.all") }, ...state.path.slice(1)];
  const parts = items.map((c, i) => (i === items.length - 1
    ? h("span", { "aria-current": "page", text: c.name })
    : h("button", { type: "button", text: c.name, onclick: () => { state.path = state.path.slice(0, i + 1); syncSortLevel(); load(); } })));
  $("ev-crumbs").replaceChildren(...parts.flatMap((p, i) => (i ? [h("span", { "aria-hidden": "true", text: "›" }), p] : [p])));
}

function renderDefs() {
  if (!state.defs) return;
  const zh = getLang() === "zh-CN";
  $("ev-defs").replaceChildren(...state.defs.items.flatMap((x) => [
    h("dt", { "data-def": x.key, text: zh ? x.name_zh : x.name_en }), h("dd", { text: zh ? x.formula_zh : x.formula_en })]));
}

function syncSortLevel() {
  $("ev-level").value = here().level;
}

function fillSort() {
  const v = $("ev-sort").value || "score";
  $("ev-sort").replaceChildren(...SORTS.map((s) => h("option", { value: s, text: t(`ev.m.${s}`) })));
  $("ev-sort").value = v;
}

// ---- export ---------------------------------------------------------------------------------------------

async function exportXlsx() {
  const p = params();
  if (!p) return;
  const url = new URL("/api/v1/evaluation/export.xlsx", window.location.origin);
  for (const [k, v] of Object.entries({ ...p, bucket: $("ev-bucket").value })) url.searchParams.set(k, v);
  $("ev-export").disabled = true;
  try {
    const res = await fetch(url, { headers: authHeader() });
    if (!res.ok) throw new ApiError({ status: res.status, code: `http_${res.status}`, title: res.statusText });
    const blob = await res.blob();
    const name = /filename="([^"]+)"/.exec(res.headers.get("content-disposition") || "")?.[1] || "evaluation.xlsx";
    const a = h("a", { href: URL.createObjectURL(blob), download: name });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
  } catch (err) {
    setStatus("error", t("ev.exportFailed", { error: describeError(err) }));
  } finally {
    $("ev-export").disabled = !state.data;
  }
}

// ---- wiring ---------------------------------------------------------------------------------------------

function wire() {
  $("ev-level").addEventListener("change", () => { state.path = [{ level: $("ev-level").value, within: null }]; load(); });
  $("ev-kind").addEventListener("change", () => { showPeriodKind(); load(); });
  for (const id of ["ev-month", "ev-quarter", "ev-from", "ev-to", "ev-sort", "ev-bucket"]) $(id).addEventListener("change", load);
  $("ev-export").addEventListener("click", exportXlsx);
  onLangChange(() => {
    document.title = `gridmap · ${t("ev.title")}`;
    fillSort();
    if (state.data) render(); else renderCrumbs();
    if (state.error) setStatus("error", t("ev.failed", { error: describeError(state.error) }));
  });
}

async function ready(me) {
  state.me = me;
  try {
    state.defs = await apiGet("evaluation/definitions");
  } catch (err) {
    if (err instanceof ApiError && err.status === 403) { chrome.signIn.wrongRole(); return; }
    setStatus("error", t("ev.failed", { error: describeError(err) }));
    return;
  }
  state.path = [{ level: $("ev-level").value, within: null }];
  await load();
}

async function main() {
  window.gridmap = window.gridmap || {};
  await setLang(detectLang());
  document.title = `gridmap · ${t("ev.title")}`;
  fillPeriodControls();
  fillSort();
  showPeriodKind();
  clearFigures();
  chrome = mountChrome({ onReady: ready, needs: "ev.needRole" });
  wire();
  await chrome.start();
}

main().catch((err) => { console.error(err); setStatus("error", describeError(err)); });
