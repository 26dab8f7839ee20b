// A people picker by name (issue 24): nobody types person ids. Chips for the people chosen (each removable),
// and a search box listing matching people from GET /api/v1/people?q=… as the user types (arrow keys, Enter,
// click). Reusable: the planner's grid staff field and the admin page's people assignments both use it.
//
//   const picker = createPeoplePicker(container, { roles: ["grid_leader", "grid_worker"], area, t, onChange });
//   picker.setValue([{ id, name, role }]);  picker.value() → [{ id, name, role }];  picker.ids() → [id]
//
// `t(key, params)` translates (keys under `pp.`; a fallback text is used when a key is missing), `area`
// (optional) narrows the search to a street/community code first, with the rest of the district after it.

import { apiGet } from "./api.js";
import { escapeHtml } from "./ui.js";

const DEBOUNCE_MS = 200;
const LIMIT = 12;
let seq = 0;

export function createPeoplePicker(container, { roles = [], area = null, t = (k, p, fb) => fb, onChange = () => {},
  disabled = false } = {}) {
  const uid = `pp${++seq}`;
  let chosen = [];
  let results = [];
  let active = -1;
  let timer = 0;
  let ctl = null;
  let scope = area;
  const tr = (key, fallback, params = {}) => {
    const s = t(key, params);
    return s && s !== key ? s : fallback.replace(/\{(\w+)\}/g, (_, k) => params[k] ?? "");
  };

  container.classList.add("pp");
  container.innerHTML = `
    <ul class="pp__chips" aria-live="polite"></ul>
    <div class="pp__box">
      <input class="pp__input" type="search" role="combobox" aria-autocomplete="list" aria-expanded="false"
             aria-controls="${uid}-list" autocomplete="off" spellcheck="false">
      <ul class="pp__list" id="${uid}-list" role="listbox" hidden></ul>
    </div>
    <p class="pp__status" aria-live="polite"></p>`;
  const chips = container.querySelector(".pp__chips");
  const input = container.querySelector(".pp__input");
  const list = container.querySelector(".pp__list");
  const status = container.querySelector(".pp__status");

  function roleName(role) {
    return role ? tr(`pp.role.${role}`, role) : "";
  }

  function renderChips() {
    chips.innerHTML = chosen.length ? chosen.map((p, i) => `<li class="pp__chip" data-id="${p.id}">
        <span class="pp__chip-name">${escapeHtml(p.name)}</span>${p.role ? ` <span class="pp__chip-role">${escapeHtml(roleName(p.role))}</span>` : ""}
        <button type="button" class="pp__remove" data-i="${i}" aria-label="${escapeHtml(tr("pp.remove", "remove {name}", { name: p.name }))}" ${disabled ? "disabled" : ""}>×</button>
      </li>`).join("") : `<li class="pp__none">${escapeHtml(tr("pp.none", "nobody"))}</li>`;
    input.placeholder = tr("pp.placeholder", "type a name to add…");
    input.setAttribute("aria-label", tr("pp.placeholder", "type a name to add…"));
    input.disabled = disabled;
  }

  function renderList() {
    list.hidden = results.length === 0;
    input.setAttribute("aria-expanded", results.length ? "true" : "false");
    list.innerHTML = results.map((p, i) => `<li role="option" id="${uid}-o${i}" class="pp__option${i === active ? " is-active" : ""}"
        data-i="${i}" aria-selected="${i === active}">
        <span class="pp__option-name">${escapeHtml(p.name)}</span>
        <span class="pp__option-meta">${escapeHtml(roleName(p.role))}${p.grid_code ? ` · ${escapeHtml(p.grid_code)}` : ""}${p.phone ? ` · ${escapeHtml(p.phone)}` : ""}</span>
      </li>`).join("");
    if (active >= 0) input.setAttribute("aria-activedescendant", `${uid}-o${active}`);
    else input.removeAttribute("aria-activedescendant");
  }

  async function search(q) {
    ctl?.abort();
    ctl = new AbortController();
    const signal = ctl.signal;
    status.textContent = tr("pp.searching", "searching…");
    try {
      const wanted = roles.length ? roles : [null];
      const pages = await Promise.all(wanted.flatMap((role) => {
        const base = { q, role, limit: LIMIT };
        return scope ? [apiGet("people", { params: { ...base, area: scope }, signal }), apiGet("people", { params: base, signal })]
          : [apiGet("people", { params: base, signal })];
      }));
      const seen = new Set(chosen.map((p) => p.id));
      results = [];
      for (const page of pages) {
        for (const p of page?.items || []) {
          if (!seen.has(p.id)) { seen.add(p.id); results.push(p); }
        }
      }
      results = results.slice(0, LIMIT);
      active = results.length ? 0 : -1;
      status.textContent = results.length ? "" : tr("pp.noMatch", "nobody of that name");
      renderList();
    } catch (err) {
      if (err?.name === "AbortError") return;
      results = [];
      renderList();
      status.textContent = tr("pp.failed", "the search failed: {msg}", { msg: err?.message || String(err) });
    }
  }

  function add(p) {
    if (!p || chosen.some((c) => c.id === p.id)) return;
    chosen = [...chosen, { id: p.id, name: p.name, role: p.role }];
    input.value = "";
    results = [];
    active = -1;
    status.textContent = "";
    renderChips();
    renderList();
    onChange(api.value());
    input.focus();
  }

  input.addEventListener("input", () => {
    clearTimeout(timer);
    const q = input.value.trim();
    if (!q) { results = []; status.textContent = ""; renderList(); return; }
    timer = setTimeout(() => search(q), DEBOUNCE_MS);
  });
  input.addEventListener("keydown", (ev) => {
    if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
      if (!results.length) return;
      ev.preventDefault();
      active = (active + (ev.key === "ArrowDown" ? 1 : -1) + results.length) % results.length;
      renderList();
    } else if (ev.key === "Enter") {
      if (results.length) { ev.preventDefault(); add(results[Math.max(active, 0)]); }
    } else if (ev.key === "Escape") {
      results = []; renderList();
    } else if (ev.key === "Backspace" && !input.value && chosen.length) {
      chosen = chosen.slice(0, -1); renderChips(); onChange(api.value());
    }
  });
  list.addEventListener("mousedown", (ev) => {
    const li = ev.target.closest(".pp__option");
    if (!li) return;
    ev.preventDefault(); // keep the focus in the box
    add(results[Number(li.dataset.i)]);
  });
  chips.addEventListener("click", (ev) => {
    const btn = ev.target.closest(".pp__remove");
    if (!btn || disabled) return;
    chosen = chosen.filter((_, i) => i !== Number(btn.dataset.i));
    renderChips();
    onChange(api.value());
  });
  input.addEventListener("blur", () => setTimeout(() => { results = []; renderList(); }, 150));

  const api = {
    value: () => chosen.map((p) => ({ ...p })),
    ids: () => chosen.map((p) => p.id),
    setValue(people) { chosen = (people || []).map((p) => ({ id: p.id, name: p.name, role: p.role })); renderChips(); },
    setArea(code) { scope = code || null; },
    setDisabled(on) { disabled = Boolean(on); renderChips(); },
    relabel() { renderChips(); renderList(); },
    input,
  };
  renderChips();
  return api;
}
