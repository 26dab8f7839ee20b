// Proposed layouts (issue 20) in the planner page: ask for alternatives for one community of the draft,
// show them side by side (a small map each, with their scores against the k-means baseline and the grids as
// they are), preview one on the map, apply one as a single undoable edit. planner.js owns the draft and the
// map; this module gets them through the hooks passed to initProposals.
import { apiSend, ApiError } from "./api.js";
import { formatNumber, t } from "./i18n.js";
import { escapeHtml as esc } from "./ui.js";
import { initWalk, rerenderWalk } from "./walk.js";

const $ = (id) => document.getElementById(id);
const COLOURS = ["#2f7ed8", "#e0712b", "#3aa676", "#b04fc4", "#c9a227", "#d9534f", "#5bc0de", "#8a6d3b"];
let hooks = null;
let last = null; // the last answer
let preview = null; // Leaflet layer of the proposal previewed

function rings(geom) {
  if (!geom) return [];
  if (geom.type === "Polygon") return [geom.coordinates];
  if (geom.type === "MultiPolygon") return geom.coordinates;
  return [];
}

// A small SVG map of a proposal's grids (lon/lat scaled by cos(lat), north up).
function thumbnail(fc, size = 150) {
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (const f of fc.features) for (const poly of rings(f.geometry)) for (const [x, y] of poly[0]) {
    x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x); y1 = Math.max(y1, y);
  }
  const k = Math.cos(((y0 + y1) / 2) * Math.PI / 180);
  const w = (x1 - x0) * k, h = y1 - y0, s = (size - 8) / Math.max(w, h, 1e-9);
  const px = ([x, y]) => `${(4 + (x - x0) * k * s).toFixed(1)},${(4 + (y1 - y) * s).toFixed(1)}`;
  const paths = fc.features.map((f, i) => {
    const d = rings(f.geometry).map((poly) => poly.map((r) => `M${r.map(px).join("L")}Z`).join("")).join("");
    const over = f.properties.oversize ? ' stroke-dasharray="3 2"' : "";
    return `<path d="${d}" fill="${COLOURS[i % COLOURS.length]}" fill-opacity=".45" stroke="#1d2b36" stroke-width="1"${over}><title>${esc(f.properties.code)} · ${f.properties.households}</title></path>`;
  }).join("");
  return `<svg class="pp-thumb" viewBox="0 0 ${size} ${size}" width="${size}" height="${size}" role="img" aria-label="${esc(t("prop.thumb"))}">${paths}</svg>`;
}

function scoreRows(s, base) {
  if (!s) return "";
  const row = (label, v, b, better) => `<tr${better ? ' class="pp-better"' : ""}><th>${esc(t(label))}</th><td>${v}</td><td>${b ?? "–"}</td></tr>`;
  return [
    row("prop.grids", s.grids, base?.grids),
    row("prop.hhRange", `${s.households.min}–${s.households.max}`, base ? `${base.households.min}–${base.households.max}` : null),
    row("prop.cv", s.cv.toFixed(3), base?.cv.toFixed(3), base && s.cv < base.cv),
    row("prop.pp", s.polsby_popper.mean.toFixed(2), base?.polsby_popper.mean.toFixed(2), base && s.polsby_popper.mean > base.polsby_popper.mean),
    row("prop.split", s.split_buildings, base?.split_buildings, base && s.split_buildings < base.split_buildings),
    row("prop.bMoving", formatNumber(s.buildings_moving), null),
    row("prop.hhMoving", formatNumber(s.households_moving), null),
    row("prop.openMoving", formatNumber(s.open_cases_moving), null),
    row("prop.load", Math.max(0, ...Object.values(s.cases_per_month)).toFixed(1), null),
    row("prop.roads", s.boundary_on_roads == null ? "–" : `${Math.round(s.boundary_on_roads * 100)}%`,
      base?.boundary_on_roads == null ? null : `${Math.round(base.boundary_on_roads * 100)}%`,
      base?.boundary_on_roads != null && s.boundary_on_roads > base.boundary_on_roads),
  ].join("");
}

function render() {
  const out = $("pp-out");
  if (!last) { out.innerHTML = ""; return; }
  const cur = last.current;
  const cards = last.proposals.map((p, i) => `
    <article class="pp-card" data-i="${i}">
      <header class="pp-card__head"><strong>${esc(t("prop.alt", { n: i + 1 }))}</strong></header>
      ${thumbnail(p.grids)}
      <table class="pp-scores"><thead><tr><th></th><th>${esc(t("prop.this"))}</th><th>${esc(t("prop.baseline"))}</th></tr></thead>
        <tbody>${scoreRows(p.scores, last.baseline)}</tbody></table>
      <div class="pp-card__actions">
        <button type="button" class="btn btn--small" data-preview="${i}">${esc(t("prop.preview"))}</button>
        <button type="button" class="btn btn--small btn--primary" data-apply="${esc(p.id)}">${esc(t("prop.apply"))}</button>
      </div>
    </article>`).join("");
  const now = cur ? `<p class="pp-now">${esc(t("prop.now", { n: cur.grids, min: cur.households.min, max: cur.households.max, cv: cur.cv.toFixed(3) }))}</p>` : "";
  out.innerHTML = `${now}<div class="pp-cards">${cards}</div><p class="pp-note">${esc(t("prop.note"))}</p>`;
}

function showPreview(i) {
  const map = hooks.map();
  if (preview) { preview.remove(); preview = null; }
  if (i === null || !map || !window.L) return;
  preview = window.L.geoJSON(last.proposals[i].grids, {
    style: (f) => ({ color: "#1d2b36", weight: 2, dashArray: "6 4", fillColor: COLOURS[last.proposals[i].grids.features.indexOf(f) % COLOURS.length], fillOpacity: 0.35 }),
  }).addTo(map);
  map.fitBounds(preview.getBounds(), { padding: [40, 40] });
  window.gridmap.proposalPreview = i;
}

async function propose(ev) {
  ev.preventDefault();
  const draft = hooks.draft();
  const err = $("pp-error");
  err.hidden = true;
  if (!draft) { err.textContent = t("prop.needDraft"); err.hidden = false; return; }
  const json = { community: $("pp-community").value.trim(), households_min: Number($("pp-min").value),
    households_max: Number($("pp-max").value), alternatives: 3 };
  $("pp-submit").disabled = true;
  try {
    last = await apiSend(`layouts/${draft.id}/proposals`, { json });
    window.gridmap.proposals = last;
    render();
  } catch (e) {
    err.textContent = e instanceof ApiError ? e.message : String(e);
    err.hidden = false;
    window.gridmap.proposals = null;
  } finally {
    $("pp-submit").disabled = false;
  }
}

async function apply(id) {
  const draft = hooks.draft();
  if (!draft) return;
  try {
    const res = await apiSend(`layouts/${draft.id}/proposals/${encodeURIComponent(id)}/apply`, { json: {} });
    showPreview(null);
    last = null;
    render();
    hooks.applied(res);
    window.gridmap.proposalApplied = res.revision;
  } catch (e) {
    const err = $("pp-error");
    err.textContent = e instanceof ApiError ? e.message : String(e);
    err.hidden = false;
  }
}

export function initProposals(h) {
  hooks = h;
  initWalk(h); // the 15-minute walk along the roads, for the same community (web/js/walk.js)
  $("pp-form").addEventListener("submit", propose);
  $("pp-out").addEventListener("click", (ev) => {
    const b = ev.target.closest("button");
    if (!b) return;
    if (b.dataset.preview !== undefined) showPreview(Number(b.dataset.preview));
    if (b.dataset.apply) apply(b.dataset.apply);
  });
}

export function rerenderProposals() {
  render();
  rerenderWalk();
}
