// The command-centre console (/console.html, role dispatcher): the case queue with its tabs, filters, paging
// and keyboard, and the case with its map, photos, caller, duplicates, whistles and timeline. Every step of
// the loop is a button; which buttons a case offers comes from the server (`next` on each case, computed
// from the one transition table in api/cases/workflow.py), never from a copy of the table here.

import { ApiError, apiGet, apiSend } from "./api.js";
import { mountChrome } from "./chrome.js";
import { TIME_ZONE, detectLang, featureName, formatNumber, getLang, noteText, onLangChange, setLang, t } from "./i18n.js";
import { actorText, eventText, statusLabel } from "./timeline.js";
import { describeError, h, setBusy, tOr, toast } from "./ui.js";

const $ = (id) => document.getElementById(id);
const PAGE = 25;
/** The queue's tabs: each is a query of GET /cases (the statuses are the server's codes). */
const TABS = [
  { id: "reported", params: { status: "reported" } },
  { id: "registered", params: { status: "registered,returned" } },
  { id: "working", params: { status: "dispatched,in_progress" } },
  { id: "resolved", params: { status: "resolved" } },
  { id: "overdue", params: { status: "open", overdue: "true" } },
  { id: "escalated", params: { status: "escalated" } },
  { id: "done", params: { status: "verified,closed" } },
];
/** The button each reachable status gets, in the order they are offered; `reason` makes the note required. */
const STEPS = {
  registered: { key: "register", primary: true },
  dispatched: { key: "dispatch", primary: true },
  in_progress: { key: "accept" },
  resolved: { key: "resolve" },
  verified: { key: "verify", primary: true },
  closed: { key: "close", primary: true },
  returned: { key: "return", reason: true, danger: true },
  rejected: { key: "reject", reason: true, danger: true },
  escalated: { key: "whistle" },
};

/** A follow-up's answers (the API's codes; FollowupIn in api/cases/schemas.py). */
const SATISFACTIONS = ["satisfied", "basically_satisfied", "dissatisfied"];
const CHANNELS = ["phone", "sms", "visit", "wechat", "app", "other"];

const state = {
  me: null, tab: "reported", offset: 0, items: [], total: 0, counts: {}, active: -1, selected: new Set(),
  current: null, whistles: [], dups: [], departments: [], categories: [], streets: [], map: null, layers: null,
  listCtl: null,
};
window.gridmap = { ready: false, listLoads: 0, detailLoads: 0 };

let chrome;

// ---- formatting -----------------------------------------------------------------------------------------

const named = (zh, en) => featureName({ name: zh, name_en: en });

function fmtTime(iso) {
  if (!iso) return "–";
  return new Intl.DateTimeFormat(getLang(), { month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit",
    timeZone: TIME_ZONE }).format(new Date(iso));
}

function fmtDeadline(c) {
  if (!c.deadline) return "–";
  const hours = (new Date(c.deadline) - Date.now()) / 3.6e6;
  const abs = Math.abs(hours);
  const n = abs < 48 ? t("cc.hours", { n: Math.round(abs) }) : t("cc.days", { n: Math.round(abs / 24) });
  return hours < 0 ? t("cc.overdueBy", { n }) : t("cc.dueIn", { n });
}

function statusChip(s) {
  return h("span", { class: "cc-status", "data-status": s, text: statusLabel(s) });
}

function problem(err) {
  if (err instanceof ApiError && err.isUnauthorized) { chrome.unauthorized(); return; }
  toast(describeError(err), { kind: "error", ms: 6000 });
}

// ---- the queue ------------------------------------------------------------------------------------------

function filters() {
  const p = {};
  const q = $("f-q").value.trim();
  if (q) p.q = q;
  if ($("f-area").value) p.area = $("f-area").value;
  if ($("f-category").value) p.category = $("f-category").value;
  if ($("f-source").value) p.source = $("f-source").value;
  const grid = $("f-grid").value.trim();
  if (/^[0-9]{15}$/.test(grid)) p.grid = grid;
  return p;
}

function renderTabs() {
  $("cc-tabs").replaceChildren(...TABS.map((tab) => h("button", {
    type: "button", role: "tab", class: "cc-tab", "data-tab": tab.id, "aria-selected": String(tab.id === state.tab),
    onclick: () => { state.tab = tab.id; state.offset = 0; state.selected.clear(); loadList(); },
  }, h("span", { text: t(`cc.tab.${tab.id}`) }),
  h("span", { class: "cc-tab__n", "data-count": tab.id,
    text: state.counts[tab.id] === undefined ? "…" : formatNumber(state.counts[tab.id]) }))));
}

async function loadCounts() {
  const f = filters();
  const totals = await Promise.all(TABS.map((tab) => apiGet("cases", { params: { ...f, ...tab.params, limit: 1 } })
    .then((r) => r.total).catch(() => undefined)));
  TABS.forEach((tab, i) => { state.counts[tab.id] = totals[i]; });
  window.gridmap.counts = { ...state.counts };
  renderTabs();
}

async function loadList({ keepActive = false } = {}) {
  state.listCtl?.abort();
  const ctl = new AbortController();
  state.listCtl = ctl;
  const tab = TABS.find((x) => x.id === state.tab);
  setBusy(+1);
  try {
    const out = await apiGet("cases", { params: { ...filters(), ...tab.params, limit: PAGE, offset: state.offset },
      signal: ctl.signal });
    state.items = out.items;
    state.total = out.total;
    if (!keepActive) state.active = state.items.length ? 0 : -1;
    state.active = Math.min(state.active, state.items.length - 1);
    renderList();
    window.gridmap.listLoads += 1;
  } catch (err) {
    if (err?.name !== "AbortError") problem(err);
  } finally {
    setBusy(-1);
  }
  renderTabs();
  loadCounts();
}

function renderList() {
  const rows = state.items.map((c, i) => {
    const check = h("input", { type: "checkbox", "aria-label": t("cc.select", { id: c.id }),
      checked: state.selected.has(c.id) ? true : null,
      onclick: (ev) => { ev.stopPropagation(); toggleSelect(c.id); } });
    const tr = h("tr", { "data-id": c.id, class: [i === state.active ? "is-active" : "", c.id === state.current?.id ? "is-open" : ""].join(" "),
      onclick: () => { state.active = i; openCase(c.id); } },
    h("td", {}, check),
    h("td", {}, h("code", { text: c.id })),
    h("td", {}, statusChip(c.status)),
    h("td", { class: "cc-what" }, h("span", { class: "cc-what__cat", text: named(c.category_name, c.category_name_en) || c.category || "–" }),
      h("span", { class: "cc-what__desc", text: c.address || c.description || "" })),
    h("td", {}, named(c.grid_name, c.grid_name_en) || "–"),
    h("td", { class: c.overdue ? "cc-overdue" : "" }, fmtDeadline(c)));
    return tr;
  });
  $("cc-rows").replaceChildren(...rows);
  $("cc-empty").hidden = state.items.length > 0;
  const pages = Math.max(1, Math.ceil(state.total / PAGE));
  $("cc-page").textContent = t("cc.page", { page: Math.floor(state.offset / PAGE) + 1, pages, total: formatNumber(state.total) });
  $("cc-prev").disabled = state.offset === 0;
  $("cc-next").disabled = state.offset + PAGE >= state.total;
  $("cc-all").checked = state.items.length > 0 && state.items.every((c) => state.selected.has(c.id));
  renderBulk();
}

function toggleSelect(id) {
  if (state.selected.has(id)) state.selected.delete(id);
  else state.selected.add(id);
  renderList();
}

function renderBulk() {
  const n = state.selected.size;
  $("cc-bulk").hidden = n === 0;
  $("cc-bulk-n").textContent = t("cc.bulk.n", { n });
  const dispatchable = state.items.filter((c) => state.selected.has(c.id) && c.next.includes("dispatched"));
  $("cc-bulk-dispatch").disabled = dispatchable.length === 0;
  $("cc-bulk-dispatch").textContent = t("cc.bulk.dispatch", { n: dispatchable.length });
}

async function bulkDispatch() {
  const ids = state.items.filter((c) => state.selected.has(c.id) && c.next.includes("dispatched")).map((c) => c.id);
  let ok = 0;
  const failed = [];
  setBusy(+1);
  for (const id of ids) {
    try {
      await apiSend(`cases/${id}/transitions`, { json: { to: "dispatched", note: t("cc.bulk.note") } });
      ok += 1;
      state.selected.delete(id);
    } catch (err) {
      failed.push(`#${id}: ${describeError(err)}`);
    }
  }
  setBusy(-1);
  toast(failed.length ? `${t("cc.bulk.done", { n: ok })} · ${failed.join("; ")}` : t("cc.bulk.done", { n: ok }),
    { kind: failed.length ? "error" : "ok", ms: failed.length ? 8000 : 3500 });
  await loadList({ keepActive: true });
  if (state.current && ids.includes(state.current.id)) openCase(state.current.id);
}

function moveActive(delta) {
  if (!state.items.length) return;
  state.active = Math.max(0, Math.min(state.items.length - 1, state.active + delta));
  renderList();
  $("cc-rows").children[state.active]?.scrollIntoView({ block: "nearest" });
}

// ---- the case -------------------------------------------------------------------------------------------

async function openCase(id) {
  setBusy(+1);
  try {
    const [c, wh] = await Promise.all([apiGet(`cases/${id}`), apiGet(`cases/${id}/whistles`)]);
    state.current = c;
    state.whistles = wh.items;
    state.dups = [];
    renderCase();
    renderList();
    window.gridmap.detailLoads += 1;
    if (!["closed", "rejected"].includes(c.status)) {
      apiGet(`cases/${id}/duplicates`).then((d) => {
        if (state.current?.id === id) { state.dups = d.items; renderDups(); }
      }).catch(() => { /* a role without the duplicate check: nothing to suggest */ });
    }
  } catch (err) {
    problem(err);
  } finally {
    setBusy(-1);
  }
}

function renderCase() {
  const c = state.current;
  $("cc-placeholder").hidden = Boolean(c);
  $("cc-case").hidden = !c;
  if (!c) return;
  $("cc-title").textContent = t("cc.caseTitle", { id: c.id, what: named(c.category_name, c.category_name_en) || c.category || "" });
  $("cc-status").replaceChildren(statusChip(c.status));
  $("cc-deadline").textContent = c.closed_at ? t("cc.closedAt", { at: fmtTime(c.closed_at) })
    : c.deadline ? `${t("cc.deadline")} ${fmtTime(c.deadline)} · ${fmtDeadline(c)}` : "";
  $("cc-deadline").classList.toggle("is-overdue", Boolean(c.overdue));
  renderActions();
  renderFacts();
  renderMap();
  renderPhotos();
  renderWhistles();
  renderDups();
  renderTimeline();
}

function renderActions() {
  const c = state.current;
  const buttons = [];
  for (const [to, step] of Object.entries(STEPS)) {
    if (!c.next.includes(to)) continue;
    buttons.push(h("button", { type: "button", class: `btn ${step.primary ? "btn--primary" : ""} ${step.danger ? "btn--danger" : ""}`,
      "data-action": step.key, text: t(`cc.act.${step.key}`), onclick: () => openAction(step.key, to) }));
  }
  if (c.next.includes("dispatched") && state.departments.length) {
    buttons.push(h("button", { type: "button", class: "btn", "data-action": "department", text: t("cc.act.department"),
      onclick: () => openAction("department", "dispatched") }));
  }
  if (c.actions.includes("transfer") || (!["closed", "rejected", "reported"].includes(c.status) && c.next.length)) {
    buttons.push(h("button", { type: "button", class: "btn", "data-action": "reassign", text: t("cc.act.reassign"),
      onclick: () => openAction("reassign") }));
  }
  if (c.next.includes("rejected") && state.dups.length) {
    buttons.push(h("button", { type: "button", class: "btn", "data-action": "merge", text: t("cc.act.merge"),
      onclick: () => openAction("merge") }));
  }
  // Follow-up (回访): due once per closing; reopening (重办) is offered when the table allows it (`actions`).
  if (c.status === "closed" && !c.followed_up_at) {
    buttons.push(h("button", { type: "button", class: "btn btn--primary", "data-action": "followup",
      text: t("cc.act.followup"), onclick: () => openAction("followup") }));
    if (c.actions.includes("reopen")) {
      buttons.push(h("button", { type: "button", class: "btn btn--danger", "data-action": "reopen",
        text: t("cc.act.reopen"), onclick: () => openAction("reopen") }));
    }
  }
  if (!buttons.length) buttons.push(h("span", { class: "cc-muted", text: t("cc.noActions") }));
  $("cc-actions").replaceChildren(...buttons);
}

function fact(dt, ...dd) {
  return [h("dt", { text: dt }), h("dd", {}, ...dd)];
}

function renderFacts() {
  const c = state.current;
  const phone = c.reporter?.phone;
  const callable = phone && !phone.includes("*");
  const a = c.assignee;
  $("cc-facts").replaceChildren(
    ...fact(t("cc.f.address"), c.address || (c.point ? `${c.point.lon.toFixed(6)}, ${c.point.lat.toFixed(6)}` : "–")),
    ...fact(t("cc.f.description"), c.description || "–"),
    ...fact(t("cc.f.caller"), c.reporter ? [c.reporter.name || "", " ",
      callable ? h("a", { href: `tel:${phone}`, text: phone }) : phone || ""] : t("cc.none")),
    ...fact(t("cc.f.grid"), named(c.grid_name, c.grid_name_en) || "–", c.grid_code ? h("code", { text: ` ${c.grid_code}` }) : ""),
    ...fact(t("cc.f.assignee"), a ? [`${a.name} · ${tOr(`op.staffRole.${a.role}`, a.role)} `,
      a.phone && !a.phone.includes("*") ? h("a", { href: `tel:${a.phone}`, text: a.phone }) : a.phone || ""] : "–"),
    ...fact(t("cc.f.department"), departmentName(c.department_code) || "–"),
    ...fact(t("cc.f.source"), tOr(`source.${c.source}`, c.source || "–")),
    ...fact(t("cc.f.reported"), fmtTime(c.reported_at || c.created_at)),
    ...(c.satisfaction ? fact(t("cc.f.rating"), [t(`cc.sat.${c.satisfaction}`),
      c.followup_resolved === null ? "" : ` · ${t(c.followup_resolved ? "cc.followup.solved" : "cc.followup.unsolved")}`,
      c.followup_channel ? ` · ${tOr(`cc.channel.${c.followup_channel}`, c.followup_channel)}` : ""]) : []),
    ...(c.reopen_count ? fact(t("cc.f.reopened"), t("cc.reopenedN", { n: c.reopen_count })) : []),
    ...(c.merged_into ? fact(t("cc.f.merged"), `#${c.merged_into}`) : []),
  );
}

function departmentName(code) {
  if (!code) return "";
  const d = state.departments.find((x) => x.code === code);
  return d ? named(d.name, d.name_en) : code;
}

const PIN = '<svg class="cc-pin" viewBox="0 0 26 34" aria-hidden="true"><path d="M13 1C6.4 1 1 6.2 1 12.7 1 21.5 13 33 13 33s12-11.5 12-20.3C25 6.2 19.6 1 13 1z" fill="#d4351c" stroke="#fff" stroke-width="2"/><circle cx="13" cy="12.5" r="4.5" fill="#fff"/></svg>';

function renderMap() {
  const c = state.current;
  if (!window.L) return;
  if (!state.map) {
    state.map = L.map("cc-map", { zoomControl: true, attributionControl: false });
    state.layers = L.layerGroup().addTo(state.map);
  }
  state.layers.clearLayers();
  const bounds = [];
  if (c.grid_boundary) {
    const g = L.geoJSON(c.grid_boundary, { style: { color: "#16324d", weight: 2, fillColor: "#57c3a8", fillOpacity: 0.15 } });
    g.addTo(state.layers);
    bounds.push(g.getBounds());
  }
  if (c.point) {
    const icon = L.divIcon({ className: "cc-pin-icon", html: PIN, iconSize: [26, 34], iconAnchor: [13, 33] });
    L.marker([c.point.lat, c.point.lon], { icon, title: t("cc.reportedPoint"), keyboard: false }).addTo(state.layers);
    bounds.push(L.latLngBounds([[c.point.lat, c.point.lon], [c.point.lat, c.point.lon]]));
  }
  setTimeout(() => {
    state.map.invalidateSize();
    if (bounds.length) {
      const all = bounds.reduce((acc, b) => acc.extend(b), L.latLngBounds(bounds[0].getSouthWest(), bounds[0].getNorthEast()));
      state.map.fitBounds(all.pad(0.2), { maxZoom: 18 });
    } else state.map.setView([39.92, 116.41], 13);
  }, 0);
}

/** Photos before (the report's, and anything attached before the case was resolved) and after (the resolution's). */
function photoSets(c) {
  const before = [...(c.photos || [])];
  const after = [];
  let resolved = false;
  for (const e of c.events || []) {
    if (e.kind === "transition" && e.to_status === "resolved") { resolved = true; after.length = 0; }
    (resolved ? after : before).push(...(e.attachments || []));
    if (e.kind === "transition" && e.to_status === "returned") resolved = false;
  }
  return { before, after };
}

function renderPhotos() {
  const { before, after } = photoSets(state.current);
  const fig = (key, urls) => h("figure", { "data-photos": key }, h("figcaption", { text: t(`cc.photo.${key}`) }),
    urls.length ? urls.slice(-1).map((u) => h("a", { href: u, target: "_blank", rel: "noopener" },
      h("img", { src: u, alt: t(`cc.photo.${key}`), loading: "lazy" })))
      : h("div", { class: "cc-nophoto", text: t("cc.photo.none") }));
  $("cc-photos").replaceChildren(fig("before", before), fig("after", after));
}

function renderWhistles() {
  const items = state.whistles.map((w) => h("li", {},
    h("strong", { text: t(`cc.whistle.${w.level}`) }), " · ", fmtTime(w.raised_at),
    w.note ? h("div", { text: w.note }) : null,
    h("div", {}, w.targets.map((tg) => {
      const who = tg.department_name || tg.person_name || tg.department_code || `#${tg.person_id}`;
      const done = Boolean(tg.acknowledged_at);
      const chip = h("span", { class: `cc-ack ${done ? "is-done" : ""} ${tg.late ? "is-late" : ""}`,
        text: `${who} · ${done ? t("cc.ack.done", { at: fmtTime(tg.acknowledged_at) }) : t("cc.ack.waiting")}${tg.late ? ` · ${t("cc.ack.late")}` : ""}` });
      const btn = done ? null : h("button", { type: "button", class: "btn btn--small", "data-ack": tg.id,
        text: t("cc.ack.record"), onclick: () => acknowledge(tg.id) });
      return h("span", {}, chip, btn);
    }))));
  $("cc-whistles").replaceChildren(...(items.length ? items : [h("li", { class: "cc-muted", text: t("cc.none") })]));
}

async function acknowledge(targetId) {
  try {
    await apiSend(`whistles/targets/${targetId}/acknowledge`, { json: { note: t("cc.ack.byPhone") } });
    toast(t("cc.ack.recorded"));
    await openCase(state.current.id);
  } catch (err) { problem(err); }
}

function renderDups() {
  const items = state.dups.map((d) => h("li", {}, h("a", { href: `#case-${d.case_id}`,
    onclick: (ev) => { ev.preventDefault(); openCase(d.case_id); }, text: `#${d.case_id}` }), " ",
  statusChip(d.status), " ", t("cc.dup.near", { m: Math.round(d.distance_m), h: d.hours_apart.toFixed(1) }),
  d.description ? h("div", { class: "cc-muted", text: d.description }) : null));
  $("cc-dups").replaceChildren(...(items.length ? items : [h("li", { class: "cc-muted", text: t("cc.dup.none") })]));
  if (state.current) renderActions();
}

function renderTimeline() {
  const events = [...(state.current.events || [])].reverse();
  $("cc-timeline").replaceChildren(...events.map((e) => h("li", { "data-kind": e.kind },
    h("time", { datetime: e.at, text: fmtTime(e.at) }),
    h("span", { class: "cc-ev__what", text: eventText(e) }), " ",
    h("span", { class: "cc-ev__who", text: `— ${actorText(e)}` }),
    e.note ? h("span", { class: "cc-ev__note", "data-note-code": e.note_code || null, text: noteText(e) }) : null,
    e.attachments?.length ? h("span", { class: "cc-ev__note", text: t("cc.ev.photos", { n: e.attachments.length }) }) : null)));
}

// ---- actions --------------------------------------------------------------------------------------------

let pending = null;

async function staffOf(grid) {
  if (!grid) return [];
  const out = await apiGet("people", { params: { grid, limit: 100 } });
  return out.items.filter((p) => p.role === "grid_leader" || p.role === "grid_worker");
}

/** The person select's options for a grid: its own staff (the case's person preselected); in another grid the
 * first choice is "its worker on duty", whom the server picks when no one is named. */
async function staffOptions(grid, c) {
  const staff = await staffOf(grid).catch(() => []);
  const opts = staff.map((p) => ({ value: p.id, selected: c.assignee?.id === p.id,
    label: `${p.name} · ${tOr(`op.staffRole.${p.role}`, p.role)}${p.on_duty ? "" : ` · ${t("cc.offDuty")}`}` }));
  return grid === c.grid_code ? opts : [{ value: "", label: t("cc.grid.dutyWorker"), selected: true }, ...opts];
}

/** The reassign dialog's grid picker (改派到其他网格): a search by name or code over GET /cases/{id}/grids (nearest
 * grids first) and a list whose first entry is the case's own grid. Choosing another grid makes the reason
 * required and loads that grid's staff. */
function gridPicker(c) {
  const list = h("select", { id: "a-grid", size: 6, "aria-label": t("cc.f.grid") });
  const own = { code: c.grid_code, label: `${named(c.grid_name, c.grid_name_en) || c.grid_code} · ${c.grid_code} · ${t("cc.grid.current")}` };
  const fill = (items) => {
    list.replaceChildren(h("option", { value: own.code, text: own.label }), ...items.map((g) => h("option", {
      value: g.code, title: g.code, text: [named(g.name, g.name_en),
        named(g.name, g.name_en).includes(named(g.community_name, g.community_name_en)) ? null
          : named(g.community_name, g.community_name_en), g.code,
        g.distance_m === null ? null : t("cc.grid.away", { m: formatNumber(Math.round(g.distance_m)) }),
        g.worker ? t("cc.grid.worker", { name: g.worker }) : t("cc.grid.noWorker")].filter(Boolean).join(" · ") })));
    if (!items.length) list.append(h("option", { disabled: true, value: "-", text: t("cc.grid.none") }));
    list.value = state.pickedGrid && [...list.options].some((o) => o.value === state.pickedGrid) ? state.pickedGrid : own.code;
  };
  let timer = 0;
  let ctl = null;
  const search = async (q) => {
    ctl?.abort();
    ctl = new AbortController();
    try {
      const out = await apiGet(`cases/${c.id}/grids`, { params: q ? { q } : {}, signal: ctl.signal });
      fill(out.items);
      window.gridmap.gridLoads = (window.gridmap.gridLoads || 0) + 1;
    } catch (err) { if (err?.name !== "AbortError") problem(err); }
  };
  const input = h("input", { type: "search", id: "a-grid-q", maxlength: 50, autocomplete: "off",
    placeholder: t("cc.grid.searchHint"), oninput: (ev) => {
      clearTimeout(timer);
      timer = setTimeout(() => search(ev.target.value.trim()), 250);
    } });
  list.addEventListener("change", async () => {
    state.pickedGrid = list.value;
    const other = list.value !== c.grid_code;
    pending.needsNote = other;
    $("a-note-label").textContent = t(other ? "cc.reasonRequired" : "cc.note");
    $("a-person").replaceChildren(...(await staffOptions(list.value, c)).map((o) => h("option", { value: o.value,
      text: o.label, selected: o.selected ? true : null })));
  });
  state.pickedGrid = null;
  fill([]);
  search("");
  return [label("cc.f.moveTo", input), list];
}

function select(id, options, { required = false, empty = null } = {}) {
  return h("select", { id, required: required || null },
    empty ? h("option", { value: "", text: empty }) : null,
    options.map((o) => h("option", { value: o.value, text: o.label, selected: o.selected ? true : null })));
}

function label(key, control) {
  return h("label", {}, h("span", { text: t(key) }), control);
}

async function openAction(key, to = null) {
  const c = state.current;
  const fields = [];
  let needsNote = Boolean(STEPS[to]?.reason);
  if (key === "dispatch" || key === "reassign") {
    if (key === "reassign" && c.actions.includes("transfer")) fields.push(...gridPicker(c));
    fields.push(label("cc.f.assignee", select("a-person", await staffOptions(c.grid_code, c), {
      required: key === "reassign", empty: key === "dispatch" ? t("cc.keepAssignee") : null })));
  }
  if (key === "department") {
    fields.push(label("cc.f.department", select("a-dept", state.departments.map((d) => ({ value: d.code,
      label: named(d.name, d.name_en) })), { required: true })));
  }
  if (key === "whistle") {
    fields.push(label("cc.whistle.level", select("a-level", [
      { value: "street", label: t("cc.whistle.street") }, { value: "community", label: t("cc.whistle.community") }])));
    fields.push(h("fieldset", { id: "a-depts" }, h("legend", { text: t("cc.whistle.departments") }),
      state.departments.map((d) => h("label", {}, h("input", { type: "checkbox", value: d.code }), named(d.name, d.name_en)))));
    fields.push(h("p", { class: "cc-muted", id: "a-community-hint", hidden: true, text: t("cc.whistle.communityHint") }));
    needsNote = true;
  }
  if (key === "merge") {
    fields.push(label("cc.merge.into", select("a-into", state.dups.map((d) => ({ value: d.case_id,
      label: `#${d.case_id} · ${statusLabel(d.status)} · ${t("cc.dup.near", { m: Math.round(d.distance_m), h: d.hours_apart.toFixed(1) })}` })),
    { required: true })));
  }
  if (key === "followup" || key === "reopen") {
    const reopen = key === "reopen";
    fields.push(h("fieldset", { class: "cc-stars", id: "a-satisfaction" }, h("legend", { text: t("cc.followup.rating") }),
      SATISFACTIONS.map((v) => h("label", {}, h("input", { type: "radio", name: "satisfaction", value: v,
        checked: v === (reopen ? "dissatisfied" : "satisfied") ? true : null, disabled: reopen && v !== "dissatisfied" ? true : null }),
      t(`cc.sat.${v}`)))));
    fields.push(h("fieldset", { class: "cc-stars", id: "a-solved" }, h("legend", { text: t("cc.followup.solvedQ") }),
      [true, false].map((v) => h("label", {}, h("input", { type: "radio", name: "solved", value: String(v),
        checked: v === !reopen ? true : null }), t(v ? "cc.followup.solved" : "cc.followup.unsolved")))));
    fields.push(label("cc.followup.channel", select("a-channel", CHANNELS.map((v) => ({ value: v,
      label: t(`cc.channel.${v}`) })))));
    needsNote = reopen;
  }
  fields.push(h("label", {}, h("span", { id: "a-note-label", text: t(needsNote ? "cc.reasonRequired" : "cc.note") }),
    h("textarea", { id: "a-note", rows: 3, maxlength: 4000, required: needsNote || null })));
  $("act-title").textContent = t(`cc.act.${key}`);
  $("act-lead").textContent = t(key === "reassign" && c.actions.includes("transfer") ? "cc.lead.reassignGrid"
    : `cc.lead.${key}`, { id: c.id });
  $("act-submit").textContent = t(`cc.act.${key}`);
  $("act-fields").replaceChildren(...fields);
  $("act-error").hidden = true;
  const level = $("a-level");
  level?.addEventListener("change", () => {
    $("a-depts").hidden = level.value !== "street";
    $("a-community-hint").hidden = level.value === "street";
  });
  pending = { key, to, needsNote };
  $("act-dialog").showModal();
  (fields[0]?.querySelector("select, textarea, input") || $("a-note")).focus();
}

async function submitAction(ev) {
  ev.preventDefault();
  const { key, to, needsNote } = pending; // needsNote: also set by the grid picker
  const id = state.current.id;
  const note = $("a-note").value.trim() || null;
  const fail = (msg) => { $("act-error").textContent = msg; $("act-error").hidden = false; };
  if (needsNote && !note) { fail(t("cc.reasonMissing")); $("a-note").focus(); return; }
  let path = `cases/${id}/transitions`;
  let json = { to, note };
  if (key === "dispatch" && $("a-person").value) json.assignee_id = Number($("a-person").value);
  if (key === "department") json.department_code = $("a-dept").value;
  let done = `cc.done.${key}`;
  if (key === "reassign" && $("a-grid") && $("a-grid").value !== state.current.grid_code) {
    path = `cases/${id}/grid`; // another grid: the reason was required above
    json = { grid_code: $("a-grid").value, reason: note, ...($("a-person").value ? { assignee_id: Number($("a-person").value) } : {}) };
    done = "cc.done.transfer";
  } else if (key === "reassign") {
    if (!$("a-person").value) { fail(t("cc.pickPerson")); return; }
    path = `cases/${id}/assignee`; json = { person_id: Number($("a-person").value), note };
  }
  if (key === "merge") { path = `cases/${id}/merge`; json = { into: Number($("a-into").value), note }; }
  if (key === "followup" || key === "reopen") {
    path = `cases/${id}/followup`;
    json = { satisfaction: document.querySelector("#a-satisfaction input:checked")?.value || "satisfied",
      resolved: document.querySelector("#a-solved input:checked")?.value === "true", channel: $("a-channel").value, note, reopen: key === "reopen" };
  }
  if (key === "whistle") {
    path = `cases/${id}/whistles`;
    const level = $("a-level").value;
    const departments = [...document.querySelectorAll("#a-depts input:checked")].map((x) => x.value);
    if (level === "street" && !departments.length) { fail(t("cc.whistle.pickDepartment")); return; }
    json = { level, note, ...(level === "street" ? { departments } : {}) };
  }
  $("act-submit").disabled = true;
  try {
    await apiSend(path, { json });
    $("act-dialog").close();
    toast(t(done, { id }));
    await Promise.all([openCase(key === "merge" ? json.into : id), loadList({ keepActive: true })]);
  } catch (err) {
    if (err instanceof ApiError && err.isUnauthorized) { $("act-dialog").close(); chrome.unauthorized(); return; }
    fail(describeError(err));
  } finally {
    $("act-submit").disabled = false;
  }
}

// ---- filters' options -----------------------------------------------------------------------------------

function renderFilterOptions() {
  const opt = (value, text) => h("option", { value, text });
  const keep = (id, build) => { const v = $(id).value; $(id).replaceChildren(...build()); $(id).value = v; };
  keep("f-area", () => [opt("", t("cc.f.allAreas")), ...state.streets.map((s) => opt(s.code, named(s.name, s.name_en)))]);
  keep("f-category", () => [opt("", t("cc.f.allCategories")),
    ...state.categories.map((c) => opt(c.code, `${named(c.name, c.name_en)} · ${c.code}`))]);
  keep("f-source", () => [opt("", t("cc.f.allSources")),
    ...["hotline_12345", "mini_program", "field_app", "patrol", "open311"].map((s) => opt(s, tOr(`source.${s}`, s)))]);
}

async function loadReference() {
  const [cats, streets, depts] = await Promise.all([
    apiGet("categories"), apiGet("streets").catch(() => ({ features: [] })), apiGet("departments").catch(() => ({ items: [] }))]);
  state.categories = cats.items;
  state.streets = (streets.features || []).map((f) => f.properties).sort((a, b) => String(a.code).localeCompare(b.code));
  state.departments = depts.items;
  renderFilterOptions();
}

// ---- wiring ---------------------------------------------------------------------------------------------

let filterTimer = 0;
function onFilter() {
  clearTimeout(filterTimer);
  filterTimer = setTimeout(() => { state.offset = 0; loadList(); }, 250);
}

function wire() {
  for (const id of ["f-q", "f-grid"]) $(id).addEventListener("input", onFilter);
  for (const id of ["f-area", "f-category", "f-source"]) $(id).addEventListener("change", onFilter);
  $("cc-prev").addEventListener("click", () => { state.offset = Math.max(0, state.offset - PAGE); loadList(); });
  $("cc-next").addEventListener("click", () => { state.offset += PAGE; loadList(); });
  $("cc-all").addEventListener("change", (ev) => {
    for (const c of state.items) { if (ev.target.checked) state.selected.add(c.id); else state.selected.delete(c.id); }
    renderList();
  });
  $("cc-bulk-dispatch").addEventListener("click", bulkDispatch);
  $("cc-bulk-clear").addEventListener("click", () => { state.selected.clear(); renderList(); });
  $("act-form").addEventListener("submit", submitAction);
  $("act-form").addEventListener("input", () => { $("act-error").hidden = true; }); // a refusal is answered
  $("act-cancel").addEventListener("click", () => $("act-dialog").close());
  document.addEventListener("keydown", (ev) => {
    if (document.querySelector("dialog[open]")) return;
    const typing = ev.target.closest?.("input, select, textarea");
    if (ev.key === "/" && !typing) { ev.preventDefault(); $("f-q").focus(); return; }
    if (typing) return;
    if (ev.key === "ArrowDown" || ev.key === "j") { ev.preventDefault(); moveActive(+1); }
    else if (ev.key === "ArrowUp" || ev.key === "k") { ev.preventDefault(); moveActive(-1); }
    else if (ev.key === "Enter" && state.items[state.active]) { ev.preventDefault(); openCase(state.items[state.active].id); }
    else if (ev.key === " " && state.items[state.active]) { ev.preventDefault(); toggleSelect(state.items[state.active].id); }
  });
  onLangChange(() => {
    document.title = `gridmap · ${t("cc.title")}`;
    renderTabs();
    renderFilterOptions();
    renderList();
    renderCase();
  });
}

async function ready(me) {
  state.me = me;
  try {
    await loadReference();
    await loadList();
  } catch (err) {
    if (err instanceof ApiError && err.status === 403) { chrome.signIn.wrongRole(); return; }
    problem(err);
    return;
  }
  const m = window.location.hash.match(/^#case-(\d+)$/);
  if (m) await openCase(Number(m[1]));
  window.gridmap.ready = true;
}

/** Filters given in the address (the evaluation page drills down to a grid's cases: `?grid=…&tab=done`). */
function filtersFromLocation() {
  const q = new URLSearchParams(window.location.search);
  if (/^[0-9]{15}$/.test(q.get("grid") || "")) $("f-grid").value = q.get("grid");
  if (TABS.some((tab) => tab.id === q.get("tab"))) state.tab = q.get("tab");
}

async function main() {
  await setLang(detectLang());
  filtersFromLocation();
  document.title = `gridmap · ${t("cc.title")}`;
  chrome = mountChrome({ onReady: ready, needs: "cc.needDispatcher" });
  wire();
  renderTabs();
  await chrome.start();
}

main().catch((err) => { console.error(err); toast(describeError(err), { kind: "error" }); });
