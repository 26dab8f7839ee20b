// The grid worker's phone screen: log in, my open cases nearest first, a case on a small map,
// accept / update / resolve with a note and a photo URL. Talks to /api/v1 through api.js; the login
// token (short-lived, from POST /api/v1/auth/token) is kept like an API key, in sessionStorage.

import { ApiError, apiGet, apiSend, getKey, setKey, signIn, signOut } from "./api.js";
import { TIME_ZONE, detectLang, getLang, isZh, setLang, t, translateDom } from "./i18n.js";

const $ = (id) => document.getElementById(id);
const state = { me: null, scope: "mine", position: null, cases: [], current: null, map: null };
// Statuses a worker moves a case to from this screen, in button order; the server decides what is allowed.
const ACTIONS = ["in_progress", "resolved", "registered", "verified", "returned"];
const PRIMARY = new Set(["in_progress", "resolved"]);

// ---- HTTP: the one client (web/js/api.js) for reads and writes ---------------------------------------

const send = (path, opts) => apiSend(path, opts);

// ---- formatting --------------------------------------------------------------------------------------

function fmtTime(iso) {
  if (!iso) return "–";
  return new Intl.DateTimeFormat(getLang(), { month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit",
    timeZone: TIME_ZONE }).format(new Date(iso));
}

function fmtDistance(m) {
  if (m === null || m === undefined) return "";
  return m < 1000 ? t("worker.metres", { n: Math.round(m) }) : t("worker.km", { n: (m / 1000).toFixed(1) });
}

function fmtDeadline(c) {
  if (!c.deadline) return "";
  const hours = (new Date(c.deadline) - Date.now()) / 3.6e6;
  const n = Math.abs(hours) < 48 ? `${Math.round(Math.abs(hours))}${t("worker.h")}` : `${Math.round(Math.abs(hours) / 24)}${t("worker.d")}`;
  return hours < 0 ? t("worker.overdueBy", { n }) : t("worker.dueIn", { n });
}

function statusChip(c) {
  const span = document.createElement("span");
  span.className = "status" + (c.overdue ? " status--overdue" : c.status === "escalated" ? " status--escalated" : "");
  span.textContent = c.overdue ? `${t(`worker.status.${c.status}`)} · ${t("worker.overdue")}` : t(`worker.status.${c.status}`);
  return span;
}

/** Chinese name in Chinese, English name (when there is one) in English. */
function named(zh, en) {
  return (isZh() ? zh || en : en || zh) || "";
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = text;
  return e;
}

function toast(msg) {
  const box = $("toast");
  box.textContent = msg;
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { box.hidden = true; }, 2500);
}

function errorText(err) {
  if (err instanceof ApiError) {
    const known = t(`worker.error.${err.code}`);
    return known.startsWith("worker.error.") ? (err.detail || err.title || err.code) : known;
  }
  return String(err?.message || err);
}

// ---- views -------------------------------------------------------------------------------------------

function show(view) {
  for (const id of ["login", "list", "detail"]) $(id).hidden = id !== view;
  $("back").hidden = view !== "detail";
  $("logout").hidden = view === "login";
  $("title").textContent = t(view === "detail" ? "worker.caseTitle" : view === "login" ? "worker.loginTitle" : "worker.title");
  document.title = `gridmap · ${$("title").textContent}`;
}

async function start() {
  if (!getKey()) { show("login"); return; }
  try {
    state.me = await apiGet("auth/me");
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) { setKey(""); show("login"); return; }
    throw err;
  }
  if (!state.me.person_id) state.scope = "grid";
  await route();
}

async function route() {
  const m = window.location.hash.match(/^#\/case\/(\d+)$/);
  if (m) await openCase(Number(m[1]));
  else await loadList();
}

async function loadList() {
  show("list");
  const me = state.me;
  // The person's name and their grid's name (from /auth/me), not a login name or a code.
  $("who").textContent = t("worker.who", { name: me.display_name || me.name,
    grids: named(me.grid_name, me.grid_name_en) || me.grid_codes.join("、") || "–" });
  for (const chip of document.querySelectorAll("[data-scope]")) chip.classList.toggle("is-on", chip.dataset.scope === state.scope);
  const params = { status: "open", limit: 200 };
  if (state.scope === "mine" && me.person_id) params.mine = "true";
  if (state.position) params.near = `${state.position.lon.toFixed(6)},${state.position.lat.toFixed(6)}`;
  $("sort-hint").textContent = t(state.position ? "worker.sortedByDistance" : "worker.sortedByDeadline");
  $("locate").classList.toggle("is-on", Boolean(state.position));
  const data = await apiGet("cases", { params });
  state.cases = data.items;
  const list = $("cases");
  list.replaceChildren();
  for (const c of data.items) {
    const li = el("li");
    const card = el("button", `case${c.overdue ? " is-overdue" : ""}${c.status === "escalated" ? " is-escalated" : ""}`);
    card.type = "button";
    card.dataset.caseId = c.id;
    const top = el("div", "case__top");
    top.append(el("span", "case__cat", named(c.category_name, c.category_name_en) || c.category || "–"), el("span", "case__dist", fmtDistance(c.distance_m)));
    const meta = el("div", "case__meta");
    meta.append(statusChip(c), el("span", "", `#${c.id}`), el("span", "", fmtDeadline(c)));
    card.append(top, meta);
    if (c.description || c.address) card.append(el("div", "case__desc", c.description || c.address));
    card.addEventListener("click", () => { window.location.hash = `#/case/${c.id}`; });
    li.append(card);
    list.append(li);
  }
  $("empty").hidden = data.items.length > 0;
}

function infoRow(dl, label, value) {
  const row = el("div", "info-row");
  row.append(el("dt", "", label), el("dd", "", value ?? "–"));
  dl.append(row);
}

async function openCase(id) {
  show("detail");
  $("act-error").hidden = true;
  const c = await apiGet(`cases/${id}`);
  state.current = c;
  const info = $("case-info");
  info.replaceChildren();
  info.classList.add("info");
  const h = el("h2", "", `${named(c.category_name, c.category_name_en) || c.category || ""} #${c.id}`);
  const dl = el("dl");
  dl.style.margin = "0";
  const status = el("div");
  status.append(statusChip(c));
  infoRow(dl, t("worker.deadline"), `${fmtTime(c.deadline)} · ${fmtDeadline(c)}`);
  infoRow(dl, t("worker.reportedAt"), fmtTime(c.reported_at));
  infoRow(dl, t("worker.grid"), named(c.grid_name, c.grid_name_en) || c.grid_code);
  infoRow(dl, t("worker.address"), c.address);
  infoRow(dl, t("worker.description"), c.description);
  infoRow(dl, t("worker.assignee"), c.assignee ? c.assignee.name : null);
  if (c.reporter) infoRow(dl, t("worker.reporter"), [c.reporter.name, c.reporter.phone].filter(Boolean).join(" "));
  info.append(h, status, dl);
  renderActions(c);
  renderTimeline(c.events || []);
  drawMap(c);
}

function renderActions(c) {
  const box = $("actions");
  box.replaceChildren();
  // Verification is someone else's job than the worker who resolved the case (the server checks it too).
  const resolved = [...(c.events || [])].reverse().find((e) => e.kind === "transition" && e.to_status === "resolved");
  const selfResolved = resolved && state.me && resolved.actor === `user:${state.me.name}`;
  const allowed = ACTIONS.filter((s) => c.next.includes(s) && !(selfResolved && ["verified", "returned"].includes(s)));
  for (const to of allowed) {
    const b = el("button", `btn ${PRIMARY.has(to) ? "btn--primary" : "btn--secondary"}`, t(`worker.action.${to}`));
    b.type = "button";
    b.dataset.to = to;
    b.addEventListener("click", () => act(to));
    box.append(b);
  }
  if (!["closed", "rejected"].includes(c.status)) {
    const b = el("button", "btn", t("worker.action.note"));
    b.type = "button";
    b.dataset.to = "note";
    b.addEventListener("click", () => act("note"));
    box.append(b);
  }
  $("act-form").hidden = box.children.length === 0;
}

function renderTimeline(events) {
  const ol = $("timeline");
  ol.replaceChildren();
  for (const e of [...events].reverse()) {
    const li = el("li");
    const what = e.kind === "transition" ? t(`worker.status.${e.to_status}`) : t(`worker.kind.${e.kind}`);
    li.append(el("time", "", `${fmtTime(e.at)} · ${e.actor}`), el("strong", "", what));
    if (e.note) li.append(el("div", "", e.note));
    for (const url of e.attachments || []) {
      const a = el("a", "", url);
      a.href = url; a.target = "_blank"; a.rel = "noopener noreferrer";
      const d = el("div"); d.append(a); li.append(d);
    }
    ol.append(li);
  }
}

function drawMap(c) {
  const box = $("minimap");
  if (!window.L || !c.point) { box.hidden = !c.point; return; }
  box.hidden = false;
  if (state.map) { state.map.remove(); state.map = null; }
  // No animations: the map is rebuilt after every action, and removing a map mid-animation throws.
  const map = L.map(box, { zoomControl: true, attributionControl: false, zoomAnimation: false, fadeAnimation: false,
    markerZoomAnimation: false }).setView([c.point.lat, c.point.lon], 17);
  state.map = map;
  L.control.scale({ imperial: false }).addTo(map);
  L.circleMarker([c.point.lat, c.point.lon], { radius: 9, color: "#fff", weight: 3, fillColor: c.overdue ? "#c0392b" : "#1f8a70",
    fillOpacity: 1 }).addTo(map);
  if (state.position) {
    L.circleMarker([state.position.lat, state.position.lon], { radius: 6, color: "#1565c0", fillOpacity: 0.8 }).addTo(map);
  }
  if (c.grid_boundary) {
    const layer = L.geoJSON(c.grid_boundary, { style: { color: "#163a5c", weight: 2, fillOpacity: 0.06,
      className: "grid-outline" } }).addTo(map);
    const b = layer.getBounds();
    if (b.isValid()) map.fitBounds(b.extend([c.point.lat, c.point.lon]), { padding: [16, 16], maxZoom: 18, animate: false });
  }
  setTimeout(() => { if (state.map === map) map.invalidateSize({ animate: false }); }, 50);
}

async function act(to) {
  const c = state.current;
  const note = $("note").value.trim();
  const photo = $("photo").value.trim();
  const err = $("act-error");
  err.hidden = true;
  if (photo && !/^https?:\/\/\S+$/.test(photo)) { err.textContent = t("worker.badPhoto"); err.hidden = false; return; }
  if ((to === "note" || to === "resolved") && !note) { err.textContent = t("worker.needNote"); err.hidden = false; return; }
  const attachments = photo ? [photo] : [];
  for (const b of $("actions").querySelectorAll("button")) b.disabled = true;
  try {
    if (to === "note") await send(`cases/${c.id}/notes`, { json: { note, attachments } });
    else await send(`cases/${c.id}/transitions`, { json: { to, note: note || null, attachments } });
    $("note").value = "";
    $("photo").value = "";
    toast(t(`worker.done.${to}`));
    await openCase(c.id);
  } catch (e) {
    err.textContent = errorText(e);
    err.hidden = false;
    for (const b of $("actions").querySelectorAll("button")) b.disabled = false;
  }
}

function locate() {
  if (!navigator.geolocation) { toast(t("worker.noLocation")); return; }
  navigator.geolocation.getCurrentPosition(
    (pos) => {
      state.position = { lon: pos.coords.longitude, lat: pos.coords.latitude };
      // Re-sort only if the list is on screen: never pull the worker away from a case they opened.
      if (!$("list").hidden) loadList().catch(fail);
    },
    () => toast(t("worker.noLocation")),
    { enableHighAccuracy: true, timeout: 8000, maximumAge: 60000 });
}

// ---- wiring ------------------------------------------------------------------------------------------

async function init() {
  await setLang(detectLang());
  $("lang").addEventListener("click", async () => {
    await setLang(getLang() === "zh-CN" ? "en" : "zh-CN");
    translateDom();
    if (!$("login").hidden) show("login"); else route();
  });
  $("login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const err = $("login-error");
    err.hidden = true;
    try {
      // The shared sign-in (web/js/api.js): a shift-long session that survives a reload.
      await signIn($("username").value.trim().toLowerCase(), $("password").value);
      $("password").value = "";
      await start();
      locate();
    } catch (e) {
      err.textContent = errorText(e);
      err.hidden = false;
    }
  });
  $("logout").addEventListener("click", async () => {
    await signOut();
    state.me = null;
    window.location.hash = "";
    show("login");
  });
  $("back").addEventListener("click", () => { window.location.hash = ""; });
  $("locate").addEventListener("click", locate);
  for (const chip of document.querySelectorAll("[data-scope]")) {
    chip.addEventListener("click", () => { state.scope = chip.dataset.scope; loadList(); });
  }
  window.addEventListener("hashchange", () => { if (state.me) route().catch(fail); });
  await start();
  if (state.me && navigator.permissions) {
    try {
      const p = await navigator.permissions.query({ name: "geolocation" });
      if (p.state === "granted") locate();
    } catch { /* no permissions API */ }
  }
}

function fail(err) {
  if (err instanceof ApiError && err.status === 401) { setKey(""); show("login"); return; }
  toast(errorText(err));
}

init().catch(fail);
