// gridmap hotline operator's screen (issue 10): type an address as the caller says it, see the ranked
// registry candidates in a list and on the map, pick one (mouse or ↑/↓/Enter), see its grid, community,
// street and staff on duty, and file the report. A second tab works the queue of reports whose address
// is ambiguous or unknown (/addresses/reviews).

import { api, apiGet, apiSend, ApiError, takeKeyFromLocation } from "./api.js";
import { mountChrome } from "./chrome.js";
import { detectLang, featureName, getLang, isZh, onLangChange, setLang, t } from "./i18n.js";
import { GridMap } from "./map.js";
import { describeError, escapeHtml, setBusy as busyBar, tOr, toast } from "./ui.js";

const L = window.L;
const $ = (id) => document.getElementById(id);
const DEBOUNCE_MS = 220;

const state = {
  me: null, // /auth/me
  categories: [],
  query: "", // the text the current answer is for
  answer: null, // GET /locate?address= answer
  cands: [], // display candidates: {key, label, score, matched, community, street, point, grid, id, kind}
  active: -1, // keyboard highlight
  picked: null, // the chosen candidate
  pickedGrid: null, // locate answer of the chosen candidate
  seq: 0,
  ctl: null,
  pickCtl: null,
  reviews: [],
  review: null, // the review being worked
  error: null,
  pin: null, // {lon, lat}: a point dropped on the map when the address is not in the registry
  dropping: false, // the next map click drops the pin
};

// Test / automation hook.
window.gridmap = { ready: false, lang: null, searches: 0, answer: null, picked: null, grid: null, report: null };

let gridMap;
let markers;
let pinLayer;

// ---- helpers ---------------------------------------------------------------------

function pct(score) {
  return score === null || score === undefined ? "–" : `${Math.round(Number(score) * 100)}%`;
}

function stripCity(text) {
  // The registry's full text leads with the city and district every caller shares; keep it short.
  return String(text || "").replace(/^北京市/, "").replace(/^东城区/, "");
}

function setBusy(delta) {
  $("op-spin").hidden = busyBar(delta) === 0;
}

function showError(err) {
  state.error = err;
  renderError();
}

function renderError() {
  $("alert").hidden = !state.error;
  if (!state.error) return;
  $("alert-title").textContent = t("error.title");
  $("alert-detail").textContent = describeError(state.error);
}

// ---- sign-in (web/js/chrome.js) ---------------------------------------------------

let chrome;

function unauthorized() {
  chrome.unauthorized();
}

// ---- loading ---------------------------------------------------------------------

async function load(me) {
  setBusy(+1);
  try {
    state.me = me;
    const [streets, communities, layouts, cats] = await Promise.all([
      api.streets(), api.communities(), api.layouts(), api.categories(),
    ]);
    const layout = (layouts?.items || []).find((l) => l.current)
      || (layouts?.items || []).find((l) => l.status === "published");
    const grids = await api.grids({ layout: layout?.id });
    gridMap.setData({ streets, communities, grids });
    gridMap.restyleGrids(() => "op");
    state.categories = cats?.items || [];
    renderCategories();
    window.gridmap.ready = true;
    document.body.dataset.ready = "1";
    refreshReviews();
    $("op-q").focus();
    if ($("op-q").value.trim()) search($("op-q").value);
  } catch (err) {
    if (err instanceof ApiError && err.isUnauthorized) unauthorized();
    else if (err instanceof ApiError && err.status === 403) chrome.signIn.wrongRole();
    else showError(err);
  } finally {
    setBusy(-1);
  }
}

// ---- search ----------------------------------------------------------------------

let debounceTimer = 0;

function onInput() {
  clearTimeout(debounceTimer);
  const q = $("op-q").value;
  if (!q.trim()) {
    state.ctl?.abort();
    resetResults();
    renderState();
    return;
  }
  debounceTimer = setTimeout(() => search(q), DEBOUNCE_MS);
}

function resetResults() {
  state.query = "";
  state.answer = null;
  state.cands = [];
  state.active = -1;
  state.picked = null;
  state.pickedGrid = null;
  state.review = null;
  window.gridmap.answer = null;
  window.gridmap.picked = null;
  window.gridmap.grid = null;
  renderCands();
  renderGrid();
  renderReport();
  drawMarkers();
  gridMap?.clearSelection();
}

function candidatesOf(answer) {
  const out = [];
  const addr = answer.address || {};
  if (addr.intersection) {
    const x = addr.intersection;
    out.push({
      key: "x", kind: "intersection", id: null, label: (x.roads || []).join(" × "), full_text: null,
      score: x.score, matched: { intersection: "exact" }, point: x.point, grid: answer.grid
        ? { code: answer.grid.code, name: answer.grid.name } : null,
      community: answer.grid?.community?.name, street: answer.grid?.street?.name,
    });
  }
  for (const c of addr.candidates || []) {
    out.push({
      key: `a${c.id}`, kind: c.kind, id: c.id, label: stripCity(c.full_text), full_text: c.full_text, score: c.score,
      matched: c.matched || {}, point: c.point, grid: c.grid || null, community: c.community, street: c.street,
      building_code: c.building_code,
    });
  }
  return out;
}

async function search(q) {
  q = q.trim();
  if (!q) return;
  state.ctl?.abort();
  const ctl = new AbortController();
  state.ctl = ctl;
  const seq = ++state.seq;
  setBusy(+1);
  try {
    const answer = await apiGet("locate", { params: { address: q }, signal: ctl.signal });
    if (seq !== state.seq) return;
    state.query = q;
    state.answer = answer;
    state.review = null;
    state.cands = candidatesOf(answer);
    state.picked = null;
    state.pickedGrid = null;
    state.active = state.cands.length ? 0 : -1;
    window.gridmap.searches += 1;
    window.gridmap.answer = answer;
    window.gridmap.picked = null;
    window.gridmap.grid = null;
    hideDone();
    renderState();
    renderCands();
    drawMarkers({ fit: true });
    // A confident answer is picked at once; an ambiguous one waits for the operator (never guessed).
    if (answer.address?.status === "matched" && state.cands.length) pick(0, { focusForm: false });
    else { renderGrid(); renderReport(); gridMap.clearSelection(); }
  } catch (err) {
    if (err?.name === "AbortError") return;
    if (err instanceof ApiError && err.isUnauthorized) { unauthorized(); return; }
    if (err instanceof ApiError && err.status === 422) {
      state.answer = null;
      state.cands = [];
      renderState(describeError(err));
      renderCands();
      return;
    }
    showError(err);
  } finally {
    if (state.ctl === ctl) state.ctl = null;
    setBusy(-1);
  }
}

const REASONS = ["close_candidates", "unknown_name", "missing_number", "unknown_number", "no_roads"];

function renderState(problem) {
  const box = $("op-state");
  const a = state.answer?.address;
  let st = "idle";
  let title = t("op.state.idle");
  let detail = t("op.state.idleDetail");
  if (problem) {
    st = "not_found";
    title = t("op.state.invalid");
    detail = problem;
  } else if (a) {
    st = a.status;
    const n = state.cands.length;
    if (a.status === "matched") {
      title = a.intersection ? t("op.state.intersection") : t("op.state.matched");
      detail = t("op.state.matchedDetail", { score: pct(a.score) });
    } else if (a.status === "ambiguous") {
      title = t("op.state.ambiguous", { n });
      detail = t("op.state.ambiguousDetail");
    } else {
      title = t("op.state.notFound");
      detail = n ? t("op.state.notFoundNear") : t("op.state.notFoundDetail");
    }
    if (a.reason && a.status !== "matched") {
      const r = REASONS.includes(a.reason) ? t(`op.reason.${a.reason}`) : a.reason;
      detail = `${r} ${detail}`;
    }
  }
  if (state.review) {
    st = "review";
    title = t("op.state.review", { id: state.review.report_id });
    detail = t("op.state.reviewDetail");
  }
  box.dataset.state = st;
  $("op-state-title").textContent = title;
  $("op-state-detail").textContent = detail;
  // what the parser understood
  const parsed = a?.parsed || {};
  const parts = [];
  for (const k of ["name", "roads", "door", "building", "unit", "floor", "room", "number"]) {
    if (parsed[k] === undefined) continue;
    const v = Array.isArray(parsed[k]) ? parsed[k].join(" × ") : parsed[k];
    parts.push(`<span class="op-chip"><span class="op-chip__k">${escapeHtml(t(`op.part.${k}`))}</span>${escapeHtml(v)}</span>`);
  }
  $("op-parsed").hidden = !parts.length || !!problem;
  $("op-parsed").innerHTML = parts.length ? `<span class="op-parsed__lead">${escapeHtml(t("op.parsed"))}</span>${parts.join("")}` : "";
}

const MATCH_KEYS = ["name", "alias", "road", "door", "number", "building", "unit", "room", "community", "street",
  "intersection", "trigram"];

function matchedChips(m) {
  const out = [];
  for (const [k, v] of Object.entries(m || {})) {
    const label = MATCH_KEYS.includes(k) ? t(`op.match.${k}`) : k;
    let val = String(v);
    if (v === "exact") val = t("op.match.exact");
    else if (v === "fuzzy") val = t("op.match.fuzzy");
    else if (v === "alias") val = t("op.match.aliasHit");
    else if (v === true) val = "✓";
    const weak = v === "fuzzy" || v === "missing" || v === false;
    out.push(`<span class="op-chip${weak ? " op-chip--weak" : ""}"><span class="op-chip__k">${escapeHtml(label)}</span>${escapeHtml(val)}</span>`);
  }
  return out.join("");
}

function renderCands() {
  const list = $("op-cands");
  const reviewMode = !!state.review;
  list.innerHTML = state.cands.map((c, i) => {
    const sel = state.picked && state.picked.key === c.key;
    const act = i === state.active;
    const score = Number(c.score) || 0;
    const tone = score >= 0.9 ? "hi" : score >= 0.7 ? "mid" : "lo";
    const grid = c.grid ? `<span class="op-cand__grid"><span class="op-cand__gridname">${escapeHtml(c.grid.name)}</span> <code>${escapeHtml(c.grid.code)}</code></span>`
      : `<span class="op-cand__grid op-cand__grid--none">${escapeHtml(reviewMode ? "" : t("op.cand.noGrid"))}</span>`;
    const kind = tOr(`op.kind.${c.kind}`, c.kind || "");
    return `<li class="op-cand${sel ? " is-picked" : ""}${act ? " is-active" : ""}" id="op-cand-${i}" role="option"
        aria-selected="${sel ? "true" : "false"}" data-i="${i}">
      <span class="op-cand__rank" aria-hidden="true">${i + 1}</span>
      <div class="op-cand__body">
        <div class="op-cand__top"><span class="op-cand__label">${escapeHtml(c.label)}</span>
          <span class="op-cand__kind">${escapeHtml(kind)}</span></div>
        <div class="op-cand__where">${escapeHtml([c.community, c.street].filter(Boolean).join(" · "))}</div>
        ${grid}
        <div class="op-cand__matched">${matchedChips(c.matched)}</div>
        ${reviewMode ? `<div class="op-cand__actions"><button type="button" class="btn btn--small btn--primary" data-confirm="${c.id}" ${state.reviewsReadOnly ? "disabled" : ""}>${escapeHtml(t("op.reviews.confirm"))}</button></div>` : ""}
      </div>
      <div class="op-cand__score op-cand__score--${tone}" title="${escapeHtml(t("op.cand.score"))}">
        <span class="op-cand__pct">${pct(c.score)}</span>
        <span class="op-cand__bar"><span style="width:${Math.round(score * 100)}%"></span></span>
      </div>
    </li>`;
  }).join("");
  $("op-q").setAttribute("aria-expanded", state.cands.length ? "true" : "false");
  if (state.active >= 0) {
    $("op-q").setAttribute("aria-activedescendant", `op-cand-${state.active}`);
    $(`op-cand-${state.active}`)?.scrollIntoView({ block: "nearest" });
  } else {
    $("op-q").removeAttribute("aria-activedescendant");
  }
}

function setActive(i) {
  if (!state.cands.length) return;
  state.active = (i + state.cands.length) % state.cands.length;
  renderCands();
  drawMarkers();
  const c = state.cands[state.active];
  if (c?.point && gridMap) gridMap.map.panTo([c.point.lat, c.point.lon], { animate: true, duration: 0.25 });
}

// ---- picking a candidate -----------------------------------------------------------

async function pick(i, { focusForm = true } = {}) {
  const c = state.cands[i];
  if (!c) return;
  state.active = i;
  state.picked = c;
  window.gridmap.picked = { id: c.id, full_text: c.full_text, building_code: c.building_code, kind: c.kind };
  renderCands();
  drawMarkers();
  hideDone();
  state.pickCtl?.abort();
  const ctl = new AbortController();
  state.pickCtl = ctl;
  // The top answer of a confident search already carries its grid; any other pick is routed by its point.
  let found = null;
  if (i === 0 && state.answer?.address?.status === "matched" && state.answer.grid && !state.review) {
    found = state.answer;
  } else if (c.point) {
    state.pickedGrid = null;
    renderGrid({ loading: true });
    setBusy(+1);
    try {
      found = await apiGet("locate", { params: { lon: c.point.lon, lat: c.point.lat }, signal: ctl.signal });
    } catch (err) {
      if (err?.name === "AbortError") return;
      if (err instanceof ApiError && err.isUnauthorized) { unauthorized(); return; }
      showError(err);
    } finally {
      setBusy(-1);
    }
  }
  if (state.pickCtl !== ctl || state.picked !== c) return;
  state.pickedGrid = found;
  window.gridmap.grid = found?.grid ? { code: found.grid.code, name: found.grid.name } : null;
  renderGrid();
  if (found?.grid?.code) loadStaff(found, ctl);
  renderReport();
  if (found?.grid?.code) gridMap.select(found.grid.code, { reveal: true });
  if (c.point) {
    gridMap.map.flyTo([c.point.lat, c.point.lon], Math.max(gridMap.map.getZoom(), 16), { duration: 0.5 });
  }
  if (focusForm && !state.review && !$("op-report").hidden) $("op-category").focus();
}

/**
 * The grid's staff with their phone numbers as this role may see them (GET /grids/{code}; the locate answer
 * carries them masked for everyone): callable `tel:` links where the server gives the number in full.
 */
async function loadStaff(found, ctl) {
  try {
    const grid = await api.grid(found.grid.code, { signal: ctl.signal });
    if (state.pickedGrid !== found) return;
    found.grid.staff_on_duty = (grid.properties?.staff || []).filter((p) => p.on_duty !== false);
    renderGrid();
  } catch (err) {
    if (err?.name !== "AbortError" && !(err instanceof ApiError && err.status === 403)) showError(err);
  }
}

function renderGrid({ loading = false } = {}) {
  const box = $("op-grid");
  const f = state.pickedGrid;
  if (loading) {
    box.hidden = false;
    $("op-grid-title").textContent = t("op.grid.loading");
    $("op-grid-code").textContent = "";
    $("op-grid-method").textContent = "";
    $("op-grid-community").textContent = "";
    $("op-grid-street").textContent = "";
    $("op-staff").innerHTML = "";
    return;
  }
  if (!state.picked || !f) { box.hidden = true; return; }
  box.hidden = false;
  const g = f.grid;
  box.classList.toggle("op-grid--none", !g);
  if (!g) {
    $("op-grid-title").textContent = t("op.grid.outside");
    $("op-grid-code").textContent = "";
    $("op-grid-method").textContent = f.reason ? tOr(`op.reason.${f.reason}`, f.reason) : "";
    $("op-grid-community").textContent = "–";
    $("op-grid-street").textContent = "–";
    $("op-staff").innerHTML = "";
    return;
  }
  $("op-grid-title").textContent = featureName(g);
  $("op-grid-code").textContent = g.code;
  const method = f.method === "address" ? t("op.method.address", { score: pct(f.score) })
    : f === state.answer ? tOr(`op.method.${f.method}`, f.method || "") : t("op.method.picked");
  $("op-grid-method").textContent = method;
  $("op-grid-community").textContent = featureName(g.community) || "–";
  $("op-grid-street").textContent = featureName(g.street) || "–";
  const staff = g.staff_on_duty || [];
  $("op-staff").innerHTML = staff.length ? staff.map((p) => `<li class="op-staff__row">
      <span class="op-staff__avatar" aria-hidden="true">${escapeHtml(String(p.name || "?").slice(0, 1))}</span>
      <span class="op-staff__name">${escapeHtml(p.name)}</span>
      <span class="op-staff__role">${escapeHtml(tOr(`op.staffRole.${p.role}`, p.role || ""))}</span>
      ${p.phone && !p.phone.includes("*") ? `<a class="op-staff__phone" href="tel:${escapeHtml(p.phone)}">${escapeHtml(p.phone)}</a>`
    : `<span class="op-staff__phone">${escapeHtml(p.phone || "–")}</span>`}</li>`).join("")
    : `<li class="op-staff__none">${escapeHtml(t("op.grid.noStaff"))}</li>`;
}

// ---- map ---------------------------------------------------------------------------

function drawMarkers({ fit = false } = {}) {
  if (!gridMap) return;
  markers.clearLayers();
  const pts = [];
  state.cands.forEach((c, i) => {
    if (!c.point) return;
    const ll = [c.point.lat, c.point.lon];
    pts.push(ll);
    const picked = state.picked && state.picked.key === c.key;
    const cls = `op-pin${picked ? " op-pin--picked" : ""}${i === state.active ? " op-pin--active" : ""}`
      + `${c.kind === "intersection" ? " op-pin--x" : ""}`;
    const m = L.marker(ll, {
      icon: L.divIcon({ className: "op-pin-wrap", html: `<span class="${cls}"><b>${i + 1}</b></span>`, iconSize: [30, 38], iconAnchor: [15, 36] }),
      keyboard: false,
      title: c.label,
      zIndexOffset: picked ? 1000 : i === state.active ? 500 : -i,
      riseOnHover: true,
    });
    m.on("click", () => (state.review ? setActive(i) : pick(i)));
    m.bindTooltip(`<strong>${escapeHtml(c.label)}</strong><br>${escapeHtml(pct(c.score))}${c.grid ? ` · ${escapeHtml(c.grid.name)}` : ""}`,
      { direction: "top", offset: [0, -34], className: "gm-tip" });
    markers.addLayer(m);
  });
  if (fit && pts.length) {
    const b = L.latLngBounds(pts);
    gridMap.map.flyToBounds(b.pad(0.4), { maxZoom: 17, duration: 0.5 });
  }
}

// ---- report --------------------------------------------------------------------------

/** Whether a category matches what the operator typed: its name (either language), code or pinyin initials. */
function categoryMatches(c, q) {
  if (!q) return true;
  const needle = q.toLowerCase().replace(/\s+/g, "");
  return [c.name, c.name_en, c.code, c.initials, c.major_name].some((v) => String(v || "").toLowerCase()
    .replace(/\s+/g, "").includes(needle));
}

function renderCategories() {
  const sel = $("op-category");
  const current = sel.value;
  const q = $("op-cat-q")?.value.trim() || "";
  const shown = state.categories.filter((c) => categoryMatches(c, q));
  const groups = new Map();
  for (const c of shown) {
    if (!groups.has(c.major_code)) groups.set(c.major_code, { c, items: [] });
    groups.get(c.major_code).items.push(c);
  }
  const name = (zh, en) => (isZh() ? zh || en : en || zh);
  sel.innerHTML = `<option value="">${escapeHtml(t("op.report.pickCategory"))}</option>`
    + [...groups.values()].map(({ c, items }) => `<optgroup label="${escapeHtml(`${c.major_code} ${name(c.major_name, c.major_name_en)}`)}">`
      + items.map((x) => `<option value="${escapeHtml(x.code)}">${escapeHtml(`${name(x.name, x.name_en)} · ${x.code}`)}</option>`).join("")
      + "</optgroup>").join("");
  sel.value = current;
  // One match (or the first of several while typing) is picked, so Enter files without touching the list.
  if (q && shown.length && !shown.some((c) => c.code === current)) sel.value = shown[0].code;
  $("op-cat-n").textContent = q ? t("op.report.catMatches", { n: shown.length }) : "";
}

function reportAddress() {
  const c = state.picked;
  if (c?.full_text) return c.full_text;
  return state.query;
}

function renderReport() {
  const form = $("op-report");
  const has = !state.review && !!state.query && !!state.answer;
  form.hidden = !has;
  if (!has) return;
  const addr = reportAddress();
  $("op-report-addr").textContent = state.picked ? stripCity(addr) : `“${addr}”`;
  $("op-report-queue").hidden = !!state.picked || !!state.pin;
  $("op-pin-state").textContent = state.pin
    ? t("op.pin.placed", { lon: state.pin.lon.toFixed(6), lat: state.pin.lat.toFixed(6) })
    : state.dropping ? t("op.pin.clickMap") : "";
  $("op-pin").hidden = !!state.picked;
  $("op-pin").textContent = t(state.pin ? "op.pin.clear" : "op.pin.drop");
  $("op-report-error").hidden = true;
}

/** The address is not in the registry: the operator drops a pin where the caller says; the report is located by it. */
function togglePin() {
  if (state.pin) {
    state.pin = null;
    pinLayer.clearLayers();
    state.dropping = false;
  } else {
    state.dropping = !state.dropping;
    $("map").classList.toggle("op-map--dropping", state.dropping);
  }
  renderReport();
}

function dropPin(latlng) {
  state.dropping = false;
  $("map").classList.remove("op-map--dropping");
  state.pin = { lon: latlng.lng, lat: latlng.lat };
  pinLayer.clearLayers();
  L.marker(latlng, { icon: L.divIcon({ className: "op-pin-wrap", html: '<span class="op-pin op-pin--picked op-pin--drop"><b>+</b></span>',
    iconSize: [30, 38], iconAnchor: [15, 36] }), keyboard: false, title: t("op.pin.title") }).addTo(pinLayer);
  window.gridmap.pin = state.pin;
  renderReport();
}

function hideDone() {
  $("op-report-done").hidden = true;
  $("op-report-done").innerHTML = "";
}

let submitting = false;
let idemKey = null;

async function submitReport(ev) {
  ev.preventDefault();
  if (submitting) return;
  const err = $("op-report-error");
  err.hidden = true;
  const category = $("op-category").value;
  if (!category) {
    err.textContent = t("op.report.needCategory");
    err.hidden = false;
    $("op-category").focus();
    return;
  }
  const address = reportAddress();
  let description = $("op-desc").value.trim();
  if (state.picked && state.query && state.query !== address) {
    description = `${description}${description ? "\n" : ""}${t("op.report.callerSaid")}${state.query}`;
  }
  const body = { source: "hotline_12345", category, address, description: description || null };
  const caller = { name: $("op-caller-name").value.trim() || null, phone: $("op-caller-phone").value.trim() || null };
  if (caller.name || caller.phone) body.reporter = caller;
  if (state.pin && !state.picked) {
    // Located by the pin (routing method "point"); the caller's words stay as the address text.
    Object.assign(body, { lon: state.pin.lon, lat: state.pin.lat, address: null });
    body.description = [description, `${t("op.report.callerSaid")}${state.query}`].filter(Boolean).join("\n");
  }
  idemKey = idemKey || (crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`);
  submitting = true;
  $("op-submit").disabled = true;
  setBusy(+1);
  try {
    const out = await apiSend("reports", { json: body, headers: { "Idempotency-Key": idemKey } });
    idemKey = null;
    const pinned = Boolean(state.pin && !state.picked);
    window.gridmap.report = out;
    resetAfterFiling();
    renderDone(out, { pinned });
    if (out.address_check?.review_id) refreshReviews();
  } catch (e) {
    if (e instanceof ApiError && e.isUnauthorized) { unauthorized(); return; }
    err.textContent = e instanceof ApiError && e.status === 403 ? t("op.report.forbidden") : describeError(e);
    err.hidden = false;
  } finally {
    submitting = false;
    $("op-submit").disabled = false;
    setBusy(-1);
  }
}

/** How a report was routed, in words; an address match says how good it was (its message takes the score). */
function methodLabel(method, score) {
  return method === "address" ? t("op.method.address", { score: pct(score) }) : tOr(`op.method.${method}`, method || "");
}

/** The call is done: clear the address, the caller and the form for the next call. */
function resetAfterFiling() {
  for (const id of ["op-desc", "op-caller-name", "op-caller-phone", "op-cat-q"]) $(id).value = "";
  $("op-category").value = "";
  state.pin = null;
  state.dropping = false;
  pinLayer.clearLayers();
  $("op-q").value = "";
  resetResults();
  state.query = "";
  state.answer = null;
  renderCategories();
  renderReport();
}

function renderDone(out, { pinned = false } = {}) {
  const box = $("op-report-done");
  const r = out.routing || {};
  const queued = out.address_check?.review_id;
  const grid = r.grid_code ? `${r.grid_name || ""} <code>${escapeHtml(r.grid_code)}</code>` : "–";
  box.innerHTML = `<strong>${escapeHtml(t("op.report.filed", { id: out.id }))}</strong>`
    + `<span>${escapeHtml(t("op.report.routedTo"))} ${grid} · ${escapeHtml(pinned ? `${t("op.method.point")} · ${methodLabel(r.method)}` : methodLabel(r.method, out.address_check?.score))}</span>`
    + (out.case ? `<span>${escapeHtml(t("op.report.case", { id: out.case.id }))}${out.case.assignee ? ` · ${escapeHtml(out.case.assignee)}` : ""}</span>` : "")
    + (queued ? `<span class="op-done__queued">${escapeHtml(t("op.report.queued", { id: queued }))}</span>` : "");
  box.dataset.method = r.method || "";
  box.hidden = false;
  box.closest(".op-side").scrollTop = 0;
  toast(t("op.report.filed", { id: out.id }));
}

// ---- review queue ---------------------------------------------------------------------

async function refreshReviews() {
  try {
    const out = await apiGet("addresses/reviews", { params: { status: "pending", limit: 100 } });
    state.reviews = out.items || [];
    const badge = $("review-count");
    badge.hidden = !out.total;
    badge.textContent = String(out.total || 0);
    renderReviews();
  } catch (err) {
    if (err instanceof ApiError && err.isUnauthorized) unauthorized();
    else if (!(err instanceof ApiError && err.status === 403)) showError(err);
  }
}

function renderReviews() {
  $("op-parsed").after($("op-cands")); // park the candidate list before the queue is redrawn
  $("reviews-readonly").hidden = !state.reviewsReadOnly;
  $("reviews-empty").hidden = state.reviews.length > 0;
  const cats = new Map(state.categories.map((c) => [c.code, c]));
  $("reviews").innerHTML = state.reviews.map((r) => {
    const cat = cats.get(r.category);
    const catName = cat ? (isZh() ? cat.name : cat.name_en || cat.name) : r.category || "";
    const when = r.created_at ? new Intl.DateTimeFormat(getLang(), {
      month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit", timeZone: "Asia/Shanghai",
    }).format(new Date(r.created_at)) : "";
    const open = state.review?.id === r.id;
    return `<li class="op-review${open ? " is-open" : ""}" data-review="${r.id}">
      <button type="button" class="op-review__main" data-open="${r.id}" aria-expanded="${open}">
        <span class="op-review__query">“${escapeHtml(r.query)}”</span>
        <span class="op-review__meta"><span class="op-tag op-tag--${escapeHtml(r.reason)}">${escapeHtml(tOr(`op.reviewReason.${r.reason}`, r.reason))}</span>
          ${escapeHtml(catName)} · ${escapeHtml(t("op.reviews.report", { id: r.report_id }))} · ${escapeHtml(when)}</span>
        ${r.description ? `<span class="op-review__desc">${escapeHtml(r.description)}</span>` : ""}
      </button>
      <div class="op-review__actions">
        <span class="op-review__n">${escapeHtml(t("op.reviews.nCands", { n: (r.candidates || []).length }))}</span>
        <button type="button" class="btn btn--small op-btn--danger" data-reject="${r.id}" ${state.reviewsReadOnly ? "disabled" : ""}>${escapeHtml(t("op.reviews.reject"))}</button>
      </div>
    </li>`;
  }).join("");
  if (state.review) document.querySelector(`.op-review[data-review="${state.review.id}"]`)?.append($("op-cands"));
}

function openReview(id) {
  const r = state.reviews.find((x) => x.id === id);
  if (!r) return;
  state.review = r;
  state.answer = null;
  state.query = "";
  state.picked = null;
  state.pickedGrid = null;
  state.cands = (r.candidates || []).map((c) => ({
    key: `a${c.id}`, kind: c.kind, id: c.id, label: stripCity(c.full_text), full_text: c.full_text, score: c.score,
    matched: c.matched || {}, point: c.point, grid: null, community: c.community, street: c.street,
  }));
  state.active = state.cands.length ? 0 : -1;
  renderReviews(); // shows the candidates under the review entry
  renderCands();
  drawMarkers({ fit: true });
}

function closeReview() {
  if (!state.review) return;
  state.review = null;
  state.cands = [];
  $("op-parsed").after($("op-cands"));
  renderCands();
  drawMarkers();
}

async function decide(id, addressId) {
  setBusy(+1);
  try {
    const out = await apiSend(`addresses/reviews/${id}`, { json: { address_id: addressId } });
    closeReview();
    await refreshReviews();
    window.gridmap.lastDecision = out;
    const msg = out.status === "confirmed"
      ? t("op.reviews.confirmed", { grid: out.routing?.grid_code || "–" }) : t("op.reviews.rejected");
    toast(msg);
  } catch (err) {
    if (err instanceof ApiError && err.isUnauthorized) unauthorized();
    else if (err instanceof ApiError && err.status === 403) { state.reviewsReadOnly = true; renderReviews(); }
    else showError(err);
  } finally {
    setBusy(-1);
  }
}

// ---- tabs ------------------------------------------------------------------------------

function showTab(name) {
  const search = name === "search";
  $("tab-search").setAttribute("aria-selected", String(search));
  $("tab-reviews").setAttribute("aria-selected", String(!search));
  $("pane-search").hidden = !search;
  $("pane-reviews").hidden = search;
  if (search) {
    closeReview();
    $("op-parsed").after($("op-cands"));
    state.cands = state.answer ? candidatesOf(state.answer) : [];
    renderCands();
    drawMarkers();
    $("op-q").focus();
  } else {
    state.cands = [];
    renderCands();
    drawMarkers();
    refreshReviews();
  }
}

// ---- language --------------------------------------------------------------------------

function relabel() {
  document.title = t("op.pageTitle");
  window.gridmap.lang = getLang();
  renderError();
  renderState();
  renderCands();
  renderGrid();
  renderCategories();
  renderReviews();
  if (!$("op-report").hidden) renderReport();
  gridMap?.relabel();
}

// ---- boot ------------------------------------------------------------------------------

function wire() {
  const q = $("op-q");
  q.addEventListener("input", onInput);
  q.addEventListener("keydown", (ev) => {
    if (ev.key === "ArrowDown") { ev.preventDefault(); setActive(state.active + 1); } else if (ev.key === "ArrowUp") {
      ev.preventDefault();
      setActive(state.active - 1);
    } else if (ev.key === "Enter") {
      ev.preventDefault();
      clearTimeout(debounceTimer);
      const text = q.value.trim();
      if (text && text !== state.query) search(text);
      else if (state.active >= 0) pick(state.active);
    } else if (ev.key === "Escape") {
      q.value = "";
      onInput();
    }
  });
  $("op-cands").addEventListener("click", (ev) => {
    const confirm = ev.target.closest("[data-confirm]");
    if (confirm && state.review) {
      decide(state.review.id, Number(confirm.dataset.confirm));
      return;
    }
    const li = ev.target.closest(".op-cand");
    if (!li) return;
    const i = Number(li.dataset.i);
    if (state.review) setActive(i);
    else pick(i);
  });
  $("op-report").addEventListener("submit", submitReport);
  $("op-cands").addEventListener("mousedown", (ev) => { if (!state.review) ev.preventDefault(); });
  $("tab-search").addEventListener("click", () => showTab("search"));
  $("tab-reviews").addEventListener("click", () => showTab("reviews"));
  $("reviews-refresh").addEventListener("click", refreshReviews);
  $("reviews").addEventListener("click", (ev) => {
    const open = ev.target.closest("[data-open]");
    if (open) {
      const id = Number(open.dataset.open);
      if (state.review?.id === id) {
        closeReview();
        renderReviews();
      } else {
        openReview(id);
      }
      return;
    }
    const rej = ev.target.closest("[data-reject]");
    if (rej) decide(Number(rej.dataset.reject), null);
  });
  $("alert-close").addEventListener("click", () => { state.error = null; renderError(); });
  $("op-cat-q").addEventListener("input", renderCategories);
  $("op-cat-q").addEventListener("keydown", (ev) => { if (ev.key === "Enter") { ev.preventDefault(); $("op-desc").focus(); } });
  $("op-pin").addEventListener("click", togglePin);
  onLangChange(relabel);
  document.addEventListener("keydown", (ev) => {
    // "/" or F2 jumps back to the address box from anywhere (the operator's hands stay on the keyboard).
    const typing = /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement?.tagName || "");
    if ((ev.key === "/" && !typing) || ev.key === "F2") {
      ev.preventDefault();
      showTab("search");
      q.focus();
      q.select();
    }
  });
}

async function main() {
  wire();
  await setLang(detectLang(), { persist: false });
  gridMap = new GridMap($("map"), {});
  markers = L.layerGroup().addTo(gridMap.map);
  pinLayer = L.layerGroup().addTo(gridMap.map);
  gridMap.map.on("click", (ev) => { if (state.dropping) dropPin(ev.latlng); });
  relabel();
  chrome = mountChrome({ onReady: load, needs: "op.auth.needReader" });
  takeKeyFromLocation();
  await chrome.start();
}

main().catch((err) => {
  console.error("operator: startup failed", err);
  showError(err);
});
