// The admin page's Webhooks section (issue 19): subscribe a URL to event types with filters (the signing secret is
// shown once), see each subscription's delivery log, replay dead letters. Mounted into <section id="pane-webhooks">
// of /admin.html; the event types come from the API (GET /webhooks/event-types), never a list written here.

import { ApiError, apiGet, apiSend } from "./api.js";
import { TIME_ZONE, getLang, onLangChange, t } from "./i18n.js";
import { describeError, h, setBusy, tOr, toast } from "./ui.js";

const pane = document.getElementById("pane-webhooks");
const state = { types: [], subs: [], selected: null, logStatus: "", log: null, secret: null, error: "" };
const fmtTime = (iso) => (iso ? new Intl.DateTimeFormat(getLang(), { dateStyle: "short", timeStyle: "medium",
  timeZone: TIME_ZONE }).format(new Date(iso)) : "–");
const FILTERS = ["streets", "communities", "grids", "categories"];

async function act(fn, ok) {
  setBusy(+1);
  try {
    const out = await fn();
    if (ok) toast(ok);
    return out;
  } catch (err) {
    if (err instanceof ApiError && err.isUnauthorized) toast(t("wh.signInAgain"), { kind: "error" });
    else toast(describeError(err), { kind: "error", ms: 6000 });
    return undefined;
  } finally {
    setBusy(-1);
  }
}

async function load() {
  if (!state.types.length) state.types = (await apiGet("webhooks/event-types")).items;
  state.subs = (await apiGet("webhooks/subscriptions")).items;
  if (state.selected && !state.subs.some((s) => s.id === state.selected)) state.selected = null;
  if (state.selected) await loadLog();
  render();
}

async function loadLog() {
  const params = { limit: 100 };
  if (state.logStatus) params.status = state.logStatus;
  state.log = await apiGet(`webhooks/subscriptions/${state.selected}/deliveries`, { params });
}

const codes = (v) => v.split(/[\s,，、]+/).map((s) => s.trim()).filter(Boolean);

async function create(ev) {
  ev.preventDefault();
  const f = ev.target;
  const filters = Object.fromEntries(FILTERS.map((k) => [k, codes(f.elements[`wh-${k}`].value)]));
  const body = { url: f.elements["wh-url"].value.trim(), description: f.elements["wh-desc"].value.trim() || null,
    event_types: [...f.querySelectorAll("input[name=wh-type]:checked")].map((i) => i.value), filters,
    format: f.elements["wh-format"].value };
  setBusy(+1);
  try {
    const out = await apiSend("webhooks/subscriptions", { json: body });
    state.secret = { url: out.url, secret: out.secret };
    state.error = "";
    toast(t("wh.created"));
  } catch (err) {
    state.error = describeError(err);
  } finally {
    setBusy(-1);
  }
  await act(load);
}

async function patch(sub, body) {
  await act(() => apiSend(`webhooks/subscriptions/${sub.id}`, { method: "PATCH", json: body }), t("wh.saved"));
  await act(load);
}

async function remove(sub) {
  if (!window.confirm(t("wh.confirmDelete", { url: sub.url }))) return;
  await act(() => apiSend(`webhooks/subscriptions/${sub.id}`, { method: "DELETE" }), t("wh.deleted"));
  await act(load);
}

async function replay(sub, deliveryId = null) {
  const path = deliveryId ? `webhooks/subscriptions/${sub.id}/deliveries/${deliveryId}/replay`
    : `webhooks/subscriptions/${sub.id}/replay`;
  const out = await act(() => apiSend(path, { method: "POST" }));
  if (out) toast(t("wh.replayed", { n: out.replayed }));
  await act(load);
}

function form() {
  const types = state.types.map((et) => h("label", { class: "wh-type", title: et.description },
    h("input", { type: "checkbox", name: "wh-type", value: et.type,
      checked: ["report.created", "case.transitioned"].includes(et.type) ? true : null }),
    h("span", { text: `${tOr(`wh.type.${et.type}`, et.type)}` }), h("code", { text: et.type })));
  const secret = state.secret ? h("div", { class: "ad-secret", role: "status", "data-testid": "webhook-secret" },
    h("strong", { text: t("wh.secretFor", { url: state.secret.url }) }), h("code", { text: state.secret.secret }),
    h("span", { text: t("wh.secretOnce") })) : null;
  return h("form", { class: "ad-card ad-form", id: "webhook-form", novalidate: true, onsubmit: create },
    h("h2", { text: t("wh.new") }),
    secret,
    h("p", { class: "ad-lead", text: t("wh.lead") }),
    h("label", {}, h("span", { text: t("wh.url") }), h("input", { name: "wh-url", type: "url", maxlength: 2000,
      placeholder: "https://…", required: true })),
    h("label", {}, h("span", { text: t("wh.description") }), h("input", { name: "wh-desc", maxlength: 500 })),
    h("fieldset", { class: "wh-types" }, h("legend", { text: t("wh.types") }), ...types),
    ...FILTERS.map((k) => h("label", {}, h("span", { text: t(`wh.filter.${k}`) }),
      h("input", { name: `wh-${k}`, maxlength: 2000, placeholder: t("wh.filterHint") }))),
    h("label", {}, h("span", { text: t("wh.format") }), h("select", { name: "wh-format" },
      h("option", { value: "event", text: t("wh.format.event") }),
      h("option", { value: "notice", text: t("wh.format.notice") }))),
    state.error ? h("p", { class: "ad-error", role: "alert", text: state.error }) : null,
    h("button", { type: "submit", class: "btn btn--primary", text: t("ad.create") }));
}

function filterText(f) {
  const parts = FILTERS.filter((k) => f[k]).map((k) => `${t(`wh.filter.${k}`)}: ${f[k].join(", ")}`);
  return parts.length ? parts.join(" · ") : t("wh.anywhere");
}

function subsTable() {
  const rows = state.subs.map((s) => h("tr", { class: s.active ? "" : "is-inactive", "data-sub": s.id,
    "aria-selected": String(s.id === state.selected) },
  h("td", {}, h("code", { text: s.url }), s.description ? h("div", { class: "ad-lead", text: s.description }) : null),
  h("td", { text: s.event_types.map((x) => tOr(`wh.type.${x}`, x)).join(getLang().startsWith("zh") ? "、" : ", ") }),
  h("td", { text: filterText(s.filters) }),
  h("td", { class: "wh-counts" }, h("span", { text: t("wh.count.pending", { n: s.deliveries.pending }) }),
    h("span", { text: t("wh.count.delivered", { n: s.deliveries.delivered }) }),
    h("span", { class: s.deliveries.dead ? "wh-dead" : "", "data-testid": "dead-count",
      text: t("wh.count.dead", { n: s.deliveries.dead }) }),
    s.failing_since ? h("span", { class: "wh-dead", text: t("wh.failingSince", { at: fmtTime(s.failing_since) }) })
      : null),
  h("td", { text: t(s.active ? "ad.active" : "ad.inactive") }),
  h("td", {},
    h("button", { type: "button", class: "btn btn--small", "data-act": "log", text: t("wh.log"),
      onclick: async () => { state.selected = s.id; await act(loadLog); render(); } }),
    s.deliveries.dead ? h("button", { type: "button", class: "btn btn--small", "data-act": "replay",
      text: t("wh.replayDead", { n: s.deliveries.dead }), onclick: () => replay(s) }) : null,
    h("button", { type: "button", class: "btn btn--small", "data-act": "active",
      text: t(s.active ? "wh.pause" : "wh.resume"), onclick: () => patch(s, { active: !s.active }) }),
    h("button", { type: "button", class: "btn btn--small", "data-act": "delete", text: t("wh.delete"),
      onclick: () => remove(s) }))));
  return h("table", { class: "ad-table", id: "webhooks" },
    h("thead", {}, h("tr", {}, ...["wh.url", "wh.types", "wh.filters", "wh.deliveries", "ad.status", ""].map(
      (k) => h("th", { text: k ? t(k) : "" })))),
    h("tbody", {}, ...rows));
}

function logCard() {
  const sub = state.subs.find((s) => s.id === state.selected);
  if (!sub || !state.log) return null;
  const statusSel = h("select", { "aria-label": t("ad.status"), onchange: async (ev) => {
    state.logStatus = ev.target.value; await act(loadLog); render(); } },
  ...["", "pending", "delivered", "dead"].map((v) => h("option", { value: v, selected: v === state.logStatus ? true : null,
    text: v ? t(`wh.status.${v}`) : t("wh.status.all") })));
  const rows = state.log.items.map((d) => h("tr", { "data-delivery": d.id, class: d.status === "dead" ? "wh-deadrow" : "" },
    h("td", { text: fmtTime(d.occurred_at) }), h("td", {}, h("code", { text: d.event_id })),
    h("td", { text: tOr(`wh.type.${d.event_type}`, d.event_type) }), h("td", { text: d.case_id ?? "–" }),
    h("td", { text: t(`wh.status.${d.status}`) }), h("td", { text: d.attempts }),
    h("td", { text: d.last_status ?? (d.last_error ? "–" : "") }),
    h("td", { class: "wh-error", text: d.last_error || "" }),
    h("td", { text: d.status === "pending" ? fmtTime(d.next_attempt_at) : fmtTime(d.delivered_at) }),
    h("td", {}, d.status === "dead" ? h("button", { type: "button", class: "btn btn--small", "data-act": "replay-one",
      text: t("wh.replay"), onclick: () => replay(sub, d.id) }) : null)));
  return h("div", { class: "ad-card ad-grow", id: "webhook-log" },
    h("div", { class: "ad-filters" }, h("h2", { text: t("wh.logOf", { url: sub.url }) }), statusSel,
      h("span", { text: t("wh.logTotal", { n: state.log.total }) })),
    h("table", { class: "ad-table" },
      h("thead", {}, h("tr", {}, ...["wh.col.at", "wh.col.event", "wh.col.type", "wh.col.case", "ad.status",
        "wh.col.attempts", "wh.col.http", "wh.col.error", "wh.col.when", ""].map((k) => h("th", { text: k ? t(k) : "" })))),
      h("tbody", {}, ...rows)));
}

function render() {
  pane.replaceChildren(form(), h("div", { class: "wh-right" },
    h("div", { class: "ad-card ad-grow" }, subsTable()), logCard()));
}

document.querySelector(".ad-tab[data-tab=webhooks]")?.addEventListener("click", () => act(load));
onLangChange(() => { if (!pane.hidden) render(); });
