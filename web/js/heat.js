// The wall's heat layer: Leaflet.heat drawn into a canvas of a fraction of the map's pixels.
//
// simpleheat colours every pixel of its canvas on each redraw (getImageData, a loop over the pixels,
// putImageData). At 1920x1080 that is 8 MB read and written per redraw, the longest task on the wall
// while reports stream in. A heatmap is a blur by design, so drawing it at half the resolution and
// letting the compositor scale the canvas up looks the same from across a room and costs a quarter.
// The 2D context is also asked for `willReadFrequently`, which keeps it in memory rather than on the
// GPU: on a GPU-backed wall each getImageData would otherwise be a GPU read-back.

//
// Intensity is scaled to what is on screen, not to a fixed count: after merging, a cell's weight is placed
// between the 60th and the 98th percentile of all cells' weights (below the 60th: not drawn). A 30-day
// window has thirty times the cases of a day, and with a fixed scale the whole district saturated; scaled
// this way the hotspots stand out at any window. `scaleMax` is the count that draws full colour (the legend
// says it).

const L = window.L;

/** Violet to white: a palette no choropleth on the wall uses (those are yellow to red, blue/green/orange). */
export const HEAT_GRADIENT = { 0.15: "#2e1065", 0.4: "#6d28d9", 0.65: "#c026d3", 0.85: "#f0abfc", 1: "#fdf4ff" };

function quantile(sorted, p) {
  if (!sorted.length) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

export const GridHeat = L.HeatLayer.extend({
  options: { resolution: 0.5, low: 0.6, high: 0.98 },

  _initCanvas() {
    const canvas = L.DomUtil.create("canvas", "leaflet-heatmap-layer leaflet-layer");
    this._canvas = canvas;
    canvas.style.transformOrigin = "50% 50%";
    canvas.getContext("2d", { willReadFrequently: true }); // simpleheat's getContext("2d") gets this one
    const animated = this._map.options.zoomAnimation && L.Browser.any3d;
    L.DomUtil.addClass(canvas, `leaflet-zoom-${animated ? "animated" : "hide"}`);
    this._heat = window.simpleheat(canvas);
    this._sizeCanvas();
    this._updateOptions();
  },

  _scale() {
    return Math.min(1, Math.max(0.25, this.options.resolution || 1));
  },

  /** The canvas holds map size x resolution pixels; CSS stretches it over the whole map. */
  _sizeCanvas() {
    const size = this._map.getSize();
    const s = this._scale();
    const w = Math.max(1, Math.round(size.x * s));
    const hgt = Math.max(1, Math.round(size.y * s));
    if (this._heat._width !== w) this._canvas.width = this._heat._width = w;
    if (this._heat._height !== hgt) this._canvas.height = this._heat._height = hgt;
    this._canvas.style.width = `${size.x}px`;
    this._canvas.style.height = `${size.y}px`;
  },

  _updateOptions() {
    const s = this._scale();
    this._heat.radius((this.options.radius || this._heat.defaultRadius) * s, (this.options.blur ?? 15) * s);
    if (this.options.gradient) this._heat.gradient(this.options.gradient);
    this._heat.max(1); // weights are scaled to 0..1 in _redraw
  },

  _reset() {
    L.DomUtil.setPosition(this._canvas, this._map.containerPointToLayerPoint([0, 0]));
    this._sizeCanvas();
    this._redraw();
  },

  /** Points to canvas pixels, merged on a grid of half the blob radius (as Leaflet.heat does), drawn. */
  _redraw() {
    const s = this._scale();
    const r = this._heat._r; // in canvas pixels
    const size = this._map.getSize();
    const cell = Math.max(1, r / 2);
    const w = size.x * s;
    const hgt = size.y * s;
    const cols = Math.ceil((w + 2 * r) / cell) + 1;
    const merged = new Map(); // cell index -> [sum x*v, sum y*v, sum v]
    for (const ll of this._latlngs) {
      const p = this._map.latLngToContainerPoint(ll);
      const x = p.x * s;
      const y = p.y * s;
      if (x < -r || y < -r || x > w + r || y > hgt + r) continue;
      const v = ll.alt !== undefined ? ll.alt : ll[2] !== undefined ? +ll[2] : 1;
      const key = Math.floor((y + r) / cell) * cols + Math.floor((x + r) / cell);
      const m = merged.get(key);
      if (m) { m[0] += x * v; m[1] += y * v; m[2] += v; } else merged.set(key, [x * v, y * v, v]);
    }
    const cells = [...merged.values()].filter((m) => m[2] > 0);
    const weights = cells.map((m) => m[2]).sort((a, b) => a - b);
    const hi = Math.max(1, quantile(weights, this.options.high));
    // With few cells (a quiet hour) every cell is drawn; otherwise those at or below the 60th percentile are not.
    const lo = weights.length >= 20 ? Math.min(quantile(weights, this.options.low), hi - 1) : 0;
    this.scaleMax = hi;
    const data = [];
    for (const [sx, sy, v] of cells) {
      const w = Math.min(1, (v - lo) / (hi - lo));
      if (w > 0) data.push([Math.round(sx / v), Math.round(sy / v), w]);
    }
    this._heat.data(data).draw(this.options.minOpacity);
    this._frame = null;
    this.fire("heatdrawn", { scaleMax: hi, drawn: data.length });
  },
});

export const gridHeat = (latlngs, options) => new GridHeat(latlngs, options);
