// The report trend as an SVG bar chart, shared by the map wall and the printable report (web/js/report.js).
// Axis labels sit under the first and last bars; a single bar gets one label centred under it (two labels at
// the chart's edges would name a bar that is not there).

import { formatNumber, t, TIME_ZONE, getLang } from "./i18n.js";

function svg(tag, attrs = {}) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

/** "14:00" for hour and 5-minute buckets, "12-06" for days (Beijing time). */
export function bucketLabel(at, bucket) {
  if (bucket === "day") return at.slice(5, 10);
  return new Intl.DateTimeFormat(getLang(), { hour: "2-digit", minute: "2-digit", hour12: false, timeZone: TIME_ZONE })
    .format(new Date(at));
}

/**
 * @param {{bucket: string, points: [string, number][]}} trend
 * @param {{width?: number, height?: number}} size
 * @returns {SVGSVGElement|null} null when there are no points
 */
export function trendChart(trend, { width = 360, height = 96 } = {}) {
  const pts = trend?.points || [];
  if (!pts.length) return null;
  const W = width;
  const H = height;
  const max = Math.max(...pts.map((p) => p[1]), 1);
  const bw = W / Math.max(pts.length, 1);
  const chart = svg("svg", { viewBox: `0 0 ${W} ${H + 16}`, class: "trend", role: "img",
    "aria-label": t("trend.aria", { n: pts.length }) });
  for (const frac of [0.5, 1]) {
    chart.append(svg("line", { x1: 0, x2: W, y1: H - frac * H + 0.5, y2: H - frac * H + 0.5, class: "trend__grid" }));
  }
  // One bar is drawn at most a fifth of the width wide, centred, not stretched over the whole chart.
  const barW = pts.length === 1 ? Math.min(W / 5, bw * 0.76) : Math.max(1, bw * 0.76);
  const barX = (i) => (pts.length === 1 ? (W - barW) / 2 : i * bw + bw * 0.12);
  pts.forEach(([at, n], i) => {
    const bh = Math.max(n ? 2 : 0, (n / max) * (H - 16));
    const r = svg("rect", { x: barX(i), y: H - bh, width: barW, height: bh,
      class: i === pts.length - 1 ? "trend__bar trend__bar--last" : "trend__bar" });
    const title = svg("title");
    title.textContent = `${bucketLabel(at, trend.bucket)}: ${formatNumber(n)}`;
    r.append(title);
    chart.append(r);
  });
  const label = (i, anchor, x) => {
    const txt = svg("text", { x, y: H + 14, "text-anchor": anchor, class: "trend__axis" });
    txt.textContent = bucketLabel(pts[i][0], trend.bucket);
    chart.append(txt);
  };
  if (pts.length === 1) {
    label(0, "middle", W / 2);
  } else {
    label(0, "start", 0);
    label(pts.length - 1, "end", W);
  }
  const peak = svg("text", { x: W, y: 10, "text-anchor": "end", class: "trend__axis" });
  peak.textContent = t("trend.peak", { n: formatNumber(max) });
  chart.append(peak);
  return chart;
}
