// Live-report pulses on one canvas.
//
// A pulse used to be a Leaflet marker with three animated elements; at 100 reports a second that meant
// creating and removing a hundred DOM nodes a second and compositing up to 180 animated layers every frame,
// which on a wall PC without a GPU (software compositing) held frames for seconds. Here every pulse is a
// few canvas arcs redrawn in one animation frame loop that runs only while a pulse is alive, so the cost
// per frame stays flat however fast reports arrive. The canvas never takes pointer events; its
// `data-pulses` attribute says how many pulses are alive (tests and the screen reader summary read it).

const L = window.L;

const RING_MS = 1300; // one ring grows and fades in this time
const RING_GAP_MS = 450; // the second ring follows the first
const RINGS = 2; // each ring runs twice
const LIFE_MS = RING_GAP_MS + RING_MS * RINGS; // ≈ 3 s
const DOT_FADE_FROM = 0.75; // the dot starts fading at this share of its life
const RING_PX = 8; // radius at the start
const RING_GROW = 6.5; // radius grows to this multiple

export const PulseLayer = L.Layer.extend({
  // fps: pulses redraw at most this often. Each redraw is a new frame for the whole screen, which a wall PC
  // without a GPU composites in software; 20 steps a second read as a smooth ring and cost a third of 60.
  options: { pane: "gm-pulse", max: 60, color: "#ef4444", fps: 20 },

  initialize(options) {
    L.setOptions(this, options);
    this._pulses = [];
    this._frame = 0;
    // With reduced motion asked for, a pulse is the dot alone (no growing rings).
    this._still = window.matchMedia?.("(prefers-reduced-motion: reduce)").matches ?? false;
  },

  onAdd(map) {
    const canvas = L.DomUtil.create("canvas", "gm-pulse-layer leaflet-zoom-hide");
    canvas.setAttribute("aria-hidden", "true");
    canvas.dataset.pulses = "0";
    this._canvas = canvas;
    this._ctx = canvas.getContext("2d");
    this.getPane().appendChild(canvas);
    map.on("moveend zoomend resize viewreset", this._reset, this);
    this._reset();
  },

  onRemove(map) {
    cancelAnimationFrame(this._frame);
    this._frame = 0;
    this._canvas.remove();
    map.off("moveend zoomend resize viewreset", this._reset, this);
  },

  /** Pulses alive now. */
  count() {
    return this._pulses.length;
  },

  /** Start a pulse at [lat, lon]; beyond `max` alive the oldest gives way (the newest is the news). */
  add(latlng, id) {
    if (!this._map) return false;
    if (this._pulses.length >= this.options.max) this._pulses.shift();
    this._pulses.push({ latlng: L.latLng(latlng), id, t0: performance.now() });
    this._canvas.dataset.pulses = String(this._pulses.length);
    if (!this._frame) this._frame = requestAnimationFrame((ts) => this._draw(ts));
    return true;
  },

  /** Report ids with a pulse alive (for tests and the page's own checks). */
  ids() {
    return this._pulses.map((p) => p.id);
  },

  _reset() {
    const map = this._map;
    const size = map.getSize();
    this._origin = map.containerPointToLayerPoint([0, 0]);
    L.DomUtil.setPosition(this._canvas, this._origin);
    if (this._canvas.width !== size.x) this._canvas.width = size.x;
    if (this._canvas.height !== size.y) this._canvas.height = size.y;
    this._dirty = null;
    if (this._pulses.length && !this._frame) this._frame = requestAnimationFrame((ts) => this._draw(ts));
  },

  _draw(now) {
    this._frame = 0;
    if (this._drawn && now - this._drawn < 1000 / this.options.fps - 4 && this._pulses.length) {
      this._frame = requestAnimationFrame((ts) => this._draw(ts));
      return;
    }
    this._drawn = now;
    const ctx = this._ctx;
    const maxR = RING_PX * RING_GROW + 4;
    // Clear only what the last frame drew.
    if (this._dirty) {
      const [x0, y0, x1, y1] = this._dirty;
      ctx.clearRect(x0, y0, x1 - x0, y1 - y0);
    } else {
      ctx.clearRect(0, 0, this._canvas.width, this._canvas.height);
    }
    const before = this._pulses.length;
    this._pulses = this._pulses.filter((p) => now - p.t0 < LIFE_MS);
    if (this._pulses.length !== before) this._canvas.dataset.pulses = String(this._pulses.length);
    if (!this._pulses.length) {
      this._dirty = null;
      return;
    }
    let x0 = Infinity;
    let y0 = Infinity;
    let x1 = -Infinity;
    let y1 = -Infinity;
    ctx.strokeStyle = this.options.color;
    ctx.fillStyle = this.options.color;
    for (const p of this._pulses) {
      // Layer points less the canvas origin: right while the map is dragged, too.
      const { x, y } = this._map.latLngToLayerPoint(p.latlng).subtract(this._origin);
      const age = now - p.t0;
      ctx.lineWidth = 2;
      for (let ring = 0; ring < (this._still ? 0 : 2); ring += 1) {
        const t = age - ring * RING_GAP_MS;
        if (t < 0 || t >= RING_MS * RINGS) continue;
        const k = 1 - (1 - (t % RING_MS) / RING_MS) ** 2; // ease-out
        ctx.globalAlpha = 1 - k;
        ctx.beginPath();
        ctx.arc(x, y, RING_PX * (1 + (RING_GROW - 1) * k), 0, 2 * Math.PI);
        ctx.stroke();
      }
      const life = age / LIFE_MS;
      ctx.globalAlpha = life < DOT_FADE_FROM ? 1 : Math.max(0, 1 - (life - DOT_FADE_FROM) / (1 - DOT_FADE_FROM));
      ctx.beginPath();
      ctx.arc(x, y, 9, 0, 2 * Math.PI);
      ctx.fill();
      ctx.fillStyle = "#ffffff";
      ctx.beginPath();
      ctx.arc(x, y, 5, 0, 2 * Math.PI);
      ctx.fill();
      ctx.fillStyle = this.options.color;
      x0 = Math.min(x0, x - maxR);
      y0 = Math.min(y0, y - maxR);
      x1 = Math.max(x1, x + maxR);
      y1 = Math.max(y1, y + maxR);
    }
    ctx.globalAlpha = 1;
    this._dirty = [Math.floor(x0), Math.floor(y0), Math.ceil(x1), Math.ceil(y1)];
    this._frame = requestAnimationFrame((ts) => this._draw(ts));
  },
});

export const pulseLayer = (options) => new PulseLayer(options);
