// Small planar geometry helpers for label placement on lon/lat polygons.
// Good enough at district scale; no dependency on a geometry library.

function ringArea(ring) {
  let a = 0;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i, i += 1) {
    a += (ring[j][0] + ring[i][0]) * (ring[j][1] - ring[i][1]);
  }
  return Math.abs(a / 2);
}

function polygons(geometry) {
  if (!geometry) return [];
  if (geometry.type === "Polygon") return [geometry.coordinates];
  if (geometry.type === "MultiPolygon") return geometry.coordinates;
  return [];
}

/** Intervals along y = `y` that lie inside the polygon (even-odd rule over all rings). */
function horizontalIntervals(rings, y) {
  const xs = [];
  for (const ring of rings) {
    for (let i = 0, j = ring.length - 1; i < ring.length; j = i, i += 1) {
      const [x1, y1] = ring[j];
      const [x2, y2] = ring[i];
      if ((y1 > y) !== (y2 > y)) xs.push(x1 + ((y - y1) * (x2 - x1)) / (y2 - y1));
    }
  }
  xs.sort((a, b) => a - b);
  const out = [];
  for (let i = 0; i + 1 < xs.length; i += 2) out.push([xs[i], xs[i + 1]]);
  return out;
}

function verticalIntervals(rings, x) {
  const swapped = rings.map((ring) => ring.map(([a, b]) => [b, a]));
  return horizontalIntervals(swapped, x);
}

function bounds(rings) {
  let minx = Infinity;
  let miny = Infinity;
  let maxx = -Infinity;
  let maxy = -Infinity;
  for (const [x, y] of rings[0] || []) {
    if (x < minx) minx = x;
    if (y < miny) miny = y;
    if (x > maxx) maxx = x;
    if (y > maxy) maxy = y;
  }
  return { minx, miny, maxx, maxy };
}

/**
 * Candidate label points, best first, each guaranteed (up to floating point) to lie
 * inside the polygon: the middles of the widest horizontal chords, re-centred
 * vertically. Each is {lon, lat, width, height} where width/height (degrees) is the
 * room around it. Empty for non-polygonal geometry.
 */
export function labelCandidates(geometry, max = 3) {
  const polys = polygons(geometry);
  if (!polys.length) return [];
  let rings = polys[0];
  let best = -1;
  for (const p of polys) {
    const a = ringArea(p[0] || []);
    if (a > best) { best = a; rings = p; }
  }
  const b = bounds(rings);
  if (!Number.isFinite(b.minx)) return [];
  const h = b.maxy - b.miny;
  const chords = [];
  for (const f of [0.5, 0.42, 0.58, 0.34, 0.66, 0.26, 0.74, 0.18, 0.82]) {
    const y = b.miny + h * f;
    for (const [x0, x1] of horizontalIntervals(rings, y)) {
      // prefer chords near the middle: a small penalty for distance from centre
      chords.push({ score: (x1 - x0) * (1 - 0.6 * Math.abs(f - 0.5)), x: (x0 + x1) / 2, y, width: x1 - x0 });
    }
  }
  if (!chords.length) return [{ lon: (b.minx + b.maxx) / 2, lat: (b.miny + b.maxy) / 2, width: 0, height: 0 }];
  chords.sort((p, q) => q.score - p.score);
  const out = [];
  for (const pick of chords) {
    let { y } = pick;
    let height = 0;
    for (const [y0, y1] of verticalIntervals(rings, pick.x)) {
      if (y0 <= pick.y && pick.y <= y1) {
        y = (y0 + y1) / 2;
        height = y1 - y0;
        break;
      }
    }
    // re-measure the horizontal room at the re-centred height
    let width = pick.width;
    for (const [x0, x1] of horizontalIntervals(rings, y)) {
      if (x0 <= pick.x && pick.x <= x1) { width = x1 - x0; break; }
    }
    // skip near-duplicates of an earlier candidate
    const dup = out.some((c) => Math.abs(c.lon - pick.x) < (b.maxx - b.minx) / 6 && Math.abs(c.lat - y) < h / 6);
    if (!dup) out.push({ lon: pick.x, lat: y, width, height });
    if (out.length >= max) break;
  }
  return out;
}

/** The best label point (see labelCandidates), or null. */
export function labelPoint(geometry) {
  return labelCandidates(geometry, 1)[0] || null;
}
