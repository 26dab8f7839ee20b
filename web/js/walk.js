// The 15-minute life circle along the roads (issue 20) in the planner page's Proposals tab: for the community
// typed above, per facility kind, the homes within a walk (GET /layouts/{id}/walk-catchments), the isochrones
// and the roads drawn on the map, the grids below half their households within reach listed. The answer's
// method says whether the roads were walked or, without roads, the straight line was used.
import { apiGet, ApiError } from "./api.js";
import { formatNumber, t } from "./i18n.js";
import { escapeHtml as esc } from "./ui.js";

const $ = (id) => document.getElementById(id);
const KIND_COLOURS = ["#2f7ed8", "#e0712b", "#3aa676", "#b04fc4", "#c9a227", "#d9534f", "#5bc0de"];
let hooks = null;
let last = null;
let layers = [];
let roadsFc = null; // the roads around the last answer, drawn under its isochrones

function clear() {
  for (const l of layers) l.remove();
  layers = [];
}

function draw(roads) {
  const map = hooks.map();
  clear();
  if (!map || !window.L || !last) return;
  if (roads) {
    layers.push(window.L.geoJSON(roads, { interactive: false,
      style: (f) => ({ color: "#6b4f2a", weight: f.properties.kind === "lane" ? 1 : 3, opacity: 0.7 }) }).addTo(map));
  }
  const pick = $("wk-kind").value;
  let shown = null;
  last.kinds.forEach((k, i) => {
    if (!k.isochrone || (pick && pick !== k.kind)) return;
    const layer = window.L.geoJSON(k.isochrone, { interactive: false,
      style: { color: KIND_COLOURS[i % KIND_COLOURS.length], weight: 2, fillOpacity: pick ? 0.3 : 0.12 } }).addTo(map);
    layers.push(layer);
    shown = shown ? shown.extend(layer.getBounds()) : layer.getBounds();
  });
  for (const l of layers) l.bringToFront();
  if (shown) map.fitBounds(shown, { padding: [20, 20] });
  $("wk-out")?.scrollIntoView({ block: "nearest" });
}

function render() {
  const out = $("wk-out");
  if (!out) return;
  if (!last) { out.innerHTML = ""; return; }
  const rows = last.kinds.map((k, i) => `<tr><th><span class="wk-swatch" style="background:${KIND_COLOURS[i % KIND_COLOURS.length]}"></span>${esc(k.kind)}</th>
    <td>${k.minutes}</td><td>${k.share == null ? "–" : `${Math.round(k.share * 100)}%`}</td>
    <td>${formatNumber(k.households - k.households_covered)}</td><td title="${esc(k.grids_beyond.join(", "))}">${k.grids_beyond.length}</td></tr>`).join("");
  out.innerHTML = `<p class="pp-now" id="wk-method">${esc(t(last.method === "network" ? "walk.network" : "walk.straight"))}</p>
    <table class="pp-scores wk-table"><thead><tr><th>${esc(t("walk.kind"))}</th><th>${esc(t("walk.minutes"))}</th>
    <th>${esc(t("walk.share"))}</th><th>${esc(t("walk.hhBeyond"))}</th><th>${esc(t("walk.gridsBeyond"))}</th></tr></thead>
    <tbody>${rows}</tbody></table>`;
  const sel = $("wk-kind");
  const keep = sel.value;
  sel.innerHTML = `<option value="">${esc(t("walk.allKinds"))}</option>` +
    last.kinds.map((k) => `<option value="${esc(k.kind)}">${esc(k.kind)}</option>`).join("");
  sel.value = last.kinds.some((k) => k.kind === keep) ? keep : "";
}

async function run(ev) {
  ev.preventDefault();
  const draft = hooks.draft();
  const err = $("wk-error");
  err.hidden = true;
  const community = $("pp-community").value.trim();
  if (!draft) { err.textContent = t("prop.needDraft"); err.hidden = false; return; }
  if (!/^[0-9]{12}$/.test(community)) { err.textContent = t("walk.needCommunity"); err.hidden = false; return; }
  const params = { community, minutes: $("wk-minutes").value || "15", speed_kmh: $("wk-speed").value || "4" };
  const per = $("wk-per").value.trim();
  if (per) params.per_kind = per.split(/[,\s]+/).filter(Boolean);
  $("wk-run").disabled = true;
  try {
    last = await apiGet(`layouts/${draft.id}/walk-catchments`, { params });
    const b = bounds(last);
    const roads = b ? await apiGet("roads", { params: { bbox: b.join(",") } }) : null;
    window.gridmap.walk = last;
    render();
    roadsFc = roads;
    draw(roads);
  } catch (e) {
    err.textContent = e instanceof ApiError ? e.message : String(e);
    err.hidden = false;
  } finally {
    $("wk-run").disabled = false;
  }
}


function bounds(answer) {
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  const visit = (c) => {
    if (typeof c[0] === "number") { x0 = Math.min(x0, c[0]); y0 = Math.min(y0, c[1]); x1 = Math.max(x1, c[0]); y1 = Math.max(y1, c[1]); return; }
    for (const d of c) visit(d);
  };
  for (const k of answer.kinds) if (k.isochrone) visit(k.isochrone.coordinates);
  return Number.isFinite(x0) ? [x0, y0, x1, y1].map((v) => v.toFixed(5)) : null;
}

export function initWalk(h) {
  hooks = h;
  const card = document.createElement("form");
  card.className = "pl-card";
  card.id = "wk-form";
  card.noValidate = true;
  card.innerHTML = `
    <h2 class="pl-card__title" data-i18n="walk.title">${esc(t("walk.title"))}</h2>
    <p class="pl-hint" data-i18n="walk.intro">${esc(t("walk.intro"))}</p>
    <div class="pl-row">
      <label class="pl-field"><span data-i18n="walk.minutes">${esc(t("walk.minutes"))}</span><input id="wk-minutes" type="number" min="1" max="120" value="15"></label>
      <label class="pl-field"><span data-i18n="walk.speed">${esc(t("walk.speed"))}</span><input id="wk-speed" type="number" min="1" max="30" step="0.5" value="4"></label>
    </div>
    <label class="pl-field"><span data-i18n="walk.per">${esc(t("walk.per"))}</span><input id="wk-per" placeholder="kindergarten:5"></label>
    <label class="pl-field"><span data-i18n="walk.show">${esc(t("walk.show"))}</span><select id="wk-kind"></select></label>
    <div class="pl-actions"><button type="submit" class="btn btn--small btn--primary" id="wk-run" data-i18n="walk.run">${esc(t("walk.run"))}</button></div>
    <p class="pl-error" id="wk-error" role="alert" hidden></p>
    <div id="wk-out"></div>`;
  $("pp-out").after(card);
  card.addEventListener("submit", run);
  $("wk-kind").addEventListener("change", () => draw(roadsFc));
}

export function rerenderWalk() {
  render();
}
