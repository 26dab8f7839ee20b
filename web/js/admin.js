// The admin page (/admin.html, role admin): users (create, role, linked person picked by name, reset password,
// deactivate, end sessions), wall screens (kiosks: pair with a one-time code, revoke), machine keys (create with a
// role, shown once, revoke), the staff of each grid (a people picker, no typed ids) and the audit log.
// The role names offered come from the API's own schema (OpenAPI enums), not from a list written here.

import { ApiError, apiGet, apiSend } from "./api.js";
import { mountChrome } from "./chrome.js";
import { TIME_ZONE, detectLang, featureName, getLang, onLangChange, setLang, t } from "./i18n.js";
import { describeError, h, setBusy, tOr, toast } from "./ui.js";

const $ = (id) => document.getElementById(id);
const state = { tab: "users", users: [], keys: [], userRoles: [], keyRoles: [], people: new Map(), grid: null,
  staff: [], audit: [], auditTotal: 0, userPerson: null, staffPerson: null };
window.gridmap = { ready: false };
let chrome;

const fmtTime = (iso) => (iso ? new Intl.DateTimeFormat(getLang(), { dateStyle: "short", timeStyle: "short",
  timeZone: TIME_ZONE }).format(new Date(iso)) : "–");
const roleName = (r) => tOr(`role.${r}`, r);

async function act(fn, { ok, errorBox } = {}) {
  setBusy(+1);
  try {
    const out = await fn();
    if (ok) toast(ok);
    if (errorBox) $(errorBox).hidden = true;
    return out;
  } catch (err) {
    if (err instanceof ApiError && err.isUnauthorized) chrome.unauthorized();
    else if (errorBox) { $(errorBox).textContent = describeError(err); $(errorBox).hidden = false; }
    else toast(describeError(err), { kind: "error", ms: 6000 });
    return undefined;
  } finally {
    setBusy(-1);
  }
}

// ---- a people picker: type a part of the name, choose from the matches --------------------------------

function peoplePicker(box, { onPick, roles = null }) {
  const input = h("input", { type: "search", maxlength: 50, autocomplete: "off", role: "combobox",
    "aria-expanded": "false", placeholder: t("ad.pp.placeholder") });
  const list = h("ul", { class: "pp__list", role: "listbox", hidden: true });
  const picked = h("span", { class: "pp__picked" });
  box.replaceChildren(h("div", { class: "pp" }, input, list), picked);
  let items = [];
  let timer = 0;
  let active = -1;
  const choose = (p) => {
    list.hidden = true;
    input.value = p ? p.name : "";
    picked.textContent = p ? `${p.name} · ${tOr(`op.staffRole.${p.role}`, p.role)} · ${p.grid_code || "–"}` : "";
    onPick(p);
  };
  const render = () => {
    list.replaceChildren(...items.map((p, i) => h("li", { role: "option", "aria-selected": String(i === active),
      "data-person": p.id, onmousedown: (ev) => { ev.preventDefault(); choose(p); } },
    `${p.name} · ${tOr(`op.staffRole.${p.role}`, p.role)} · ${p.grid_code || "–"}`)));
    list.hidden = !items.length;
    input.setAttribute("aria-expanded", String(!list.hidden));
  };
  input.addEventListener("input", () => {
    clearTimeout(timer);
    onPick(null);
    picked.textContent = "";
    const q = input.value.trim();
    if (!q) { items = []; render(); return; }
    timer = setTimeout(async () => {
      const out = await apiGet("people", { params: { q, limit: 20 } }).catch(() => ({ items: [] }));
      items = out.items.filter((p) => !roles || roles.includes(p.role));
      active = items.length ? 0 : -1;
      render();
    }, 200);
  });
  input.addEventListener("keydown", (ev) => {
    if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
      ev.preventDefault();
      active = Math.max(0, Math.min(items.length - 1, active + (ev.key === "ArrowDown" ? 1 : -1)));
      render();
    } else if (ev.key === "Enter" && items[active]) { ev.preventDefault(); choose(items[active]); }
    else if (ev.key === "Escape") { list.hidden = true; }
  });
  input.addEventListener("blur", () => { list.hidden = true; });
  return { clear: () => choose(null) };
}

// ---- users ----------------------------------------------------------------------------------------------

async function personName(id) {
  if (!id) return "";
  if (!state.people.has(id)) {
    state.people.set(id, apiGet(`people/${id}`).then((p) => p.name).catch(() => `#${id}`));
  }
  return state.people.get(id);
}

async function loadUsers() {
  const out = await apiGet("users");
  state.users = out.items;
  renderUsers();
}

function roleSelect(value, roles, onchange) {
  return h("select", { onchange, "aria-label": t("ad.role") },
    roles.map((r) => h("option", { value: r, text: roleName(r), selected: r === value ? true : null })));
}

function renderUsers() {
  const rows = state.users.filter((u) => !u.kiosk).map((u) => {
    const person = h("span", { text: u.person_id ? "…" : "–" });
    if (u.person_id) personName(u.person_id).then((n) => { person.textContent = n; });
    return h("tr", { class: u.active ? "" : "is-inactive", "data-user": u.username },
      h("td", {}, h("code", { text: u.username })),
      h("td", { text: u.display_name || "" }),
      h("td", {}, roleSelect(u.role, state.userRoles, (ev) => updateUser(u, { role: ev.target.value }))),
      h("td", {}, person),
      h("td", { text: fmtTime(u.last_login_at) }),
      h("td", { text: t(u.active ? "ad.active" : "ad.inactive") }),
      h("td", {},
        h("button", { type: "button", class: "btn btn--small", "data-act": "password", text: t("ad.users.resetPassword"),
          onclick: () => resetPassword(u) }),
        h("button", { type: "button", class: "btn btn--small", "data-act": "sessions", text: t("ad.users.endSessions"),
          onclick: () => endSessions(u) }),
        h("button", { type: "button", class: `btn btn--small ${u.active ? "btn--danger" : ""}`, "data-act": "active",
          text: t(u.active ? "ad.users.deactivate" : "ad.users.reactivate"),
          onclick: () => updateUser(u, { active: !u.active }) })));
  });
  $("users").tBodies[0].replaceChildren(...rows);
}

async function updateUser(u, body) {
  const out = await act(() => apiSend(`users/${u.id}`, { method: "PATCH", json: body }), { ok: t("ad.saved") });
  await loadUsers();
  return out;
}

async function resetPassword(u) {
  const pw = window.prompt(t("ad.users.newPassword", { user: u.username }));
  if (!pw) return;
  await updateUser(u, { password: pw });
}

async function endSessions(u) {
  const out = await act(() => apiSend(`users/${u.id}/sessions`, { method: "DELETE" }));
  if (out) toast(t("ad.users.sessionsEnded", { n: out.ended, user: u.display_name || u.username }));
}

async function createUser(ev) {
  ev.preventDefault();
  const body = {
    username: $("u-username").value.trim().toLowerCase(), password: $("u-password").value,
    role: $("u-role").value, display_name: $("u-display").value.trim() || null,
  };
  if (state.userPerson) body.person_id = state.userPerson.id;
  const out = await act(() => apiSend("users", { json: body }), { ok: t("ad.users.created"), errorBox: "user-error" });
  if (!out) return;
  $("user-form").reset();
  userPicker.clear();
  await loadUsers();
}

// ---- wall screens (kiosks) -------------------------------------------------------------------------------

function showCode(out) {
  const box = $("kiosk-code");
  box.replaceChildren(h("strong", { text: t("ad.kiosks.codeFor", { name: out.user.display_name }) }),
    h("code", { "data-testid": "pairing-code", text: out.pairing_code }),
    h("span", { text: t("ad.kiosks.codeHint", { at: fmtTime(out.expires_at) }) }));
  box.hidden = false;
}

function renderKiosks() {
  const rows = state.users.filter((u) => u.kiosk).map((u) => h("tr", { class: u.active ? "" : "is-inactive",
    "data-kiosk": u.display_name },
  h("td", { text: u.display_name || u.username }),
  h("td", { text: fmtTime(u.last_login_at) }),
  h("td", { text: t(u.active ? "ad.active" : "ad.revoked") }),
  h("td", {},
    u.active ? h("button", { type: "button", class: "btn btn--small", text: t("ad.kiosks.newCode"),
      onclick: async () => { const out = await act(() => apiSend(`kiosks/${u.id}/pairing`)); if (out) showCode(out); } }) : null,
    u.active ? h("button", { type: "button", class: "btn btn--small btn--danger", "data-act": "revoke",
      text: t("ad.revoke"), onclick: () => revokeKiosk(u) }) : null)));
  $("kiosks").tBodies[0].replaceChildren(...rows);
}

async function revokeKiosk(u) {
  await act(() => apiSend(`users/${u.id}`, { method: "DELETE" }), { ok: t("ad.kiosks.revoked", { name: u.display_name }) });
  await loadUsers();
  renderKiosks();
}

async function createKiosk(ev) {
  ev.preventDefault();
  const name = $("k-name").value.trim();
  if (!name) { $("k-name").focus(); return; }
  const out = await act(() => apiSend("kiosks", { json: { name } }));
  if (!out) return;
  showCode(out);
  $("k-name").value = "";
  await loadUsers();
  renderKiosks();
}

// ---- machine keys ---------------------------------------------------------------------------------------

async function loadKeys() {
  state.keys = (await apiGet("keys")).items;
  $("keys").tBodies[0].replaceChildren(...state.keys.map((k) => h("tr", { class: k.revoked_at ? "is-inactive" : "",
    "data-key": k.name },
  h("td", { text: k.name }), h("td", { text: roleName(k.role) }), h("td", {}, h("code", { text: `${k.prefix}…` })),
  h("td", { text: fmtTime(k.created_at) }),
  h("td", { text: k.revoked_at ? `${t("ad.revoked")} ${fmtTime(k.revoked_at)}` : t("ad.active") }),
  h("td", {}, k.revoked_at ? null : h("button", { type: "button", class: "btn btn--small btn--danger", "data-act": "revoke",
    text: t("ad.revoke"), onclick: async () => {
      await act(() => apiSend(`keys/${k.id}`, { method: "DELETE" }), { ok: t("ad.keys.revoked", { name: k.name }) });
      await loadKeys();
    } })))));
}

async function createKey(ev) {
  ev.preventDefault();
  const out = await act(() => apiSend("keys", { json: { name: $("key-name").value.trim(), role: $("key-role").value } }),
    { errorBox: "key-error" });
  if (!out) return;
  $("key-secret").replaceChildren(h("strong", { text: t("ad.keys.showOnce") }), h("code", { "data-testid": "new-key", text: out.key }));
  $("key-secret").hidden = false;
  $("key-name").value = "";
  await loadKeys();
}

// ---- grid staff -----------------------------------------------------------------------------------------

async function loadStaff() {
  const code = $("s-grid").value.trim();
  if (!/^[0-9]{15}$/.test(code)) { state.grid = null; $("s-grid-name").textContent = ""; $("staff").tBodies[0].replaceChildren(); return; }
  const [grid, people] = await Promise.all([
    apiGet(`grids/${code}`).catch(() => null), apiGet("people", { params: { grid: code, limit: 200 } })]);
  state.grid = grid ? code : null;
  $("s-grid-name").textContent = grid ? `${featureName(grid.properties)} · ${featureName(grid.properties, "community_name")}`
    : t("ad.staff.noGrid");
  state.staff = people.items.filter((p) => p.role === "grid_leader" || p.role === "grid_worker");
  $("staff").tBodies[0].replaceChildren(...state.staff.map((p) => h("tr", { "data-person": p.name },
    h("td", { text: p.name }), h("td", { text: tOr(`op.staffRole.${p.role}`, p.role) }),
    h("td", {}, p.phone && !p.phone.includes("*") ? h("a", { href: `tel:${p.phone}`, text: p.phone }) : p.phone || "–"),
    h("td", {}, h("input", { type: "checkbox", checked: p.on_duty ? true : null, "aria-label": t("ad.staff.onDuty"),
      onchange: (ev) => setPerson(p, { on_duty: ev.target.checked }) })),
    h("td", {}, h("button", { type: "button", class: "btn btn--small btn--danger", text: t("ad.staff.remove"),
      onclick: () => setPerson(p, { active: false }) })))));
}

async function setPerson(p, body) {
  await act(() => apiSend(`people/${p.id}`, { method: "PATCH", json: body }), { ok: t("ad.saved"), errorBox: "staff-error" });
  await loadStaff();
}

async function addStaff() {
  if (!state.grid || !state.staffPerson) { $("staff-error").textContent = t("ad.staff.pickBoth"); $("staff-error").hidden = false; return; }
  await setPerson(state.staffPerson, { grid_code: state.grid, role: $("s-role").value });
  staffPicker.clear();
}

// ---- audit ----------------------------------------------------------------------------------------------

async function loadAudit() {
  const params = { actor: $("a-actor").value.trim(), method: $("a-method").value, path_prefix: $("a-path").value.trim(),
    status: $("a-status").value, limit: 200 };
  const out = await apiGet("audit", { params });
  $("a-total").textContent = t("ad.audit.total", { n: out.total });
  $("audit").tBodies[0].replaceChildren(...out.items.map((e) => h("tr", {},
    h("td", { text: fmtTime(e.at) }), h("td", { text: e.actor }), h("td", { text: e.method }),
    h("td", {}, h("code", { text: e.path + (e.query ? `?${e.query}` : "") })), h("td", { text: e.status }),
    h("td", { text: e.client_ip || "" }))));
}

// ---- tabs, roles, boot ----------------------------------------------------------------------------------

function showTab(tab) {
  state.tab = tab;
  for (const b of document.querySelectorAll(".ad-tab")) b.setAttribute("aria-selected", String(b.dataset.tab === tab));
  for (const p of document.querySelectorAll(".ad-pane")) p.hidden = p.id !== `pane-${tab}`;
  const loads = { users: loadUsers, kiosks: async () => { await loadUsers(); renderKiosks(); }, keys: loadKeys,
    staff: loadStaff, audit: loadAudit };
  if (loads[tab]) act(loads[tab]);  // a section with its own module (webhooks.js) loads itself
}

async function loadRoles() {
  const spec = await apiGet("/api/v1/openapi.json");
  const enumOf = (name) => {
    const prop = spec.components?.schemas?.[name]?.properties?.role;
    return prop?.enum || prop?.anyOf?.find((x) => x.enum)?.enum || [];
  };
  state.userRoles = enumOf("UserCreate");
  state.keyRoles = enumOf("KeyCreate");
  const fill = (id, roles) => $(id).replaceChildren(...roles.map((r) => h("option", { value: r, text: roleName(r) })));
  fill("u-role", state.userRoles);
  fill("key-role", state.keyRoles);
  // The least privilege first: an admin picks a stronger role on purpose.
  for (const [id, roles] of [["u-role", state.userRoles], ["key-role", state.keyRoles]]) {
    const least = ["viewer", "intake"].find((r) => roles.includes(r));
    if (least) $(id).value = least;
  }
}

let userPicker;
let staffPicker;
let auditTimer = 0;

async function ready() {
  try {
    await apiGet("users");
  } catch (err) {
    if (err instanceof ApiError && err.status === 403) { chrome.signIn.wrongRole(); return; }
    throw err;
  }
  await loadRoles();
  userPicker = peoplePicker($("u-person"), { onPick: (p) => { state.userPerson = p; } });
  staffPicker = peoplePicker($("s-person"), { onPick: (p) => { state.staffPerson = p; } });
  showTab(state.tab);
  window.gridmap.ready = true;
}

async function main() {
  await setLang(detectLang());
  document.title = `gridmap · ${t("ad.title")}`;
  chrome = mountChrome({ onReady: ready, needs: "ad.needAdmin" });
  for (const b of document.querySelectorAll(".ad-tab")) b.addEventListener("click", () => showTab(b.dataset.tab));
  $("user-form").addEventListener("submit", createUser);
  $("kiosk-form").addEventListener("submit", createKiosk);
  $("key-form").addEventListener("submit", createKey);
  $("s-grid").addEventListener("input", () => act(loadStaff));
  $("s-add").addEventListener("click", addStaff);
  for (const id of ["a-actor", "a-method", "a-path", "a-status"]) {
    $(id).addEventListener("input", () => { clearTimeout(auditTimer); auditTimer = setTimeout(() => act(loadAudit), 250); });
  }
  onLangChange(() => {
    document.title = `gridmap · ${t("ad.title")}`;
    if (window.gridmap.ready) { loadRoles(); showTab(state.tab); }
  });
  await chrome.start();
}

main().catch((err) => { console.error(err); toast(describeError(err), { kind: "error" }); });
