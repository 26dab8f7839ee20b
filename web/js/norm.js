// The household norm for a grid (网格规模标准): a grid should hold 300–500 households.
// The API reports the norm per grid (`norm` in GET /grids/{code}); this is the default
// used to colour the map before any detail has been fetched.

export const DEFAULT_NORM = Object.freeze({ min: 300, max: 500 });

let norm = { ...DEFAULT_NORM };

export function getNorm() {
  return norm;
}

export function setNorm(n) {
  if (n && Number.isFinite(n.min) && Number.isFinite(n.max) && n.min <= n.max) {
    norm = { min: n.min, max: n.max };
  }
}

/** "under" | "within" | "over" | "unknown" */
export function classify(households, n = norm) {
  const h = Number(households);
  if (households === null || households === undefined || !Number.isFinite(h)) return "unknown";
  if (h < n.min) return "under";
  if (h > n.max) return "over";
  return "within";
}

export const CLASSES = ["under", "within", "over"];
