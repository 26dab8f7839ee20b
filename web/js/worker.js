// The grid worker's phone screen: log in, my open cases nearest first, a case on a small map with navigation
// (Amap, Baidu, geo:) and a call button, accept / update / resolve with a note and photos from the camera
// (uploaded to /api/v1/media with progress; required as the after photo when the category asks for one), and
// patrol reports (巡查上报: GPS, photo, category, description). Talks to /api/v1 through api.js; people sign in
// through the shared dialog (web/js/chrome.js, signin.js), shown in the phone's own bar; the timeline is the
// console's (web/js/timeline.js).

import { ApiError, apiGet, apiSend, getKey } from "./api.js";
import { mountChrome } from "./chrome.js";
import { TIME_ZONE, detectLang, getLang, isZh, noteText, onLangChange, setLang, t } from "./i18n.js";
import { actorText, eventText } from "./timeline.js";
import { describeError, h, toast } from "./ui.js";

const $ = (id) => document.getElementById(id);
const state = { me: null, scope: "mine", position: null, cases: [], current: null, map: null, categories: null,
  patrolPos: null, patrolKey: null };
const MEDIA_PATH = "/api/v1/media/";
// Statuses a worker moves a case to from this screen, in button order; the server decides what is allowed.
const ACTIONS = ["in_progress", "resolved", "registered", "verified", "returned"];
const PRIMARY = new Set(["in_progress", "resolved"]);

// ---- HTTP: the one client (web/js/api.js) for reads and writes ---------------------------------------

async function problemOf(res) {
  let body = {};
  try { body = await res.json(); } catch { /* not JSON */ }
  return new ApiError({ status: res.status, code: body.code || `http_${res.status}`, title: body.title || "",
    detail: typeof body.detail === "string" ? body.detail : "" });
}

/** Writes through the one client (web/js/api.js); `extraHeaders` (Idempotency-Key), a plain-object form is sent
 * url-encoded as before. */
const send = (path, { extraHeaders = {}, form, ...opts } = {}) => apiSend(path, {
  ...opts,
  headers: extraHeaders,
  form: form && !(form instanceof FormData) && !(form instanceof URLSearchParams) ? new URLSearchParams(form) : form,
});

// ---- photos: upload with progress, shown through the API (they need the bearer token) -----------------

/** POST one photo to /api/v1/media; XMLHttpRequest because fetch reports no upload progress. */
function uploadPhoto(file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/v1/media");
    const key = getKey();
    if (key) xhr.setRequestHeader("Authorization", `Bearer ${key}`);
    xhr.setRequestHeader("Accept", "application/json, application/problem+json;q=0.8");
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); };
    xhr.onload = () => {
      let body = {};
      try { body = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
      if (xhr.status === 201 || xhr.status === 200) resolve(body);
      else reject(new ApiError({ status: xhr.status, code: body.code || `http_${xhr.status}`, title: body.title || "",
        detail: typeof body.detail === "string" ? body.detail : "" }));
    };
    xhr.onerror = () => reject(new ApiError({ status: 0, code: "network" }));
    const data = new FormData();
    data.append("file", file, file.name || "photo.jpg");
    xhr.send(data);
  });
}

const blobUrls = new Map();

/** An object URL for one of our photos (fetched with the token; an <img src> could not send it). */
async function mediaUrl(path) {
  if (!blobUrls.has(path)) {
    blobUrls.set(path, (async () => {
      const res = await fetch(path, { headers: { Authorization: `Bearer ${getKey()}` }, credentials: "same-origin" });
      if (!res.ok) throw await problemOf(res);
      return URL.createObjectURL(await res.blob());
    })());
  }
  return blobUrls.get(path);
}

/** A thumbnail for a photo reference: ours (shown through the API, opens the display version) or a URL. */
function photoThumb(ref) {
  const a = el("a", "thumb");
  const img = el("img");
  img.alt = t("worker.photo");
  a.append(img);
  if (ref.startsWith(MEDIA_PATH)) {
    a.href = "#";
    a.dataset.media = ref;
    mediaUrl(`${ref}/thumbnail`).then((u) => { img.src = u; }).catch(() => { img.alt = "–"; });
    a.addEventListener("click", async (ev) => {
      ev.preventDefault();
      window.open(await mediaUrl(ref), "_blank", "noopener");
    });
  } else {
    a.href = ref; a.target = "_blank"; a.rel = "noopener noreferrer";
    a.textContent = ref;
  }
  return a;
}

/** The camera button of a form: each photo taken is uploaded at once (progress bar), then shown as a
 * thumbnail with a remove button; ``ids()`` gives what to attach. */
function photoPicker(inputId, progressId, thumbsId, onHint) {
  const input = $(inputId);
  const progress = $(progressId);
  const thumbs = $(thumbsId);
  let items = [];
  let busy = 0;
  const render = () => {
    thumbs.replaceChildren();
    for (const m of items) {
      const box = el("div", "thumb-box");
      box.dataset.mediaId = m.id;
      const x = el("button", "thumb-remove", "×");
      x.type = "button";
      x.setAttribute("aria-label", t("worker.removePhoto"));
      x.addEventListener("click", () => { items = items.filter((i) => i !== m); render(); });
      box.append(photoThumb(m.url), x);
      thumbs.append(box);
    }
  };
  input.addEventListener("change", async () => {
    const files = [...input.files];
    input.value = "";
    for (const file of files) {
      busy += 1;
      progress.hidden = false;
      progress.value = 0;
      try {
        const m = await uploadPhoto(file, (f) => { progress.value = f; });
        items.push(m);
        render();
        for (const e of document.querySelectorAll(".act .error")) e.hidden = true;  // a photo answers "take one"
        toast(t("worker.photoUploaded"));
        if (m.location_hint && onHint) onHint(m.location_hint);
      } catch (e) {
        toast(errorText(e), { kind: "error" });
      } finally {
        busy -= 1;
        if (!busy) progress.hidden = true;
      }
    }
  });
  return {
    ids: () => items.map((m) => m.id),
    busy: () => busy > 0,
    clear: () => { items = []; render(); },
  };
}

/** A lasting confirmation at the top of the case (the toast fades; this stays until the next step). */
function confirmStep(msg) {
  const box = $("confirm");
  box.textContent = `✓ ${msg} · ${fmtTime(new Date().toISOString())}`;
  box.hidden = false;
  toast(msg);
}

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

/** `el("div", "cls", "text")`: ui.js's `h` in the short form this page's many small elements use. */
function el(tag, cls, text) {
  return h(tag, { class: cls || null, text });
}

/** The worker's own wording for the codes a phone meets most (worker.error.*), else the shared description. */
function errorText(err) {
  if (err instanceof ApiError) {
    const known = t(`worker.error.${err.code}`);
    if (!known.startsWith("worker.error.")) return known;
  }
  return describeError(err);
}

// ---- views -------------------------------------------------------------------------------------------

const TITLES = { detail: "worker.caseTitle", list: "worker.title", patrol: "worker.patrol.title" };
let chrome;

/** One view at a time; `null` (nobody signed in yet: the shared sign-in dialog is up) shows none. */
function show(view) {
  for (const id of ["list", "detail", "patrol"]) $(id).hidden = id !== view;
  $("back").hidden = !["detail", "patrol"].includes(view);
  $("title").textContent = t(TITLES[view] || "worker.title");
  document.title = `gridmap · ${$("title").textContent}`;
}

/** Someone signed in (the shared chrome calls this, again after another person signs in). */
async function ready(me) {
  state.me = me;
  state.scope = me.person_id ? state.scope : "grid";
  await route();
  if (navigator.permissions) {
    try {
      const p = await navigator.permissions.query({ name: "geolocation" });
      if (p.state === "granted") locate();
    } catch { /* no permissions API */ }
  }
}

async function route() {
  const m = window.location.hash.match(/^#\/case\/(\d+)$/);
  if (m) await openCase(Number(m[1]));
  else if (window.location.hash === "#/patrol") await openPatrol();
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
  if (!state.current || state.current.id !== id) { $("confirm").hidden = true; casePhotos.clear(); }
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
  renderGo(c);
  $("before").hidden = !(c.photos || []).length;
  $("before-thumbs").replaceChildren(...(c.photos || []).map(photoThumb));
  $("photo-req").hidden = !(c.after_photo_required && c.next.includes("resolved"));
  renderActions(c);
  renderTimeline(c.events || []);
  drawMap(c);
}

/** Navigation and call buttons. The server gives the point in each app's datum (Amap GCJ-02, Baidu BD-09,
 * geo: WGS84); the reporter's number is callable only when this role sees it whole (not masked). */
function renderGo(c) {
  const nav = c.navigation;
  $("go").hidden = !nav;
  if (nav) {
    const name = encodeURIComponent(c.address || named(c.category_name, c.category_name_en) || `#${c.id}`);
    const { gcj02: g, bd09: b, wgs84: w } = nav;
    $("nav-amap").href = `amapuri://route/plan/?sourceApplication=gridmap&dlat=${g.lat}&dlon=${g.lon}&dname=${name}&dev=0&t=2`;
    $("nav-baidu").href = `baidumap://map/direction?destination=latlng:${b.lat},${b.lon}|name:${name}&coord_type=bd09ll&mode=walking&src=gridmap`;
    const lat = w.lat.toFixed(7);
    const lon = w.lon.toFixed(7);
    $("nav-geo").href = `geo:${lat},${lon}?q=${lat},${lon}(${name})`;
  }
  const phone = c.reporter && c.reporter.phone;
  const callable = phone && /^[+0-9][0-9 -]{2,}$/.test(phone);
  $("call").hidden = !callable;
  if (callable) {
    $("call").href = `tel:${phone.replace(/[ -]/g, "")}`;
    $("call").textContent = t("worker.callReporter", { phone });
  }
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

/** The case's history in words (the console's rendering, web/js/timeline.js): what, when, who (name · role). */
function renderTimeline(events) {
  const ol = $("timeline");
  ol.replaceChildren();
  for (const e of [...events].reverse()) {
    const li = el("li");
    li.append(el("time", "", `${fmtTime(e.at)} · ${actorText(e)}`), el("strong", "", eventText(e)));
    if (e.note) li.append(el("div", "", noteText(e)));
    if ((e.attachments || []).length) {
      const d = el("div", "thumbs");
      d.append(...e.attachments.map(photoThumb));
      li.append(d);
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
  const err = $("act-error");
  err.hidden = true;
  const attachments = casePhotos.ids();
  const refuse = (key) => { err.textContent = t(key); err.hidden = false; };
  if (casePhotos.busy()) { refuse("worker.photoUploading"); return; }
  if ((to === "note" || to === "resolved") && !note) { refuse("worker.needNote"); return; }
  if (to === "resolved" && c.after_photo_required && !attachments.length) { refuse("worker.needAfterPhoto"); return; }
  for (const b of $("actions").querySelectorAll("button")) b.disabled = true;
  try {
    if (to === "note") await send(`cases/${c.id}/notes`, { json: { note, attachments } });
    else await send(`cases/${c.id}/transitions`, { json: { to, note: note || null, attachments } });
    $("note").value = "";
    casePhotos.clear();
    await openCase(c.id);
    confirmStep(t(`worker.done.${to}`));
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

// ---- patrol reports (巡查上报) ----------------------------------------------------------------------------

function showPatrolPlace() {
  const p = state.patrolPos;
  const box = $("patrol-loc");
  if (!p) { box.textContent = t("worker.patrol.noFix"); return; }
  const where = `${p.lon.toFixed(6)}, ${p.lat.toFixed(6)}`;
  const acc = p.accuracy ? ` ±${Math.round(p.accuracy)} m` : "";
  const from = p.fromPhoto ? ` · ${t("worker.patrol.fromPhoto")}` : "";
  box.textContent = `${where}${acc}${from}${p.grid ? ` · ${t("worker.grid")} ${p.grid}` : ""}`;
}

async function placePatrol(pos) {
  state.patrolPos = pos;
  showPatrolPlace();
  try {
    const r = await apiGet("locate", { params: { lon: pos.lon.toFixed(7), lat: pos.lat.toFixed(7), crs: "wgs84" } });
    if (state.patrolPos === pos) {
      pos.grid = r.grid ? named(r.grid.name, r.grid.name_en) || r.grid.code : t("worker.patrol.outside");
      showPatrolPlace();
    }
  } catch { /* the place is still good: the report is routed on the server */ }
}

function locatePatrol() {
  $("patrol-loc").textContent = t("worker.patrol.locating");
  if (!navigator.geolocation) { showPatrolPlace(); return; }
  navigator.geolocation.getCurrentPosition(
    (pos) => placePatrol({ lon: pos.coords.longitude, lat: pos.coords.latitude, accuracy: pos.coords.accuracy }),
    () => showPatrolPlace(),
    { enableHighAccuracy: true, timeout: 10000, maximumAge: 30000 });
}

async function openPatrol() {
  show("patrol");
  $("patrol-error").hidden = true;
  if (!state.categories) state.categories = (await apiGet("categories")).items;
  const select = $("patrol-category");
  const keep = select.value;
  select.replaceChildren(el("option", "", t("worker.patrol.pickCategory")));
  select.firstChild.value = "";
  const groups = new Map();
  for (const c of state.categories) {
    const label = named(c.major_name, c.major_name_en);
    if (!groups.has(label)) groups.set(label, el("optgroup"));
    const g = groups.get(label);
    g.label = label;
    const o = el("option", "", `${named(c.name, c.name_en)} (${c.code})`);
    o.value = c.code;
    g.append(o);
  }
  select.append(...groups.values());
  select.value = keep;
  if (!state.patrolKey) state.patrolKey = crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`;
  locatePatrol();
}

async function submitPatrol(ev) {
  ev.preventDefault();
  const err = $("patrol-error");
  err.hidden = true;
  const refuse = (key) => { err.textContent = t(key); err.hidden = false; };
  const category = $("patrol-category").value;
  const description = $("patrol-desc").value.trim();
  const pos = state.patrolPos;
  if (patrolPhotos.busy()) { refuse("worker.photoUploading"); return; }
  if (!pos) { refuse("worker.patrol.needLocation"); return; }
  if (!category) { refuse("worker.patrol.needCategory"); return; }
  if (!description && !patrolPhotos.ids().length) { refuse("worker.patrol.needWhat"); return; }
  $("patrol-submit").disabled = true;
  try {
    const r = await send("reports", { extraHeaders: { "Idempotency-Key": state.patrolKey }, json: {
      source: "patrol", category, description: description || null, lon: pos.lon, lat: pos.lat, crs: "wgs84",
      photos: patrolPhotos.ids() } });
    state.patrolKey = null;
    $("patrol-desc").value = "";
    $("patrol-category").value = "";
    patrolPhotos.clear();
    const done = $("patrol-done");
    done.replaceChildren(el("strong", "", `✓ ${t("worker.patrol.done", { id: r.case ? r.case.id : r.id })}`),
      el("div", "", r.routing && r.routing.grid_code
        ? `${t("worker.grid")}: ${r.routing.grid_name || r.routing.grid_code}`
        : t("worker.patrol.outside")));
    if (r.case) {
      const open = el("a", "btn btn--secondary", t("worker.patrol.openCase"));
      open.href = `#/case/${r.case.id}`;
      open.dataset.caseLink = r.case.id;
      done.append(open);
    }
    done.hidden = false;
    toast(t("worker.patrol.sent"));
    done.scrollIntoView({ block: "nearest" });
  } catch (e) {
    err.textContent = errorText(e);
    err.hidden = false;
  } finally {
    $("patrol-submit").disabled = false;
  }
}

const casePhotos = photoPicker("photo", "photo-progress", "photo-thumbs");
const patrolPhotos = photoPicker("patrol-photo", "patrol-progress", "patrol-thumbs", (hint) => {
  if (!state.patrolPos) placePatrol({ lon: hint.lon, lat: hint.lat, fromPhoto: true });
});

// ---- wiring ------------------------------------------------------------------------------------------

async function init() {
  await setLang(detectLang());
  show(null);
  $("lang").addEventListener("click", () => setLang(getLang() === "zh-CN" ? "en" : "zh-CN"));
  onLangChange(() => { if (state.me) route().catch(fail); else show(null); });
  $("back").addEventListener("click", () => { window.location.hash = ""; });
  $("patrol-open").addEventListener("click", () => { $("patrol-done").hidden = true; window.location.hash = "#/patrol"; });
  $("patrol-relocate").addEventListener("click", locatePatrol);
  for (const id of ["patrol-category", "patrol-desc"]) $(id).addEventListener("input", () => { $("patrol-error").hidden = true; });
  $("patrol-form").addEventListener("submit", (ev) => { submitPatrol(ev).catch(fail); });
  $("locate").addEventListener("click", locate);
  for (const chip of document.querySelectorAll("[data-scope]")) {
    chip.addEventListener("click", () => { state.scope = chip.dataset.scope; loadList(); });
  }
  window.addEventListener("hashchange", () => { if (state.me) route().catch(fail); });
  chrome = mountChrome({ onReady: ready });
  await chrome.start();
}

function fail(err) {
  if (err instanceof ApiError && err.status === 401) { state.me = null; show(null); chrome?.unauthorized(); return; }
  toast(errorText(err), { kind: "error" });
}

init().catch(fail);
