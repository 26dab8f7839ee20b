// gridmap first screen: wires authentication, data loading, the map, the legend,
// the detail panel and the language switch together.

import { api, ApiError, getKey, takeKeyFromLocation } from "./api.js";
import { detectLang, formatDate, formatNumber, getLang, onLangChange, setLang, t } from "./i18n.js";
import { GridMap } from "./map.js";
import { CLASSES, getNorm } from "./norm.js";
import { DetailPanel } from "./panel.js";
import { mountChrome } from "./chrome.js";
import { describeError as describeApiError } from "./ui.js";
import { Wall } from "./wall.js";

const $ = (id) => document.getElementById(id);

const state = {
  layout: null, // the layout in force (from /layouts)
  data: null, // {streets, communities, grids}
  loadCtl: null, // AbortController of the current load
  detailCtl: null, // AbortController of the current detail fetch
  lastError: null,
};

// Test / automation hook (see tests/web/test_first_screen.py).
window.gridmap = { gridCount: 0, lang: null, ready: false };

let gridMap;
let panel;
let wall;

// ---- busy indicator ------------------------------------------------------------

let busy = 0;
function setBusy(delta, message) {
  busy = Math.max(0, busy + delta);
  $("progress").hidden = busy === 0;
  document.body.setAttribute("aria-busy", busy ? "true" : "false");
  if (message !== undefined) setStatus(message);
  if (!busy) setStatus(null);
}

function setStatus(message) {
  const chip = $("status-chip");
  if (!message) {
    chip.hidden = true;
    return;
  }
  $("status-text").textContent = message;
  chip.hidden = false;
}

// ---- errors --------------------------------------------------------------------

/** The alert's title and one line of detail (web/js/ui.js says what went wrong, in the page's language). */
function describeError(err) {
  if (err instanceof ApiError && err.code === "network") {
    return { title: t("error.network"), detail: t("error.networkDetail") };
  }
  return { title: t("error.title"), detail: describeApiError(err) };
}

function showError(err, { retry } = {}) {
  state.lastError = { err, retry };
  renderError();
}

function renderError() {
  const box = $("alert");
  if (!state.lastError) {
    box.hidden = true;
    return;
  }
  const { title, detail } = describeError(state.lastError.err);
  $("alert-title").textContent = title;
  $("alert-detail").textContent = detail;
  $("alert-retry").hidden = !state.lastError.retry;
  box.hidden = false;
}

function clearError() {
  state.lastError = null;
  renderError();
}

// ---- sign-in (web/js/signin.js) -----------------------------------------------

let signIn;

function handleUnauthorized() {
  signIn.rejected();
}

// ---- header --------------------------------------------------------------------

function renderHeader() {
  const badge = $("layout-badge");
  const l = state.layout;
  if (!state.data) {
    badge.hidden = true;
  } else {
    badge.hidden = false;
    if (l) {
      const name = (getLang() === "en" && l.name_en) || l.name || `#${l.id}`;
      $("layout-name").textContent = name;
      $("layout-date").textContent = l.effective_to
        ? t("layout.range", { from: formatDate(l.effective_from), to: formatDate(l.effective_to) })
        : t("layout.since", { date: formatDate(l.effective_from) });
    } else {
      $("layout-name").textContent = t("layout.none");
      $("layout-date").textContent = "";
    }
  }
  const stats = $("stats");
  stats.hidden = !state.data;
  if (state.data) {
    $("stat-streets").textContent = formatNumber(state.data.streets.features?.length ?? 0);
    $("stat-communities").textContent = formatNumber(state.data.communities.features?.length ?? 0);
    $("stat-grids").textContent = formatNumber(gridMap.gridCount);
  }
  for (const btn of document.querySelectorAll(".lang-switch__btn")) {
    btn.setAttribute("aria-pressed", btn.dataset.lang === getLang() ? "true" : "false");
  }
}

// ---- legend --------------------------------------------------------------------

function renderLegend() {
  const rows = wall?.legendRows();
  document.getElementById("legend").dataset.metric = wall?.metric || "households";
  if (rows) {
    $("legend-title").textContent = t(`legend.metric.${wall.metric}`);
    $("legend-list").replaceChildren(...rows.map((r) => {
      const li = document.createElement("li");
      li.dataset.class = r.cls;
      const sw = document.createElement("span");
      sw.className = `swatch swatch--${r.cls}`;
      sw.setAttribute("aria-hidden", "true");
      const label = document.createElement("span");
      label.className = "legend__label";
      label.textContent = r.label;
      const n = document.createElement("span");
      n.className = "legend__count";
      n.textContent = t("legend.count", { n: formatNumber(r.n) });
      li.append(sw, label, n);
      return li;
    }));
    return;
  }
  const norm = getNorm();
  $("legend-title").textContent = t("legend.title", norm);
  const counts = state.data ? gridMap.classCounts() : null;
  const list = $("legend-list");
  list.replaceChildren();
  for (const cls of CLASSES) {
    const li = document.createElement("li");
    li.dataset.class = cls;
    const sw = document.createElement("span");
    sw.className = `swatch swatch--${cls}`;
    sw.setAttribute("aria-hidden", "true");
    const label = document.createElement("span");
    label.className = "legend__label";
    label.textContent = t(`legend.${cls}`, norm);
    li.append(sw, label);
    if (counts) {
      const n = document.createElement("span");
      n.className = "legend__count";
      n.textContent = t("legend.count", { n: formatNumber(counts[cls]) });
      li.append(n);
    }
    list.append(li);
  }
}

// ---- data ----------------------------------------------------------------------

function pickLayout(items) {
  if (!Array.isArray(items) || !items.length) return null;
  return items.find((l) => l.current) || items.find((l) => l.status === "published") || null;
}

async function load() {
  if (!getKey()) {
    signIn.show("missing");
    return;
  }
  state.loadCtl?.abort();
  const ctl = new AbortController();
  state.loadCtl = ctl;
  const { signal } = ctl;
  clearError();
  document.body.dataset.ready = "0";
  setBusy(+1, t("loading.meta"));
  try {
    const [streets, communities, layouts] = await Promise.all([
      api.streets({ signal }),
      api.communities({ signal }),
      api.layouts({ signal }),
    ]);
    state.layout = pickLayout(layouts?.items);
    setStatus(t("loading.grids"));
    const grids = await api.grids({
      layout: state.layout?.id,
      signal,
      onPage: (done, total) => {
        if (total && total > done) setStatus(t("loading.gridsProgress", { done: formatNumber(done), total: formatNumber(total) }));
      },
    });
    if (signal.aborted) return;
    state.data = { streets, communities, grids };
    panel.close();
    const count = gridMap.setData(state.data);
    renderHeader();
    renderLegend();
    if (!count) showError(new Error(t("error.noGrids")));
    window.gridmap.gridCount = count;
    window.gridmap.layoutId = grids.layout_id ?? state.layout?.id ?? null;
    window.gridmap.ready = true;
    document.body.dataset.ready = "1";
    if (!wall) {
      wall = new Wall({
        gridMap,
        onGrid: (code) => openGrid(code, gridMap.gridIndex.get(String(code))?.feature),
        onCase: openCase,
        onUnauthorized: handleUnauthorized,
        onLegend: renderLegend,
      });
      window.gridmap.wall = wall;
      wall.start();
    } else {
      wall.refreshAll();
    }
  } catch (err) {
    if (err?.name === "AbortError") return;
    if (err instanceof ApiError && err.isUnauthorized) handleUnauthorized();
    else showError(err, { retry: load });
    console.error("gridmap: loading failed", err);
  } finally {
    if (state.loadCtl === ctl) state.loadCtl = null;
    setBusy(-1);
  }
}

async function openGrid(code, feature) {
  state.detailCtl?.abort();
  const ctl = new AbortController();
  state.detailCtl = ctl;
  panel.open(code, feature);
  gridMap.select(code, { panelWidth: panel.width });
  try {
    const detail = await api.grid(code, { layout: state.layout?.id, signal: ctl.signal });
    panel.showDetail(code, detail);
    const cases = await api.gridCases(code, { signal: ctl.signal });
    panel.showCases(code, cases.items || []);
  } catch (err) {
    if (err?.name === "AbortError") return;
    if (err instanceof ApiError && err.isUnauthorized) {
      panel.close();
      handleUnauthorized();
      return;
    }
    panel.showError(code, err instanceof ApiError ? err : new ApiError({ status: 0, code: "client", detail: String(err) }));
  }
}

async function openCase(id) {
  state.detailCtl?.abort();
  const ctl = new AbortController();
  state.detailCtl = ctl;
  gridMap.clearSelection();
  panel.openCase(id);
  try {
    const detail = await api.case(id, { signal: ctl.signal });
    panel.showCase(id, detail);
    if (detail.grid_code) gridMap.select(detail.grid_code, { panelWidth: panel.width });
  } catch (err) {
    if (err?.name === "AbortError") return;
    if (err instanceof ApiError && err.isUnauthorized) {
      panel.close();
      handleUnauthorized();
      return;
    }
    panel.showError(`case:${id}`, err instanceof ApiError ? err : new ApiError({ status: 0, code: "client", detail: String(err) }));
  }
}

// ---- boot ----------------------------------------------------------------------

function wireLanguage() {
  for (const btn of document.querySelectorAll(".lang-switch__btn")) {
    btn.addEventListener("click", () => {
      if (btn.dataset.lang !== getLang()) setLang(btn.dataset.lang);
    });
  }
  onLangChange((lang) => {
    window.gridmap.lang = lang;
    renderHeader();
    renderLegend();
    renderError();
    signIn?.render();
    panel?.render();
    gridMap?.relabel();
    wall?.relabel();
  });
}

async function main() {
  wireLanguage();
  await setLang(detectLang(), { persist: false });

  panel = new DetailPanel({
    onClose: () => {
      state.detailCtl?.abort();
      gridMap.clearSelection();
      $("map").focus({ preventScroll: true });
    },
  });
  gridMap = new GridMap($("map"), { onGridClick: openGrid });
  panel.onCase = openCase;
  renderLegend();

  $("alert-retry").addEventListener("click", () => state.lastError?.retry?.());
  $("alert-close").addEventListener("click", clearError);
  document.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape" && panel.isOpen && !$("signin").open) panel.close();
  });
  // The shared sign-in (web/js/chrome.js): a person's password, or this screen's kiosk pairing code.
  const chrome = mountChrome({ onReady: load, kiosk: true });
  signIn = chrome.signIn;

  takeKeyFromLocation();
  await chrome.start();
}

main().catch((err) => {
  console.error("gridmap: startup failed", err);
  showError(err);
});
