// The Leaflet map: streets / communities / grids layers, zoom-tiered labels, selection.
// Styling of paths lives in app.css (class names gm-street, gm-community, gm-grid--*),
// so this module only decides structure and behaviour.

import { labelCandidates } from "./geo.js";
import { classify } from "./norm.js";
import { featureName, formatNumber, t } from "./i18n.js";
import { escapeHtml } from "./ui.js";

const L = window.L;

const PANES = [
  ["gm-base", 350],
  ["gm-grids", 400],
  ["gm-communities", 410],
  ["gm-streets", 420],
  ["gm-labels", 450],
  ["gm-pulse", 470],
];

// Minimum median label room (px) for a label tier to be chosen at the current zoom.
const TIER_MIN_ROOM = { grid: 100, community: 80, street: 36 };
const TIERS = ["grid", "community", "street"]; // finest first

/** SVG path elements of a vector layer (a FeatureGroup for GeometryCollections). */
function pathElements(layer) {
  if (typeof layer.getElement === "function") return layer.getElement() ? [layer.getElement()] : [];
  const out = [];
  if (typeof layer.eachLayer === "function") layer.eachLayer((l) => out.push(...pathElements(l)));
  return out;
}

function tileOptionFromLocation() {
  // Optional raster basemap for connected deployments: ?tiles=<xyz url> or localStorage "gridmap.tiles".
  let url = new URLSearchParams(window.location.search).get("tiles");
  if (!url) {
    try { url = localStorage.getItem("gridmap.tiles"); } catch { url = null; }
  }
  if (!url || !/\{z\}/.test(url) || !/\{x\}/.test(url) || !/\{y\}/.test(url)) return null;
  if (!/^(https?:)?\/\//.test(url) && !url.startsWith("/")) return null;
  return url;
}

export class GridMap {
  /**
   * @param {HTMLElement} el
   * @param {{onGridClick?: (code: string, feature: object) => void}} opts
   */
  constructor(el, { onGridClick } = {}) {
    this.onGridClick = onGridClick;
    this.map = L.map(el, {
      zoomSnap: 0.25,
      zoomDelta: 0.5,
      wheelPxPerZoomLevel: 90,
      minZoom: 9,
      maxZoom: 19,
      attributionControl: true,
      zoomControl: false,
    });
    this.map.attributionControl.setPrefix('<a href="https://leafletjs.com" rel="noopener">Leaflet</a>');
    L.control.zoom({ position: "topleft" }).addTo(this.map);
    this.scale = L.control.scale({ imperial: false, position: "bottomright" }).addTo(this.map);

    for (const [name, z] of PANES) {
      const pane = this.map.createPane(name);
      pane.style.zIndex = String(z);
    }
    this.map.getPane("gm-labels").style.pointerEvents = "none";
    this.map.getPane("gm-pulse").style.pointerEvents = "none";
    // Overlays other modules add to the layer control: [i18n key, swatch, layer].
    this.extraOverlays = [];
    // Grid class of a feature for the active choropleth (households vs the norm by default).
    this.gridClass = (f) => classify(f.properties?.households);

    this.renderers = {
      base: L.svg({ pane: "gm-base", padding: 0.5 }),
      grids: L.svg({ pane: "gm-grids", padding: 0.5 }),
      communities: L.svg({ pane: "gm-communities", padding: 0.5 }),
      streets: L.svg({ pane: "gm-streets", padding: 0.5 }),
    };

    const tiles = tileOptionFromLocation();
    this.basemap = tiles ? L.tileLayer(tiles, { maxZoom: 19, crossOrigin: true }) : null;
    if (this.basemap) {
      this.basemap.addTo(this.map);
      el.classList.add("has-basemap");
    } else {
      this.useServerBasemap();
    }

    this.layers = { streets: null, communities: null, grids: null };
    this.labelGroups = { street: L.layerGroup(), community: L.layerGroup(), grid: L.layerGroup() };
    this.labels = { street: [], community: [], grid: [] };
    this.labelsToggle = L.layerGroup(); // empty layer: presence on the map = labels shown
    this.activeTier = null;
    this.gridIndex = new Map();
    this.selected = null;
    this.control = null;

    this.map.on("zoomend", () => this.updateLabels());
    this.map.on("overlayadd overlayremove", () => this.updateLabels());
    this.map.on("resize", () => this.updateLabels());
  }

  // ---- data ------------------------------------------------------------------

  /** Draw the three layers. Returns the number of grid features drawn. */
  setData({ streets, communities, grids }) {
    for (const key of Object.keys(this.layers)) {
      if (this.layers[key]) this.map.removeLayer(this.layers[key]);
    }
    if (this.base) this.map.removeLayer(this.base);
    if (this.baseShadow) this.map.removeLayer(this.baseShadow);
    for (const g of Object.values(this.labelGroups)) g.clearLayers();
    this.gridIndex.clear();
    this.selected = null;

    // District "sheet" under everything so the area of interest reads at a glance, on a soft shadow.
    this.baseShadow = L.geoJSON(streets, {
      renderer: this.renderers.base,
      interactive: false,
      style: () => ({ className: "gm-base-shadow", stroke: true, fill: true }),
    }).addTo(this.map);
    this.base = L.geoJSON(streets, {
      renderer: this.renderers.base,
      interactive: false,
      style: () => ({ className: "gm-base", stroke: false, fill: true }),
    }).addTo(this.map);

    this.layers.grids = L.geoJSON(grids, {
      renderer: this.renderers.grids,
      style: (f) => ({ className: `gm-grid gm-grid--${this.gridClass(f)}` }),
      onEachFeature: (feature, layer) => {
        const code = String(feature.properties?.code ?? feature.id ?? "");
        layer.feature = feature;
        this.gridIndex.set(code, layer);
        layer.bindTooltip(() => this.gridTooltip(feature), {
          sticky: true, direction: "top", offset: [0, -8], className: "gm-tip", opacity: 1,
        });
        layer.on("click", () => this.onGridClick?.(code, feature));
        // expose the code on the SVG path (styling hooks, automation)
        layer.on("add", () => pathElements(layer).forEach((el) => el.setAttribute("data-code", code)));
      },
    }).addTo(this.map);

    this.layers.communities = L.geoJSON(communities, {
      renderer: this.renderers.communities,
      interactive: false,
      style: () => ({ className: "gm-community", fill: false }),
    }).addTo(this.map);

    this.layers.streets = L.geoJSON(streets, {
      renderer: this.renderers.streets,
      interactive: false,
      style: () => ({ className: "gm-street", fill: false }),
    }).addTo(this.map);

    this.buildLabels("street", streets);
    this.buildLabels("community", communities);
    this.buildLabels("grid", grids);
    this.labelsToggle.addTo(this.map);
    this.buildControl();
    this.fit();
    this.updateLabels();
    return this.layers.grids.getLayers().length;
  }

  get gridCount() {
    return this.layers.grids ? this.layers.grids.getLayers().length : 0;
  }

  fit() {
    const ref = this.layers.streets?.getBounds();
    const b = ref && ref.isValid() ? ref : this.layers.grids?.getBounds();
    if (b && b.isValid()) this.map.fitBounds(b, { paddingTopLeft: [24, 24], paddingBottomRight: [24, 24] });
  }

  /** Count grid features per household class (for the legend). */
  classCounts() {
    const counts = { under: 0, within: 0, over: 0, unknown: 0 };
    for (const layer of this.gridIndex.values()) counts[classify(layer.feature.properties?.households)] += 1;
    return counts;
  }

  gridTooltip(feature) {
    const p = feature.properties || {};
    const cls = classify(p.households);
    return `<strong>${escapeHtml(featureName(p))}</strong>`
      + `<span class="gm-tip__row"><span class="dot dot--${cls}"></span>`
      + `${escapeHtml(t("tooltip.households", { n: formatNumber(p.households) }))}`
      + ` · ${escapeHtml(t(`status.${cls}`))}</span>`
      + (this.tooltipExtra ? this.tooltipExtra(feature) : "");
  }

  /** Re-colour every grid with `classOf(feature)` (a CSS class suffix: gm-grid--<suffix>). */
  restyleGrids(classOf) {
    this.gridClass = classOf;
    for (const layer of this.gridIndex.values()) {
      const cls = `gm-grid--${classOf(layer.feature)}`;
      for (const el of pathElements(layer)) {
        for (const c of [...el.classList]) if (c.startsWith("gm-grid--")) el.classList.remove(c);
        el.classList.add(cls);
      }
      layer.options.className = `gm-grid ${cls}`;
    }
  }

  addOverlay(key, swatch, layer) {
    this.extraOverlays.push([key, swatch, layer]);
    if (this.control) this.buildControl();
  }

  /** The deployment's basemap (GRIDMAP_BASEMAP_URL: an intranet XYZ tile server), unless the page chose one. */
  async useServerBasemap() {
    let cfg = null;
    try {
      const resp = await fetch("/api/v1/basemap");
      if (resp.ok) cfg = await resp.json();
    } catch {
      return; // offline or an older server: our own vector layers are the map
    }
    if (!cfg?.url || this.basemap) return;
    this.basemap = L.tileLayer(cfg.url, { maxZoom: cfg.max_zoom || 19, attribution: cfg.attribution || "" });
    this.basemap.addTo(this.map);
    this.map.getContainer().classList.add("has-basemap");
    if (this.control) this.buildControl();
  }

  // ---- layer control ---------------------------------------------------------

  buildControl() {
    if (this.control) this.control.remove();
    const name = (key, swatch) =>
      `<span class="lc-swatch lc-swatch--${swatch}" aria-hidden="true"></span>${escapeHtml(t(key))}`;
    const overlays = {};
    if (this.layers.streets) overlays[name("layer.streets", "street")] = this.layers.streets;
    if (this.layers.communities) overlays[name("layer.communities", "community")] = this.layers.communities;
    if (this.layers.grids) overlays[name("layer.grids", "grid")] = this.layers.grids;
    overlays[name("layer.labels", "labels")] = this.labelsToggle;
    for (const [key, swatch, layer] of this.extraOverlays) overlays[name(key, swatch)] = layer;
    const bases = this.basemap ? { [name("layer.basemap", "basemap")]: this.basemap } : null;
    this.control = L.control.layers(bases, overlays, { collapsed: false, position: "topright" }).addTo(this.map);
    const container = this.control.getContainer();
    container.classList.add("gm-layers");
    container.setAttribute("aria-label", t("layer.grids"));
  }

  // ---- labels ----------------------------------------------------------------

  buildLabels(tier, fc) {
    const entries = [];
    for (const f of fc?.features || []) {
      const pts = labelCandidates(f.geometry);
      if (!pts.length) continue;
      const pt = pts[0];
      const marker = L.marker([pt.lat, pt.lon], {
        pane: "gm-labels",
        interactive: false,
        keyboard: false,
        icon: L.divIcon({ className: `gm-label gm-label--${tier}`, html: "", iconSize: null }),
      });
      entries.push({ feature: f, marker, pt, pts, size: null });
    }
    this.labels[tier] = entries;
    this.renderLabelHtml(tier);
  }

  /** Replace the grid labels (the planner redraws its grids after every edit). */
  setGridLabels(fc) {
    const group = this.labelGroups.grid;
    group.clearLayers();
    this.buildLabels("grid", fc);
    if (this.activeTier === "grid") for (const e of this.labels.grid) group.addLayer(e.marker);
    this.updateLabels();
  }

  labelHtml(tier, p) {
    const name = escapeHtml(featureName(p));
    if (tier === "grid") {
      return `<span class="gm-label__text"><span class="gm-label__name">${name}</span>`
        + `<span class="gm-label__code">${escapeHtml(p.code ?? "")}</span></span>`;
    }
    return `<span class="gm-label__text">${name}</span>`;
  }

  renderLabelHtml(tier) {
    for (const e of this.labels[tier]) {
      e.marker.setIcon(L.divIcon({
        className: `gm-label gm-label--${tier}`,
        html: this.labelHtml(tier, e.feature.properties || {}),
        iconSize: null,
      }));
      e.size = null;
    }
  }

  /** Pixel room around a label point at zoom `z`: width/height of the feature's chords. */
  roomAt(pt, z) {
    const pxPerDeg = (256 * 2 ** z) / 360;
    const latFactor = 1 / Math.cos((pt.lat * Math.PI) / 180);
    return { w: pt.width * pxPerDeg, h: pt.height * pxPerDeg * latFactor };
  }

  layerShown(tier) {
    const key = { grid: "grids", community: "communities", street: "streets" }[tier];
    return this.layers[key] && this.map.hasLayer(this.layers[key]);
  }

  chooseTier(z) {
    if (!this.map.hasLayer(this.labelsToggle)) return null;
    for (const tier of TIERS) {
      const entries = this.labels[tier];
      if (!entries.length || !this.layerShown(tier)) continue;
      const widths = entries.map((e) => this.roomAt(e.pt, z).w).sort((a, b) => a - b);
      const median = widths[Math.floor(widths.length / 2)];
      if (median >= TIER_MIN_ROOM[tier]) return tier;
    }
    return null;
  }

  updateLabels() {
    if (!this.layers.grids) return;
    const z = this.map.getZoom();
    const tier = this.chooseTier(z);
    if (tier !== this.activeTier) {
      if (this.activeTier) this.map.removeLayer(this.labelGroups[this.activeTier]);
      this.activeTier = tier;
      if (tier) {
        const group = this.labelGroups[tier];
        if (!group.getLayers().length) for (const e of this.labels[tier]) group.addLayer(e.marker);
        group.addTo(this.map);
      }
    }
    this.map.getContainer().dataset.labelTier = tier || "none";
    if (tier) this.declutter(tier, z);
  }

  /** Hide labels that do not fit inside their feature or that collide with a bigger one. */
  declutter(tier, z) {
    const entries = this.labels[tier];
    const street = tier === "street";
    // read phase: measure labels once (sizes only change with the language)
    for (const e of entries) {
      if (e.size) continue;
      const el = e.marker.getElement()?.firstElementChild;
      if (el) e.size = { w: el.offsetWidth, h: el.offsetHeight };
    }
    // place bigger features first, greedily, without overlaps
    const placed = [];
    const visible = new Set();
    const order = [...entries].sort((a, b) => b.pt.width * b.pt.height - a.pt.width * a.pt.height);
    for (const e of order) {
      if (!e.size) continue;
      // try the candidate points in turn; the first that fits and is free wins
      for (const pt of e.pts) {
        // streets are few and large: only collisions matter; finer tiers must fit inside their feature
        const room = this.roomAt(pt, z);
        if (!street && (e.size.w > room.w * 1.08 || e.size.h > room.h)) continue;
        const p = this.map.latLngToLayerPoint([pt.lat, pt.lon]);
        const pad = 4;
        const r = {
          x0: p.x - e.size.w / 2 - pad, x1: p.x + e.size.w / 2 + pad,
          y0: p.y - e.size.h / 2 - pad, y1: p.y + e.size.h / 2 + pad,
        };
        if (placed.some((q) => q.x0 < r.x1 && r.x0 < q.x1 && q.y0 < r.y1 && r.y0 < q.y1)) continue;
        placed.push(r);
        visible.add(e);
        if (pt !== e.placedAt) {
          e.placedAt = pt;
          e.marker.setLatLng([pt.lat, pt.lon]);
        }
        break;
      }
    }
    // write phase
    for (const e of entries) {
      const el = e.marker.getElement();
      if (el) el.classList.toggle("is-hidden", !visible.has(e));
    }
  }

  /** Label type changed size (the wall's large-type mode): measure again before placing. */
  remeasureLabels() {
    for (const tier of TIERS) for (const e of this.labels[tier]) e.size = null;
    this.updateLabels();
  }

  // ---- language --------------------------------------------------------------

  relabel() {
    for (const tier of TIERS) this.renderLabelHtml(tier);
    if (this.layers.grids) this.buildControl();
    // markers re-create their element on setIcon; re-run placement
    this.updateLabels();
  }

  // ---- selection -------------------------------------------------------------

  select(code, { reveal = true, panelWidth = 0 } = {}) {
    this.clearSelection();
    const layer = this.gridIndex.get(String(code));
    if (!layer) return null;
    this.selected = layer;
    for (const el of pathElements(layer)) el.classList.add("is-selected");
    layer.bringToFront();
    if (reveal) this.reveal(layer, panelWidth);
    return layer.feature;
  }

  clearSelection() {
    if (this.selected) for (const el of pathElements(this.selected)) el.classList.remove("is-selected");
    this.selected = null;
  }

  /**
   * Bring the selected grid into view: zoom in when it is too small to read at the
   * current zoom, otherwise just pan it out from under the side panel.
   */
  reveal(layer, panelWidth) {
    const size = this.map.getSize();
    // Controls over the bottom of the map (the wall's replay bar) cover it: keep the grid above them.
    const bottom = this.bottomInset?.() || 0;
    const b = layer.getBounds();
    const nw = this.map.latLngToContainerPoint(b.getNorthWest());
    const se = this.map.latLngToContainerPoint(b.getSouthEast());
    if (Math.max(se.x - nw.x, se.y - nw.y) < 48) {
      const pad = Math.round(Math.min(size.x - panelWidth, size.y) / 4);
      this.map.flyToBounds(b, {
        paddingTopLeft: [pad, pad],
        paddingBottomRight: [panelWidth + pad, pad + bottom],
        maxZoom: 17,
        duration: 0.6,
      });
      return;
    }
    const c = this.map.latLngToContainerPoint(b.getCenter());
    const visibleRight = size.x - panelWidth - 32;
    let dx = 0;
    let dy = 0;
    if (c.x > visibleRight) dx = c.x - visibleRight + 40;
    if (c.x < 40) dx = c.x - 40;
    if (c.y < 40) dy = c.y - 40;
    if (c.y > size.y - 40 - bottom) dy = c.y - size.y + 40 + bottom;
    if (dx || dy) this.map.panBy([dx, dy], { animate: true, duration: 0.35 });
  }

  invalidate() {
    this.map.invalidateSize();
  }
}
