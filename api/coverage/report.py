"""A self-contained HTML coverage report (folium), readable with no network.

folium loads Leaflet, jQuery, Bootstrap and Font Awesome from CDNs. None of them is needed here but
Leaflet, so every default script and style sheet is dropped and the vendored Leaflet 1.9.4
(``web/vendor/leaflet``) is inlined, its images as data: URIs. There is no tile layer (tiles would
need a server): the map draws the communities and grids themselves, then every finding on top.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path
from typing import Any

import folium
import numpy as np
import orjson
import shapely
from branca.element import Element

from api.core.config import ROOT
from geo.coverage import CoverageResult

VENDOR = ROOT / "web" / "vendor" / "leaflet"
#: Above this many grids the report draws only the grids named in a finding (file size).
MAX_CONTEXT_GRIDS = 5000

KINDS: dict[str, tuple[str, str, str]] = {  # kind: (colour, 中文, English)
    "gap": ("#d7191c", "空白区域", "Gap"),
    "overlap": ("#7b3294", "交叉重叠", "Overlap"),
    "grid_crosses_community": ("#e66101", "跨社区网格", "Grid crosses community"),
    "grid_outside_communities": ("#b35806", "社区外网格", "Grid outside communities"),
    "grid_without_community": ("#8c510a", "无社区网格", "Grid without community"),
    "building_uncovered": ("#ff00ff", "未覆盖楼栋", "Building in no grid"),
    "building_split": ("#0571b0", "跨网格楼栋", "Building split across grids"),
    "building_double_covered": ("#2c7bb6", "重复覆盖楼栋", "Building in two grids"),
    "overloaded": ("#fdae61", "超负荷网格", "Over-loaded grid"),
    "underloaded": ("#abd9e9", "负荷过低网格", "Under-loaded grid"),
    "code_hierarchy": ("#4d4d4d", "编码层级错误", "Code hierarchy"),
    "code_sequence": ("#1a9641", "编码顺序错误", "Code sequence"),
}


WALK_COLOURS = ["#2f7ed8", "#e0712b", "#3aa676", "#b04fc4", "#c9a227", "#d9534f", "#5bc0de"]


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def leaflet_inline() -> tuple[str, str]:
    """The vendored Leaflet as inline ``<script>`` and ``<style>`` contents (images as data: URIs)."""
    js = (VENDOR / "leaflet.js").read_text(encoding="utf-8")
    js = re.sub(r"//# sourceMappingURL=\S+", "", js).replace("</script", "<\\/script")
    css = (VENDOR / "leaflet.css").read_text(encoding="utf-8")
    css = re.sub(r"url\((['\"]?)images/([\w\-.]+\.png)\1\)",
                 lambda m: f"url({_data_uri(VENDOR / 'images' / m.group(2))})", css)
    return js, css


def _gj(geoms: Any, props: list[dict[str, Any]], decimals: int = 7) -> dict[str, Any]:
    arr = np.asarray(geoms, dtype=object)
    arr = shapely.transform(arr, lambda c: np.round(c, decimals)) if len(arr) else arr
    texts = shapely.to_geojson(arr) if len(arr) else []
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": orjson.loads(t), "properties": p} for t, p in zip(texts, props, strict=True)]}


def _fmt_area(a: Any) -> str:
    return "" if a is None or a != a else f"{a:,.0f} m²" if a >= 10 else f"{a:,.2f} m²"


def _describe(row: dict[str, Any]) -> str:
    d = row.get("detail") or {}
    kind = row["kind"]
    if kind == "building_split":
        return "; ".join(f"{g}: {s:.0%}" for g, s in d.get("shares", {}).items()) + \
            f" · 户数 households {d.get('households')} → {d.get('counted_in')}"
    if kind == "overlap":
        return "占两网格面积 share of each grid: " + ", ".join(f"{s:.1%}" for s in d.get("share_of", []))
    if kind in ("overloaded", "underloaded"):
        lo, hi = d.get("band", [0, 0])
        norm = d.get("norm", [0, 0])
        value = int(row.get("value") or 0)
        return f"户数 households {value} (容差 band {lo:.0f}–{hi:.0f}, 标准 norm {norm[0]}–{norm[1]})"
    if kind == "code_sequence":
        return "应为 expected: " + ", ".join(c[-3:] for c in d.get("expected_order", []))
    if kind == "code_hierarchy":
        return str(d.get("reason", ""))
    if kind == "grid_crosses_community":
        return f"社区内占比 share inside: {d.get('share_inside', 0):.1%}"
    if kind == "building_uncovered":
        return f"未覆盖 uncovered {d.get('uncovered_share', 0):.0%} · 户数 households {d.get('households')}"
    return ""


def build_report(
    res: CoverageResult,
    *,
    layout: dict[str, Any],
    communities: Any,
    grids: Any,
    generated_at: str,
    walk: dict[str, Any] | None = None,
) -> str:
    """The report as one HTML string. ``communities``/``grids``: frames with code, name, geometry; ``walk``: the
    walk-catchments answer (api/roads/service.py), drawn as one layer of isochrones a facility kind."""
    js, css = leaflet_inline()
    f = res.findings
    fg = np.asarray(f["geometry"], dtype=object) if len(f) else np.empty(0, object)
    gg = np.asarray(grids["geometry"], dtype=object)
    cg = np.asarray(communities["geometry"], dtype=object)
    bounds = shapely.total_bounds(np.concatenate([cg, gg, fg])) if len(cg) + len(gg) + len(fg) else [
        116.3, 39.8, 116.5, 40.0]

    m = folium.Map(location=[(bounds[1] + bounds[3]) / 2, (bounds[0] + bounds[2]) / 2], tiles=None,
                   zoom_start=13, prefer_canvas=False, control_scale=True, zoom_snap=0.25)
    m.default_js = []
    m.default_css = []
    root = m.get_root()
    root.header.add_child(Element(f"<style>{css}</style>"), name="leaflet_css_inline", index=0)
    root.header.add_child(Element(f"<script>{js}</script>"), name="leaflet_js_inline", index=1)
    root.header.add_child(Element(STYLE), name="gm_style")
    root.html.add_child(Element(_header(layout, res, generated_at)), name="gm_header", index=0)
    m.fit_bounds([[bounds[1], bounds[0]], [bounds[3], bounds[2]]], padding=(10, 10))

    named = {c for codes in f["codes"] for c in codes} if len(f) else set()
    gsel = np.ones(len(gg), dtype=bool) if len(gg) <= MAX_CONTEXT_GRIDS else grids["code"].isin(named).to_numpy()
    folium.GeoJson(
        _gj(cg, [{"code": c, "name": n} for c, n in zip(communities["code"], communities["name"], strict=True)], 6),
        name="社区 Communities", style_function=lambda _: {"color": "#555", "weight": 2, "fill": True,
                                                           "fillColor": "#f4f1e8", "fillOpacity": 1},
        tooltip=folium.GeoJsonTooltip(["name", "code"], aliases=["社区 community", "code"]),
    ).add_to(m)
    folium.GeoJson(
        _gj(gg[gsel], [{"code": c, "name": n} for c, n in zip(grids["code"][gsel], grids["name"][gsel],
                                                             strict=True)], 6),
        name="网格 Grids", style_function=lambda _: {"color": "#8a8f98", "weight": 0.8, "fill": False},
    ).add_to(m)

    rows = f.drop(columns="geometry").to_dict("records") if len(f) else []
    for k, row in enumerate(rows):
        row["n"] = k + 1
    for kind, (colour, zh, en) in KINDS.items():
        sel = [i for i, r in enumerate(rows) if r["kind"] == kind]
        if not sel:
            continue
        props = [{"n": rows[i]["n"], "kind": f"{zh} {en}", "codes": ", ".join(rows[i]["codes"]),
                  "area": _fmt_area(rows[i]["area_m2"])} for i in sel]
        geoms = fg[sel]
        line = kind in ("overloaded", "underloaded", "code_hierarchy", "grid_without_community")
        layer = folium.GeoJson(
            _gj(geoms, props), name=f"{zh} {en}",
            style_function=lambda _, c=colour, ln=line: {
                "color": c, "weight": 3 if ln else 2, "fillColor": c, "fillOpacity": 0.25 if ln else 0.55,
                "className": "gm-finding"},
            marker=folium.CircleMarker(radius=7, color=colour, fill=True, fill_opacity=0.9, weight=2),
            tooltip=folium.GeoJsonTooltip(["n", "kind", "codes", "area"], aliases=["#", "", "", ""]),
        )
        layer.add_to(m)
        # small findings (a building, a point) get a ring so they can be seen at district zoom
        for i in sel:
            c = shapely.centroid(fg[i])
            if shapely.area(fg[i]) < 5e-6:  # below ~50,000 m²: too small to see at district zoom
                folium.CircleMarker([c.y, c.x], radius=14, color=colour, weight=3, fill=False,
                                    class_name="gm-finding-ring",
                                    tooltip=f"#{rows[i]['n']} {zh} {en}").add_to(m)
    for i, k in enumerate((walk or {}).get("kinds", [])):
        if k["isochrone"]:
            colour = WALK_COLOURS[i % len(WALK_COLOURS)]
            how = "沿路网 along the roads" if walk["method"] == "network" else "直线 straight line"
            folium.GeoJson({"type": "Feature", "geometry": k["isochrone"], "properties": {
                "kind": k["kind"], "reach": f"{k['minutes']:g} min, {k['reach_m']:,.0f} m {how}",
                "share": f"{(k['share'] or 0) * 100:.0f}% households", "beyond": ", ".join(k["grids_beyond"][:20])}},
                name=f"15分钟生活圈 {k['kind']}", show=i == 0,
                style_function=lambda _, c=colour: {
                    "color": c, "weight": 1, "fillColor": c, "fillOpacity": 0.25},
                tooltip=folium.GeoJsonTooltip(["kind", "reach", "share", "beyond"],
                                              aliases=["", "", "", "grids under half"]),
            ).add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    m.get_root().html.add_child(Element(_legend(rows)))
    m.get_root().html.add_child(Element(_table(rows, fg)))
    m.get_root().html.add_child(Element(f"<script>{_zoom_js(m.get_name())}</script>"))
    out = m.get_root().render()
    return out.replace("<html>", '<html lang="zh-CN">', 1)


STYLE = """<style>
html, body { margin: 0; height: auto !important; font-family: "Noto Sans CJK SC", "Noto Sans SC", "Microsoft YaHei",
  "PingFang SC", sans-serif; color: #222; background: #fff; }
body { display: flex; flex-direction: column; min-height: 100vh; }
.gm-head { order: 0; padding: 10px 16px; border-bottom: 1px solid #ddd; display: flex; gap: 24px; align-items: baseline;
  flex-wrap: wrap; }
.gm-head h1 { font-size: 20px; margin: 0; }
.gm-head .gm-stat { font-size: 14px; color: #444; }
.gm-head .gm-stat b { font-size: 18px; color: #111; }
.folium-map { order: 1; flex: none; position: relative !important; height: 68vh !important; min-height: 420px;
  width: 100% !important; left: 0 !important; top: 0 !important; }
.gm-legend { position: absolute; z-index: 1000; left: 12px; bottom: 36px; background: rgba(255,255,255,.95);
  padding: 8px 10px; border-radius: 6px; box-shadow: 0 1px 4px rgba(0,0,0,.3); font-size: 13px; }
.gm-legend h4 { margin: 0 0 4px; font-size: 13px; }
.gm-legend div { display: flex; align-items: center; gap: 6px; margin: 2px 0; }
.gm-legend i { width: 14px; height: 14px; display: inline-block; border-radius: 2px; }
.gm-table { order: 2; padding: 8px 16px 24px; overflow: auto; }
.gm-table table { border-collapse: collapse; width: 100%; font-size: 13px; }
.gm-table th, .gm-table td { border-bottom: 1px solid #e4e4e4; padding: 5px 8px; text-align: left;
  vertical-align: top; }
.gm-table tr[data-n] { cursor: pointer; }
.gm-table tr[data-n]:hover { background: #f3f6fb; }
.gm-table .sw { width: 10px; height: 10px; display: inline-block; border-radius: 2px; margin-right: 4px; }
.gm-ok { color: #1a9641; font-weight: bold; }
</style>"""


def _header(layout: dict[str, Any], res: CoverageResult, generated_at: str) -> str:
    s = res.summary
    bal = s["balance"]
    return (
        '<div class="gm-head"><h1>网格覆盖分析 · Grid coverage report</h1>'
        f'<span class="gm-stat">布局 Layout <b>{html.escape(str(layout.get("name")))}</b> (#{layout.get("id")}, '
        f'{html.escape(str(layout.get("status")))})</span>'
        f'<span class="gm-stat">网格 Grids <b>{s["grids"]:,}</b></span>'
        f'<span class="gm-stat">问题 Findings <b id="gm-count">{s["findings"]}</b></span>'
        f'<span class="gm-stat">空白 Gaps <b>{s["gap_area_m2"]:,.0f} m²</b></span>'
        f'<span class="gm-stat">重叠 Overlaps <b>{s["overlap_area_m2"]:,.0f} m²</b></span>'
        f'<span class="gm-stat">均衡指数 Balance (CV) <b>{bal["cv"]:.3f}</b> · Gini {bal["gini"]:.3f}</span>'
        f'<span class="gm-stat">户数标准 Norm {s["norm"][0]}–{s["norm"][1]} · 标准内 within '
        f'<b>{s["within_norm"]}</b>/{s["grids"]}</span>'
        f'<span class="gm-stat">生成 Generated {html.escape(generated_at)}</span></div>'
    )


def _legend(rows: list[dict[str, Any]]) -> str:
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["kind"]] = counts.get(r["kind"], 0) + 1
    items = "".join(
        f'<div data-kind="{k}"><i style="background:{c}"></i>{zh} {en} ({counts[k]})</div>'
        for k, (c, zh, en) in KINDS.items() if k in counts)
    if not items:
        items = '<div class="gm-ok">未发现问题 No findings</div>'
    return (
        '<div class="gm-legend" id="gm-legend"><h4>图例 Legend</h4>'
        '<div><i style="background:#f4f1e8;border:2px solid #555"></i>社区 Community</div>'
        '<div><i style="border:1px solid #8a8f98"></i>网格 Grid</div>'
        f"{items}</div>"
    )


def _table(rows: list[dict[str, Any]], geoms: Any) -> str:
    head = ("<tr><th>#</th><th>类型 Kind</th><th>编码 Codes</th><th>社区 Community</th><th>面积 Area</th>"
            "<th>说明 Details</th></tr>")
    body = []
    for r, g in zip(rows, geoms, strict=True):
        colour, zh, en = KINDS[r["kind"]]
        b = shapely.bounds(g)
        body.append(
            f'<tr data-n="{r["n"]}" data-bounds="{b[1]:.7f},{b[0]:.7f},{b[3]:.7f},{b[2]:.7f}">'
            f'<td>{r["n"]}</td><td><span class="sw" style="background:{colour}"></span>{zh} {en}</td>'
            f'<td>{html.escape(", ".join(r["codes"]))}</td><td>{html.escape(str(r["community_code"] or ""))}</td>'
            f'<td>{_fmt_area(r["area_m2"])}</td><td>{html.escape(_describe(r))}</td></tr>')
    if not body:
        body.append('<tr><td colspan="6" class="gm-ok">未发现问题 No findings</td></tr>')
    return (f'<div class="gm-table"><h3>问题清单 Findings</h3><table id="gm-findings">{head}'
            f'{"".join(body)}</table></div>')


def _zoom_js(map_name: str) -> str:
    return f"""
document.addEventListener('DOMContentLoaded', function () {{
  var legend = document.getElementById('gm-legend');
  if (legend) {{ {map_name}.getContainer().appendChild(legend); L.DomEvent.disableClickPropagation(legend); }}
  var rows = document.querySelectorAll('#gm-findings tr[data-n]');
  rows.forEach(function (tr) {{
    tr.addEventListener('click', function () {{
      var b = tr.dataset.bounds.split(',').map(Number);
      {map_name}.fitBounds([[b[0], b[1]], [b[2], b[3]]], {{maxZoom: 17, padding: [40, 40]}});
    }});
  }});
  document.body.dataset.findings = String(rows.length);
  document.body.dataset.ready = '1';
}});
"""
