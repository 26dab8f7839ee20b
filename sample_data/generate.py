#!/usr/bin/env python3
"""Seeded generator for the gridmap sample world (北京市东城区, synthetic content).

The real outer boundary, the 17 real streets (街道) and the 169 real communities
(社区) of Dongcheng are the skeleton; everything below them (street and community
shapes, grids, building footprints, facilities, people, reports) is invented, but
shaped like a real street office's data so that loaders, analyses and benchmarks
meet realistic volumes and distributions.

Design choices, in short (README.md has the long version):

* All generation happens in a local *affine* metric frame (equirectangular around
  the district centre).  Because the frame is affine, straight lines stay straight
  in both frames, so partition edges computed in metres map exactly onto edges in
  degrees.
* The administrative partition (streets → communities → grids) is built once as a
  set of *noded lines* snapped to a 1e-7° grid and polygonised into faces; every
  polygon of every level is a union of those faces.  That makes the tiling exact
  (shared edges have identical vertices), instead of "exact within tolerance".
* Grids are made by recursive, household-balanced bisection of each community
  (cut lines are chosen in the gaps between buildings), which is how you get grids
  of 300–500 households with no building on a grid edge.
* Four defects are planted on purpose (gap, overlap, split building, overloaded
  grid) so a coverage analysis has something real to find; everything else is
  asserted to be clean before anything is written.

Run ``python sample_data/generate.py --help``.  ``generate()`` is importable (the
tests load this file with importlib).
"""

from __future__ import annotations

import argparse
import gzip
import io
import math
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from shapely import STRtree

HERE = Path(__file__).resolve().parent


def _load_places():
    """sample_data/places.py: which street each real road, hutong and estate name lies in (the tests load this
    file by path, so its neighbour is loaded by path too)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("gridmap_sample_places", HERE / "places.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


PLACES = _load_places()
#: a road name further than this from a building is not its address: the street's own main road is used
ROAD_ADDRESS_MAX_M = 500.0
SOURCES = HERE / "sources"
DEFAULT_SEED = 20261122
GRID_SIZE = 1e-7  # coordinate precision of every output geometry, in degrees (~1 cm)
TZ = timezone(timedelta(hours=8))
REF_END = datetime(2026, 11, 20, 0, 0, 0, tzinfo=TZ)  # fixed "now" of the sample
REPORT_DAYS = 90
REPORTS_PER_COPY = 50_000
HH_MIN, HH_MAX, HH_TARGET = 150, 650, 400  # grid household norm (except the planted one)
OVERLOADED_MIN = 900
ROW_HEIGHT_DEG = 0.0027  # grid numbering: rows of ~300 m, north→south, then west→east

# ---------------------------------------------------------------------------------
# local metric frame (affine => lines stay lines)
LON0, LAT0 = 116.415, 39.915
_PHI = math.radians(LAT0)
MY = 111132.92 - 559.82 * math.cos(2 * _PHI) + 1.175 * math.cos(4 * _PHI)  # m per ° lat
MX = 111412.84 * math.cos(_PHI) - 93.5 * math.cos(3 * _PHI)  # m per ° lon
M2_PER_DEG2 = MX * MY


def xy_to_m(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return (np.asarray(lon) - LON0) * MX, (np.asarray(lat) - LAT0) * MY


def m_to_xy(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(x) / MX + LON0, np.asarray(y) / MY + LAT0


def to_m(geom):
    """Degrees → local metres (affine)."""
    return shapely.transform(geom, lambda c: (c - (LON0, LAT0)) * (MX, MY))


def to_deg(geom, rnd: bool = True):
    """Local metres → degrees, rounded to 7 decimals (coordinate-wise, so equal
    vertices stay equal)."""
    if rnd:
        return shapely.transform(geom, lambda c: np.round(c / (MX, MY) + (LON0, LAT0), 7))
    return shapely.transform(geom, lambda c: c / (MX, MY) + (LON0, LAT0))


def area_m2(geom) -> np.ndarray:
    return shapely.area(geom) * M2_PER_DEG2


# ---------------------------------------------------------------------------------
# pinyin for the characters that occur in the real street/community names
_PINYIN = dict(
    (tok[0], tok[1:])
    for tok in """七qi 上shang 世shi 东dong 中zhong 主zhu 义yi 乐le 九jiu 二er 五wu 井jing 交jiao
    亨heng 人ren 仓cang 体ti 儿er 元yuan 光guang 八ba 六liu 兴xing 内nei 分fen 利li 前qian 务wu
    化hua 北bei 区qu 十shi 华hua 南nan 厂chang 厅ting 口kou 台tai 史shi 司si 吉ji 和he 唐tang
    嘉jia 四si 园yuan 国guo 地di 坛tan 坡po 城cheng 基ji 士shi 夕xi 外wai 多duo 大da 天tian
    头tou 子zi 字zi 学xue 安an 官guan 定ding 宝bao 实shi 家jia 富fu 寺si 小xiao 局ju 山shan
    岗gang 崇chong 州zhou 工gong 左zuo 巷xiang 市shi 布bu 平ping 年nian 幸xing 广guang
    庄zhuang 店dian 府fu 康kang 建jian 彭peng 御yu 德de 忠zhong 怡yi 总zong 政zheng 文wen
    新xin 方fang 旺wang 明ming 昭zhao 晓xiao 景jing 智zhi 望wang 朝chao 杆gan 李li 村cun
    条tiao 杨yang 板ban 林lin 枣zao 根gen 桃tao 桥qiao 楼lou 正zheng 民min 水shui 永yong
    江jiang 池chi 汪wang 河he 沿yan 法fa 泰tai 浦pu 海hai 清qing 渠qu 湖hu 湾wan 演yan
    漪yi 潭tan 灯deng 照zhao 玉yu 王wang 环huan 琉liu 瑞rui 璃li 瓣ban 界jie 百bai
    皇huang 监jian 直zhi 礼li 祈qi 祥xiang 福fu 站zhan 竹zhu 管guan 精jing 紫zi 育yu
    胡hu 芝zhi 花hua 苏su 苑yuan 茵yin 草cao 荣rong 莱lai 菊ju 营ying 葱cong 街jie 西xi
    谷gu 豆dou 贞zhen 赵zhao 路lu 运yun 道dao 部bu 都du 里li 金jin 钞chao 钟zhong 铁tie
    银yin 锣luo 长chang 门men 闸zha 阳yang 院yuan 隆long 雅ya 青qing 革ge 韶shao 馆guan
    香xiang 馨xin 魏wei 鱼yu 鲜xian 麻ma 黄huang 鼓gu 龙long""".split()
)
_PINYIN_WORDS = {"演乐": "yanyue"}  # polyphones resolved by context


def pinyin(text: str) -> str:
    """Toneless pinyin, one capitalised word (e.g. 多福巷 → Duofuxiang).  Falls back
    to '' for unknown characters so callers can substitute a code."""
    for w, p in _PINYIN_WORDS.items():
        text = text.replace(w, f"[{p}]")
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "[":
            j = text.index("]", i)
            out.append(text[i + 1 : j])
            i = j + 1
            continue
        if ch not in _PINYIN:
            return ""
        out.append(_PINYIN[ch])
        i += 1
    return "".join(out).capitalize()


# ---------------------------------------------------------------------------------
# geography of the skeleton: approximate real street centres, main roads, parks
STREET_SITES = {  # code → (lon, lat), rough real locations of the street offices' areas
    "110101001": (116.405, 39.915),  # 东华门
    "110101002": (116.401, 39.929),  # 景山
    "110101003": (116.404, 39.938),  # 交道口
    "110101004": (116.407, 39.949),  # 安定门
    "110101005": (116.421, 39.943),  # 北新桥
    "110101006": (116.418, 39.930),  # 东四
    "110101007": (116.428, 39.925),  # 朝阳门
    "110101008": (116.426, 39.909),  # 建国门
    "110101009": (116.436, 39.941),  # 东直门
    "110101010": (116.417, 39.958),  # 和平里
    "110101011": (116.402, 39.896),  # 前门
    "110101012": (116.418, 39.897),  # 崇文门外
    "110101013": (116.436, 39.895),  # 东花市
    "110101014": (116.440, 39.879),  # 龙潭
    "110101015": (116.425, 39.884),  # 体育馆路
    "110101016": (116.410, 39.881),  # 天坛
    "110101017": (116.401, 39.865),  # 永定门外
}

# (name, lon0, lat0, lon1, lat1, width m): straight corridors kept free of buildings
ROADS = [
    ("东长安街", 116.385, 39.9075, 116.450, 39.9075, 60),
    ("朝阳门内大街", 116.385, 39.9240, 116.450, 39.9240, 32),
    ("张自忠路", 116.385, 39.9335, 116.450, 39.9335, 36),
    ("安定门东大街", 116.385, 39.9485, 116.450, 39.9485, 50),
    ("珠市口东大街", 116.385, 39.8935, 116.460, 39.8935, 40),
    ("左安门西滨河路", 116.375, 39.8680, 116.460, 39.8680, 50),
    ("光明路", 116.418, 39.8825, 116.460, 39.8825, 28),
    ("和平里北街", 116.400, 39.9575, 116.440, 39.9575, 28),
    ("王府井大街", 116.4105, 39.9000, 116.4105, 39.9400, 30),
    ("东四北大街", 116.4175, 39.9080, 116.4175, 39.9490, 30),
    ("安定门内大街", 116.4075, 39.9335, 116.4075, 39.9800, 30),
    ("崇文门外大街", 116.4170, 39.8600, 116.4170, 39.9075, 40),
    ("东直门南大街", 116.4340, 39.8900, 116.4340, 39.9600, 50),
    ("天坛东路", 116.4220, 39.8600, 116.4220, 39.8935, 30),
    ("和平里东街", 116.4230, 39.9485, 116.4230, 39.9700, 28),
]
PARKS = [  # (name, lon0, lat0, lon1, lat1): no buildings, a few reports
    ("故宫", 116.3910, 39.9130, 116.4015, 39.9235),
    ("天坛公园", 116.4045, 39.8745, 116.4185, 39.8890),
    ("地坛公园", 116.4100, 39.9500, 116.4180, 39.9560),
    ("龙潭公园", 116.4380, 39.8720, 116.4470, 39.8800),
]

# Road, hutong and estate names come from sample_data/places.py, street by street. The estate of a block is
# still drawn with the bound of the list this table replaced, so that the random stream after it is unchanged.
ESTATE_DRAW_BOUND = 70
ESTATE_SUFFIX = ["小区", "北里", "南里", "东里", "西里", "家园", "苑", "新村", "中街"]

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏"
    "吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱"
)
GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏辉建国文斌宇浩凯健俊帆鑫波宁"
    "欣怡梓涵子轩雨婷思琪佳颖晨阳志强海燕春梅秋菊淑珍凤琴德明振华永刚立新卫东红梅丽娟玉珍"
)
PHONE_PREFIXES = [
    "130",
    "131",
    "132",
    "133",
    "135",
    "136",
    "137",
    "138",
    "139",
    "150",
    "151",
    "152",
    "155",
    "156",
    "158",
    "159",
    "180",
    "185",
    "186",
    "188",
    "189",
]

# block layouts: (type, slots) with slot = (cx, cy, wmin, wmax, hmin, hmax, rot_deg, occ, kind)
BLOCK = 120.0  # block pitch (m): the ~10 m left over between blocks are lanes/hutongs
INNER = 110.0


def _grid_slots(nx: int, ny: int, w: tuple, h: tuple, rot: float, occ: float, kind: str):
    sx, sy = INNER / nx, INNER / ny
    return [((i + 0.5) * sx, (j + 0.5) * sy, *w, *h, rot, occ, kind) for j in range(ny) for i in range(nx)]


LAYOUTS: dict[str, list[tuple]] = {
    "courtyard": _grid_slots(6, 6, (10, 14.5), (10, 14.5), 4, 0.86, "courtyard"),
    "walkup": _grid_slots(2, 4, (40, 50), (10, 13), 3, 0.9, "walkup"),
    "tower": _grid_slots(2, 2, (20, 34), (20, 34), 10, 0.8, "tower"),
    "school": [(55, 30, 45, 60, 16, 24, 3, 1.0, "school"), (40, 82, 25, 35, 12, 18, 3, 0.6, "school")],
    "office": _grid_slots(2, 2, (25, 45), (25, 45), 5, 0.7, "office"),
    "market": [(55, 30, 35, 55, 25, 35, 3, 1.0, "market")]
    + [(x, 85, 15, 28, 12, 18, 5, 0.7, "commercial") for x in (20, 55, 90)],
    "commercial": _grid_slots(3, 3, (15, 30), (15, 30), 5, 0.6, "commercial"),
    "vacant": [],
}
BLOCK_TYPES = list(LAYOUTS)
ZONE_P = {  # probability of each block type per zone (order of BLOCK_TYPES)
    "hutong": [0.50, 0.20, 0.02, 0.04, 0.08, 0.02, 0.05, 0.09],
    "old": [0.24, 0.36, 0.08, 0.05, 0.07, 0.03, 0.06, 0.11],
    "modern": [0.02, 0.38, 0.24, 0.06, 0.10, 0.03, 0.06, 0.11],
}
KIND_OUT = {
    "courtyard": "courtyard",
    "walkup": "residential",
    "tower": "residential",
    "school": "school",
    "office": "office",
    "market": "market",
    "commercial": "commercial",
}


def log(msg: str, t0: float) -> None:
    print(f"[{time.perf_counter() - t0:7.1f}s] {msg}", flush=True)


# ---------------------------------------------------------------------------------
@dataclass
class World:
    """One district in the local metric frame plus the degree-space partition."""

    district_m: shapely.Geometry
    roads_m: np.ndarray  # centre lines (m)
    road_names: list[str]
    roads_union_m: shapely.Geometry
    streets: pd.DataFrame  # code, name, name_en, site_x, site_y
    communities: pd.DataFrame  # code, name, name_en, street_code, site_x, site_y, region_m
    b: pd.DataFrame  # buildings (metric geometry in column geom_m; leaf id; flags)
    leaves: pd.DataFrame  # grids before final geometry: community idx, box, ...
    grid_geom: np.ndarray = field(default=None)  # degrees, final (with defects)
    comm_geom: np.ndarray = field(default=None)
    street_geom: np.ndarray = field(default=None)
    district_geom: shapely.Geometry = None
    defects: dict = field(default_factory=dict)


def load_sources() -> tuple[shapely.Geometry, pd.DataFrame, pd.DataFrame]:
    """The boundary ring in the npm source self-touches at one vertex (a zero-area
    spike near 116.4375,39.9297); make_valid + keep the polygonal part fixes it."""
    gj = gpd.read_file(SOURCES / "dongcheng_boundary.geojson")
    geom = shapely.make_valid(gj.geometry.iloc[0])
    polys = [g for g in shapely.get_parts(geom) if g.geom_type == "Polygon" and g.area > 0]
    district = max(polys, key=lambda g: g.area)
    district = shapely.set_precision(district, GRID_SIZE)
    streets = pd.read_csv(SOURCES / "dongcheng_streets.csv", dtype=str)
    comms = pd.read_csv(SOURCES / "dongcheng_communities.csv", dtype=str)
    streets = streets[["code", "name"]].sort_values("code").reset_index(drop=True)
    comms = comms[["code", "name", "streetCode"]].rename(columns={"streetCode": "street_code"})
    comms["name"] = comms["name"].str.replace("居委会", "", regex=False)
    comms = comms.sort_values("code").reset_index(drop=True)
    return district, streets, comms


# ---------------------------------------------------------------------------------
def make_buildings(rng: np.random.Generator, district_m, roads_buf_m, parks_m) -> pd.DataFrame:
    """Lay a 120 m block lattice over the district, give each block a type by zone
    (hutong core / old south / modern outer ring) and fill it from a slot template.
    Slots never overlap, so footprints never overlap; blocks touching roads, parks
    or the boundary simply lose the footprints that would touch them."""
    minx, miny, maxx, maxy = shapely.bounds(district_m)
    ox, oy = rng.uniform(0, BLOCK, 2)
    xs = np.arange(minx - ox, maxx, BLOCK)
    ys = np.arange(miny - oy, maxy, BLOCK)
    bx, by = (a.ravel() for a in np.meshgrid(xs, ys))
    ix, iy = (a.ravel() for a in np.meshgrid(np.arange(len(xs)), np.arange(len(ys))))
    # zones from the block centre in degrees
    lon, lat = m_to_xy(bx + BLOCK / 2, by + BLOCK / 2)
    inside_ring = (lon < 116.434) & (lat < 39.9485) & (lat > 39.868)
    zone = np.where(inside_ring & (lat > 39.9075), "hutong", np.where(inside_ring, "old", "modern"))
    btype = np.empty(len(bx), dtype=object)
    for z, p in ZONE_P.items():
        m = zone == z
        btype[m] = rng.choice(BLOCK_TYPES, size=m.sum(), p=np.array(p) / sum(p))
    frames = []
    for t, slots in LAYOUTS.items():
        sel = np.flatnonzero(btype == t)
        if len(sel) == 0 or not slots:
            continue
        s = np.array([sl[:8] for sl in slots], dtype=float)
        kinds = np.array([sl[8] for sl in slots])
        nb, ns = len(sel), len(slots)
        shape = (nb, ns)
        w = rng.uniform(s[:, 2], s[:, 3], shape)
        h = rng.uniform(s[:, 4], s[:, 5], shape)
        rot = np.radians(rng.uniform(-1, 1, shape) * s[:, 6])
        occ = rng.random(shape) < s[:, 7]
        jx = rng.uniform(-1.5, 1.5, shape)
        jy = rng.uniform(-1.5, 1.5, shape)
        cx = bx[sel, None] + (BLOCK - INNER) / 2 + s[:, 0] + jx
        cy = by[sel, None] + (BLOCK - INNER) / 2 + s[:, 1] + jy
        frames.append(
            pd.DataFrame(
                {
                    "cx": cx[occ],
                    "cy": cy[occ],
                    "w": w[occ],
                    "h": h[occ],
                    "rot": rot[occ],
                    "sub": np.broadcast_to(kinds, shape)[occ],
                    "block": np.broadcast_to(sel[:, None], shape)[occ],
                    "slot": np.broadcast_to(np.arange(ns), shape)[occ],
                }
            )
        )
    b = pd.concat(frames, ignore_index=True)
    b["bix"], b["biy"], b["zone"] = ix[b.block], iy[b.block], zone[b.block]
    b = b.sort_values(["biy", "bix", "slot"], kind="stable").reset_index(drop=True)
    # rotated rectangles, counter-clockwise
    c, s_ = np.cos(b.rot.to_numpy()), np.sin(b.rot.to_numpy())
    dx = np.array([-0.5, 0.5, 0.5, -0.5, -0.5])[None, :] * b.w.to_numpy()[:, None]
    dy = np.array([-0.5, -0.5, 0.5, 0.5, -0.5])[None, :] * b.h.to_numpy()[:, None]
    X = b.cx.to_numpy()[:, None] + dx * c[:, None] - dy * s_[:, None]
    Y = b.cy.to_numpy()[:, None] + dx * s_[:, None] + dy * c[:, None]
    geom = shapely.polygons(np.stack([X, Y], axis=-1))
    inner = shapely.buffer(district_m, -3.0)
    shapely.prepare(inner)
    shapely.prepare(roads_buf_m)
    shapely.prepare(parks_m)
    keep = shapely.contains(inner, geom) & ~shapely.intersects(roads_buf_m, geom) & ~shapely.intersects(parks_m, geom)
    b["geom_m"] = geom
    b = b[keep].reset_index(drop=True)
    return _building_attributes(rng, b)


def _building_attributes(rng: np.random.Generator, b: pd.DataFrame) -> pd.DataFrame:
    n = len(b)
    sub = b["sub"].to_numpy()
    floors = np.ones(n, dtype=np.int64)
    units = np.ones(n, dtype=np.int64)
    hpf = np.zeros(n, dtype=np.int64)
    m = sub == "courtyard"
    hpf[m] = rng.choice([1, 2, 3], m.sum(), p=[0.35, 0.4, 0.25])
    m = sub == "walkup"
    floors[m] = rng.choice([4, 5, 6], m.sum(), p=[0.1, 0.35, 0.55])
    units[m] = np.clip(np.round(b.w.to_numpy()[m] / 18 + rng.normal(0, 0.4, m.sum())), 2, 4)
    hpf[m] = rng.choice([2, 3], m.sum(), p=[0.88, 0.12])
    m = sub == "tower"
    floors[m] = rng.integers(10, 25, m.sum())
    units[m] = rng.choice([1, 2, 3], m.sum(), p=[0.45, 0.45, 0.10])
    hpf[m] = rng.choice([2, 3, 4], m.sum(), p=[0.3, 0.4, 0.3])
    m = sub == "school"
    floors[m] = rng.integers(3, 6, m.sum())
    units[m] = rng.integers(1, 4, m.sum())
    m = sub == "office"
    floors[m] = rng.integers(4, 21, m.sum())
    units[m] = rng.integers(1, 5, m.sum())
    m = sub == "market"
    floors[m] = rng.integers(1, 3, m.sum())
    m = sub == "commercial"
    floors[m] = rng.integers(1, 5, m.sum())
    units[m] = rng.integers(1, 3, m.sum())
    hh = floors * units * hpf
    pop = np.where(hh > 0, np.maximum(hh, np.round(hh * 2.4 * rng.lognormal(0, 0.12, n))), 0)
    b["kind"] = pd.Series(sub).map(KIND_OUT).to_numpy()
    b["floors"], b["units"], b["hpf"] = floors, units, hpf
    b["households"], b["population"] = hh.astype(np.int64), pop.astype(np.int64)
    return b


# ---------------------------------------------------------------------------------
def voronoi_cells(x: np.ndarray, y: np.ndarray, extent) -> np.ndarray:
    """Voronoi cells in the order of the input sites."""
    pts = shapely.multipoints(np.column_stack([x, y]))
    cells = shapely.voronoi_polygons(pts, extend_to=extent, ordered=True)
    return np.array(shapely.get_parts(cells))


def weighted_kmeans(rng, P: np.ndarray, w: np.ndarray, load_w: np.ndarray, k: int, min_load: float) -> np.ndarray:
    """Weighted Lloyd iterations (kmeans++ seeding), then repair: while the lightest
    cluster carries less than ``min_load`` households, move its centre into the
    heaviest cluster and re-run Lloyd.  Plain nearest-centre semantics are kept, so
    the Voronoi cells of the result are exactly the clusters."""

    def lloyd(C: np.ndarray, iters: int) -> tuple[np.ndarray, np.ndarray]:
        for _ in range(iters):
            lab = ((P[:, None, :] - C[None, :, :]) ** 2).sum(-1).argmin(1)
            sw = np.bincount(lab, weights=w, minlength=k)
            sx = np.bincount(lab, weights=w * P[:, 0], minlength=k)
            sy = np.bincount(lab, weights=w * P[:, 1], minlength=k)
            has = sw > 0
            C[has] = np.column_stack([sx[has] / sw[has], sy[has] / sw[has]])
        return C, ((P[:, None, :] - C[None, :, :]) ** 2).sum(-1).argmin(1)

    idx = [rng.choice(len(P), p=w / w.sum())]
    for _ in range(1, k):
        d2 = ((P[:, None, :] - P[idx][None, :, :]) ** 2).sum(-1).min(1)
        pr = w * d2
        idx.append(rng.choice(len(P), p=pr / pr.sum()))
    C, lab = lloyd(P[idx].astype(float), 20)
    best = (-1.0, C.copy())
    for _ in range(60):
        load = np.bincount(lab, weights=load_w, minlength=k)
        if load.min() > best[0]:
            best = (load.min(), C.copy())
        if load.min() >= min_load:
            break
        small, big = int(load.argmin()), int(load.argmax())
        members = np.flatnonzero((lab == big) & (load_w > 0))
        C[small] = P[rng.choice(members, p=load_w[members] / load_w[members].sum())] + rng.normal(0, 5, 2)
        C, lab = lloyd(C, 6)
    return best[1]


def bisect(cx, cy, lox, hix, loy, hiy, hh, box, k, flip=False, margin=1.5):
    """Household-balanced recursive bisection with axis-parallel cuts placed where
    they cross few buildings.  Returns (leaves, nodes, dropped) where leaves are
    (box, idx) and nodes are (axis, cut, box, left_child, right_child) with
    children encoded as ('L', leaf_no) / ('N', node_no)."""
    leaves: list[tuple] = []
    nodes: list[tuple] = []
    dropped: list[np.ndarray] = []

    def rec(idx: np.ndarray, bx: tuple, k: int):
        # never ask for more cells than the households support (~280+ each)
        tot = hh[idx].sum()
        k = 1 if tot <= 620 else min(k, max(1, int(tot // 280)))
        if k == 1 or len(idx) < 2:
            leaves.append((bx, idx))
            return ("L", len(leaves) - 1)
        axis = 0 if (bx[2] - bx[0]) >= (bx[3] - bx[1]) else 1
        if flip and len(nodes) == 0:  # alternative: first cut along the other axis
            axis = 1 - axis
        cc, lo, hi = (cx, lox, hix) if axis == 0 else (cy, loy, hiy)
        k1 = k // 2
        ci, hi_i, lo_i, hh_i = cc[idx], hi[idx], lo[idx], hh[idx]
        order = np.argsort(ci, kind="stable")
        cs = ci[order]
        cand = (cs[:-1] + cs[1:]) / 2
        o_lo = np.argsort(lo_i, kind="stable")
        o_hi = np.argsort(hi_i, kind="stable")
        los, his = lo_i[o_lo], hi_i[o_hi]
        cl = np.concatenate([[0], np.cumsum(hh_i[o_lo])])
        ch = np.concatenate([[0], np.cumsum(hh_i[o_hi])])
        na = np.searchsorted(los, cand + margin, side="left")  # lo < cut+m: not wholly right
        nb = np.searchsorted(his, cand - margin, side="right")  # hi <= cut-m: wholly left
        st_n = na - nb
        st_hh = cl[na] - ch[nb]
        kept_left = ch[nb]
        kept = hh_i.sum() - st_hh
        # inside a band prefer cuts that cross no building; outside it, balance wins
        diff = np.abs(kept_left - kept * k1 / k)
        band = max(0.05 * hh_i.sum(), 30.0)
        score = diff + 10 * np.maximum(0, diff - band) + 3 * st_hh + 15 * st_n
        j = int(np.argmin(score))
        cut = float(cand[j])
        strad = (lo_i < cut + margin) & (hi_i > cut - margin)
        dropped.append(idx[strad])
        left = idx[~strad & (ci < cut)]
        right = idx[~strad & (ci >= cut)]
        if axis == 0:
            bl, br = (bx[0], bx[1], cut, bx[3]), (cut, bx[1], bx[2], bx[3])
        else:
            bl, br = (bx[0], bx[1], bx[2], cut), (bx[0], cut, bx[2], bx[3])
        me = len(nodes)
        nodes.append(None)
        lc = rec(left, bl, k1)
        rc = rec(right, br, k - k1)
        nodes[me] = (axis, cut, bx, lc, rc)
        return ("N", me)

    rec(np.arange(len(cx)), box, k)
    return leaves, nodes, (np.concatenate(dropped) if dropped else np.array([], dtype=int))


# ---------------------------------------------------------------------------------
def build_world(seed: int, limit_streets: int | None, t0: float, verbose: bool = True) -> World:
    say = (lambda m: log(m, t0)) if verbose else (lambda m: None)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0]))
    district_deg, streets, comms = load_sources()
    district_m = to_m(district_deg)
    ext = shapely.buffer(shapely.envelope(district_m), 500)

    # streets: Voronoi of approximate real centres (jittered)
    sx, sy = xy_to_m(*np.array([STREET_SITES[c] for c in streets.code]).T)
    sx = sx + rng.normal(0, 60, len(sx))
    sy = sy + rng.normal(0, 60, len(sy))
    s_cells = voronoi_cells(sx, sy, ext)
    s_regions = shapely.intersection(s_cells, district_m)
    if limit_streets:  # tiny world for tests: the first N streets only
        streets = streets.iloc[:limit_streets].copy()
        sx, sy, s_cells = sx[:limit_streets], sy[:limit_streets], s_cells[:limit_streets]
        s_regions = s_regions[:limit_streets]
        comms = comms[comms.street_code.isin(streets.code)].reset_index(drop=True)
        district_m = shapely.union_all(s_regions)
        district_deg = to_deg(district_m)
    streets["name_en"] = [f"{pinyin(n.removesuffix('街道'))} Subdistrict" for n in streets.name]
    streets["site_x"], streets["site_y"] = sx, sy

    # roads & parks
    rl = []
    for _name, a, b_, c, d, _w in ROADS:
        (x0, x1), (y0, y1) = xy_to_m(np.array([a, c]), np.array([b_, d]))
        rl.append(shapely.linestrings([[x0, y0], [x1, y1]]))
    roads_m = np.array(rl)
    widths = np.array([r[5] for r in ROADS], dtype=float)
    roads_poly = shapely.buffer(roads_m, widths / 2, cap_style="flat")
    roads_union = shapely.intersection(shapely.union_all(roads_poly), district_m)
    roads_buf = shapely.union_all(shapely.buffer(roads_m, widths / 2 + 3, cap_style="flat"))
    parks = []
    for _n, a, b_, c, d in PARKS:
        (x0, x1), (y0, y1) = xy_to_m(np.array([a, c]), np.array([b_, d]))
        parks.append(shapely.box(x0, y0, x1, y1))
    parks_m = shapely.union_all(parks)

    bld = make_buildings(rng, district_m, roads_buf, parks_m)
    say(f"buildings laid out: {len(bld):,} footprints, {bld.households.sum():,} households")

    # --- assign to streets, drop footprints on a street edge
    bx, by = bld.cx.to_numpy(), bld.cy.to_numpy()
    si = ((bx[:, None] - sx[None]) ** 2 + (by[:, None] - sy[None]) ** 2).argmin(1)
    d = shapely.distance(bld.geom_m.to_numpy(), shapely.boundary(s_cells[si]))
    ok = d > 1.5
    bld = bld[ok].reset_index(drop=True)
    bld["street"] = si[ok]

    # --- communities: balanced weighted k-means per street
    comms["name_en"] = [f"{pinyin(n.removesuffix('社区'))} Community" for n in comms.name]
    comms.loc[comms.name_en == " Community", "name_en"] = "Community " + comms.code
    csx = np.zeros(len(comms))
    csy = np.zeros(len(comms))
    comm_idx = np.full(len(bld), -1)
    c_cells = np.empty(len(comms), dtype=object)
    for s in range(len(streets)):
        ci = np.flatnonzero(comms.street_code.to_numpy() == streets.code.iloc[s])
        bi = np.flatnonzero(bld.street.to_numpy() == s)
        region = s_regions[s]
        # uniform background points so parks/empty land are shared out sensibly
        minx, miny, maxx, maxy = shapely.bounds(region)
        u = rng.uniform([minx, miny], [maxx, maxy], (600, 2))
        u = u[shapely.contains_xy(region, u[:, 0], u[:, 1])]
        P = np.vstack([np.column_stack([bx[ok][bi], by[ok][bi]]), u])
        hh_b = bld.households.to_numpy()[bi].astype(float) + 1.0
        w = np.concatenate([hh_b, np.full(len(u), 0.12 * hh_b.sum() / max(len(u), 1))])
        load_w = np.concatenate([hh_b - 1.0, np.zeros(len(u))])
        C = weighted_kmeans(rng, P, w, load_w, len(ci), min_load=max(350.0, 0.35 * load_w.sum() / len(ci)))
        # codes → sites in reading order (north→south rows of ~500 m, west→east)
        row = np.floor((C[:, 1].max() - C[:, 1]) / 500)
        order = np.lexsort((C[:, 0], row))
        C = C[order]
        csx[ci], csy[ci] = C[:, 0], C[:, 1]
        cells = voronoi_cells(C[:, 0], C[:, 1], ext)
        c_cells[ci] = cells
        PB = np.column_stack([bld.cx.to_numpy()[bi], bld.cy.to_numpy()[bi]])
        lab = ((PB[:, None, :] - C[None]) ** 2).sum(-1).argmin(1)
        comm_idx[bi] = ci[lab]
    comms["site_x"], comms["site_y"] = csx, csy
    c_regions = np.array(
        [
            shapely.intersection(
                c_cells[i], s_regions[np.flatnonzero(streets.code.to_numpy() == comms.street_code.iloc[i])[0]]
            )
            for i in range(len(comms))
        ]
    )
    comms["region_m"] = c_regions
    d = shapely.distance(bld.geom_m.to_numpy(), shapely.boundary(c_cells[comm_idx]))
    ok2 = d > 1.5
    bld["comm"] = comm_idx
    bld = bld[ok2].reset_index(drop=True)
    # a community that ended up nearly empty (mostly park) gets denser housing, so
    # that even a single-grid community meets the household norm
    for attempt in range(5):
        hh_c = np.bincount(bld.comm, weights=bld.households, minlength=len(comms))
        thin_c = np.isin(bld.comm.to_numpy(), np.flatnonzero(hh_c < 220))
        if not thin_c.any():
            break
        if attempt >= 3:  # still thin: offices/shops there become walk-ups
            conv = thin_c & bld.kind.isin(["office", "commercial"]).to_numpy()
            bld.loc[conv, ["sub", "kind", "floors", "units", "hpf"]] = ["walkup", "residential", 6, 2, 2]
        thin = thin_c & (bld.households.to_numpy() > 0)
        cap = np.where(bld["sub"].to_numpy() == "courtyard", 3, 4)
        bld.loc[thin, "hpf"] = np.minimum(bld.hpf.to_numpy()[thin] + 1, cap[thin])
        bld["households"] = bld.floors * bld.units * bld.hpf
        bld["population"] = np.maximum(bld.households, np.round(bld.households * 2.4)).astype(np.int64)
    hh_c = np.bincount(bld.comm, weights=bld.households, minlength=len(comms))
    say(
        f"{len(streets)} streets, {len(comms)} communities "
        f"(households per community {hh_c.min():.0f}–{hh_c.max():.0f}); {len(bld):,} buildings kept"
    )

    # --- grids: balanced bisection per community
    g = bld.geom_m.to_numpy()
    bb = shapely.bounds(g)
    bld["lox"], bld["loy"], bld["hix"], bld["hiy"] = bb[:, 0], bb[:, 1], bb[:, 2], bb[:, 3]
    leaf_rows = []
    node_rows = []
    drop_all = []
    leaf_of = np.full(len(bld), -1)
    for c in range(len(comms)):
        bi = np.flatnonzero(bld.comm.to_numpy() == c)
        sub = bld.iloc[bi]
        H = sub.households.sum()
        minx, miny, maxx, maxy = shapely.bounds(c_regions[c])
        box0 = (minx - 5, miny - 5, maxx + 5, maxy + 5)
        k0 = max(1, int(round(H / HH_TARGET)))
        best = None
        for k, flip in [(k0, False), (k0, True), (k0 + 1, False), (max(1, k0 - 1), False), (k0 + 1, True)]:
            lv, nd, dr = bisect(
                sub.cx.to_numpy(),
                sub.cy.to_numpy(),
                sub.lox.to_numpy(),
                sub.hix.to_numpy(),
                sub.loy.to_numpy(),
                sub.hiy.to_numpy(),
                sub.households.to_numpy(),
                box0,
                k,
                flip,
            )
            sums = np.array([sub.households.to_numpy()[ix].sum() for _, ix in lv])
            bad = np.maximum(0, 170 - sums).sum() + np.maximum(0, sums - 620).sum()
            if best is None or bad < best[0]:
                best = (bad, lv, nd, dr)
            if bad == 0:
                break
        _, lv, nd, dr = best
        base = len(leaf_rows)
        for j, (bx_, ix) in enumerate(lv):
            leaf_of[bi[ix]] = base + j
            leaf_rows.append({"comm": c, "box": bx_})
        nbase = len(node_rows)

        def enc(ch, base=base, nbase=nbase):
            return ("L", base + ch[1]) if ch[0] == "L" else ("N", nbase + ch[1])

        for axis, cut, bx_, lc, rc in nd:
            node_rows.append({"comm": c, "axis": axis, "cut": cut, "box": bx_, "left": enc(lc), "right": enc(rc)})
        drop_all.append(bi[dr])
    leaves = pd.DataFrame(leaf_rows)
    nodes = pd.DataFrame(node_rows)
    bld["leaf"] = leaf_of
    bld = bld[bld.leaf >= 0].reset_index(drop=True)
    leaves["poly_m"] = shapely.intersection(
        c_regions[leaves.comm.to_numpy()], shapely.box(*np.array(leaves.box.tolist()).T)
    )
    say(f"{len(leaves)} grid cells by balanced bisection; {len(bld):,} buildings kept")

    w = World(
        district_m=district_m,
        roads_m=roads_m,
        road_names=[r[0] for r in ROADS],
        roads_union_m=roads_union,
        streets=streets,
        communities=comms,
        b=bld,
        leaves=leaves,
    )
    w.nodes = nodes
    w.s_cells, w.c_cells, w.s_regions = s_cells, c_cells, s_regions
    w.district_deg = district_deg
    w.parks_m = parks_m
    plant_defects(rng, w, say)
    polygonize_partition(w, say)
    finish_buildings(rng, w)
    verify_world(w, say)
    return w


# ---------------------------------------------------------------------------------
def _hh_by_leaf(w: World) -> np.ndarray:
    return np.bincount(w.b.leaf, weights=w.b.households, minlength=len(w.leaves))


def plant_defects(rng: np.random.Generator, w: World, say) -> None:
    """Plant exactly four coverage defects (metric frame); the geometric edits to
    grid polygons happen after polygonisation (see polygonize_partition)."""
    w.b["split"] = False
    b, leaves, nodes = w.b, w.leaves, w.nodes
    used: set[int] = set()
    tree = STRtree(b.geom_m.to_numpy())
    hh_leaf = _hh_by_leaf(w)

    # 4. over-loaded grid: merge the leaves of the smallest subtree with > 900 hh
    def subtree_leaves(ch) -> list[int]:
        if ch[0] == "L":
            return [ch[1]]
        r = nodes.iloc[ch[1]]
        return subtree_leaves(r.left) + subtree_leaves(r.right)

    cands = []
    for ni in range(len(nodes)):
        lv = subtree_leaves(("N", ni))
        s = hh_leaf[lv].sum()
        if s > OVERLOADED_MIN + 20:
            cands.append((s, ni, lv))
    merged = None
    if cands:
        s, ni, lv = min(cands, key=lambda t: (t[0], t[1]))
        keep_leaf = lv[0]
        b.loc[b.leaf.isin(lv), "leaf"] = keep_leaf
        leaves["merged_into"] = np.arange(len(leaves))
        leaves.loc[lv, "merged_into"] = keep_leaf
        used.add(int(leaves.comm.iloc[keep_leaf]))
        merged = keep_leaf
        say(f"planted over-loaded grid: {len(lv)} cells merged, {int(s)} households")
    else:
        leaves["merged_into"] = np.arange(len(leaves))
        say("WARNING: no subtree with > 900 households; over-loaded grid not planted")
    w.defects["overloaded_leaf"] = merged
    alive = leaves.merged_into.to_numpy() == np.arange(len(leaves))
    hh_leaf = _hh_by_leaf(w)

    # sibling leaf pairs (share a straight cut) for overlap and split building
    pairs = []
    for ni, r in nodes.iterrows():
        if r.left[0] == "L" and r.right[0] == "L":
            a, c = r.left[1], r.right[1]
            if alive[a] and alive[c] and merged not in (a, c):
                bx = r.box
                if r.axis == 0:
                    ln = shapely.linestrings([[r.cut, bx[1]], [r.cut, bx[3]]])
                else:
                    ln = shapely.linestrings([[bx[0], r.cut], [bx[2], r.cut]])
                seg = shapely.intersection(ln, leaves.poly_m.iloc[a].buffer(0.01))
                parts = [p for p in shapely.get_parts(seg) if p.geom_type == "LineString"]
                if parts:
                    longest = max(parts, key=lambda p: p.length)
                    pairs.append((ni, a, c, int(r.axis), float(r.cut), longest))
    order = rng.permutation(len(pairs))
    pairs = [pairs[i] for i in order]

    def rect_on_cut(axis, cut, mid, along, lo_off, hi_off):
        if axis == 0:
            return shapely.box(cut + lo_off, mid - along / 2, cut + hi_off, mid + along / 2)
        return shapely.box(mid - along / 2, cut + lo_off, mid + along / 2, cut + hi_off)

    # 2. overlap: left leaf a extended into right leaf c by a strip along the cut
    w.defects["overlap"] = None
    for _ni, a, c, axis, cut, seg in pairs:
        comm = int(leaves.comm.iloc[a])
        if comm in used or seg.length < 120:
            continue
        mid_pt = seg.interpolate(0.5, normalized=True)
        mid = mid_pt.y if axis == 0 else mid_pt.x
        along = min(140.0, seg.length * 0.6)
        depth = 5000.0 / along
        strip = shapely.intersection(rect_on_cut(axis, cut, mid, along, 0, depth), leaves.poly_m.iloc[c])
        hits = tree.query(shapely.buffer(strip, 2.0), predicate="intersects")
        lost = b.households.to_numpy()[hits].sum()
        if not (2500 <= strip.area <= 9000) or hh_leaf[c] - lost < HH_MIN + 20:
            continue
        b = w.b = b.drop(index=b.index[hits])
        w.defects["overlap"] = {"into": c, "from": a, "strip_m": strip, "removed": len(hits)}
        used.add(comm)
        say(f"planted overlap: strip {strip.area:,.0f} m², {len(hits)} buildings removed")
        break

    # 3. split building: a new walk-up straddling a cut, 60 % on the left side
    w.defects["split"] = None
    for _ni, a, c, axis, cut, seg in pairs:
        comm = int(leaves.comm.iloc[a])
        if comm in used or seg.length < 80:
            continue
        mid_pt = seg.interpolate(0.5, normalized=True)
        mid = mid_pt.y if axis == 0 else mid_pt.x
        across, along = 20.0, 30.0  # 12 m on side a (left/below), 8 m on side c
        fp = rect_on_cut(axis, cut, mid, along, -12.0, 8.0)
        if not shapely.contains(shapely.union(leaves.poly_m.iloc[a], leaves.poly_m.iloc[c]).buffer(-3), fp):
            continue
        hits = tree.query(shapely.buffer(fp, 4), predicate="intersects")
        hits = hits[np.isin(hits, b.index.to_numpy())]
        if b.households.to_numpy()[np.searchsorted(b.index.to_numpy(), hits)].sum() > 60:
            continue
        b = w.b = b.drop(index=hits)
        cxy = shapely.centroid(fp)
        nb_ = int(np.argmin((b.cx.to_numpy() - cxy.x) ** 2 + (b.cy.to_numpy() - cxy.y) ** 2))
        row = {c_: None for c_ in b.columns}
        row.update(
            {
                "cx": cxy.x,
                "cy": cxy.y,
                "w": along if axis == 1 else across,
                "h": across if axis == 1 else along,
                "rot": 0.0,
                "sub": "walkup",
                "block": b.block.iloc[nb_],
                "slot": b.slot.iloc[nb_],
                "bix": b.bix.iloc[nb_],
                "biy": b.biy.iloc[nb_],
                "zone": b.zone.iloc[nb_],
                "geom_m": fp,
                "kind": "residential",
                "floors": 6,
                "units": 2,
                "hpf": 2,
                "households": 24,
                "population": 58,
                "street": int(b.street[b.comm == comm].iloc[0]),
                "comm": comm,
                "leaf": a,
                "split": True,
            }
        )
        b.loc[b.index.max() + 1] = row
        w.defects["split"] = {"a": a, "c": c, "removed": len(hits)}
        used.add(comm)
        say(f"planted split building on the edge between two grids ({len(hits)} removed)")
        break

    # 1. gap: a ~100 x 100 m hole inside one grid, placed where there are no buildings
    w.defects["gap"] = None
    best = None
    order = rng.permutation(len(leaves))
    for li in order:
        if not alive[li] or int(leaves.comm.iloc[li]) in used:
            continue
        poly = shapely.buffer(leaves.poly_m.iloc[li], -60)
        if poly.is_empty or poly.area < 2e4:
            continue
        pts = shapely.points(rng.uniform(shapely.bounds(poly)[:2], shapely.bounds(poly)[2:], (40, 2)))
        pts = pts[shapely.contains(poly, pts)]
        for p in pts:
            hole = shapely.box(p.x - 50, p.y - 50, p.x + 50, p.y + 50)
            hits = tree.query(shapely.buffer(hole, 2.0), predicate="intersects")
            hits = hits[np.isin(hits, b.index.to_numpy())]
            nh = len(hits)
            if best is None or nh < best[0]:
                best = (nh, li, hole, hits)
            if nh == 0:
                break
        if best is not None and best[0] == 0:
            break
    if best is not None:
        nh, li, hole, hits = best
        b = w.b = b.drop(index=hits)
        w.defects["gap"] = {"leaf": int(li), "hole_m": hole, "removed": int(nh)}
        say(f"planted gap: {hole.area:,.0f} m² hole, {nh} buildings removed")
    w.b = b.reset_index(drop=True)
    w.b["split"] = w.b["split"].astype(bool)


# ---------------------------------------------------------------------------------
def polygonize_partition(w: World, say) -> None:
    """Node every partition edge (district ring, street and community Voronoi
    edges, grid cuts) on the 1e-7° grid, polygonise into faces, label each face
    with (street, community, grid) and union faces per grid.  Shared edges are the
    very same noded segments on both sides, so the tiling is exact."""
    comms, leaves = w.communities, w.leaves
    lines = [shapely.boundary(w.district_deg)]
    lines += [to_deg(shapely.boundary(c), rnd=False) for c in w.s_cells]
    for i in range(len(comms)):
        s = np.flatnonzero(w.streets.code.to_numpy() == comms.street_code.iloc[i])[0]
        lines.append(
            to_deg(shapely.intersection(shapely.boundary(w.c_cells[i]), shapely.buffer(w.s_regions[s], 20)), rnd=False)
        )
    for li in range(len(leaves)):
        c = leaves.comm.iloc[li]
        lines.append(
            to_deg(
                shapely.intersection(
                    shapely.boundary(shapely.box(*leaves.box.iloc[li])), shapely.buffer(comms.region_m.iloc[c], 20)
                ),
                rnd=False,
            )
        )
    noded = shapely.union_all(np.array(lines), grid_size=GRID_SIZE)
    faces = np.array(shapely.get_parts(shapely.polygonize(shapely.get_parts(noded))))
    rep = shapely.point_on_surface(faces)
    shapely.prepare(w.district_deg)
    inside = shapely.contains(w.district_deg, rep)
    faces, rep = faces[inside], rep[inside]
    rx, ry = xy_to_m(shapely.get_x(rep), shapely.get_y(rep))
    st = w.streets
    fs = ((rx[:, None] - st.site_x.to_numpy()[None]) ** 2 + (ry[:, None] - st.site_y.to_numpy()[None]) ** 2).argmin(1)
    fc = np.full(len(faces), -1)
    sc = comms.street_code.to_numpy()
    for s in range(len(st)):
        ci = np.flatnonzero(sc == st.code.iloc[s])
        m = fs == s
        cx_, cy_ = comms.site_x.to_numpy()[ci], comms.site_y.to_numpy()[ci]
        d2 = (rx[m, None] - cx_[None]) ** 2 + (ry[m, None] - cy_[None]) ** 2
        fc[m] = ci[d2.argmin(1)]
    fl = np.full(len(faces), -1)
    boxes = np.array(leaves.box.tolist())
    lc = leaves.comm.to_numpy()
    for c in range(len(comms)):
        li = np.flatnonzero(lc == c)
        m = np.flatnonzero(fc == c)
        bx = boxes[li]
        inb = (
            (rx[m, None] >= bx[None, :, 0])
            & (rx[m, None] <= bx[None, :, 2])
            & (ry[m, None] >= bx[None, :, 1])
            & (ry[m, None] <= bx[None, :, 3])
        )
        assert inb.any(1).all(), "face outside every grid box"
        fl[m] = li[inb.argmax(1)]
    fl = leaves.merged_into.to_numpy()[fl]
    say(f"partition: {len(faces):,} faces from noded edges")

    alive = np.flatnonzero(leaves.merged_into.to_numpy() == np.arange(len(leaves)))
    grid_geom = {}
    order = np.argsort(fl, kind="stable")
    splits = np.split(order, np.flatnonzero(np.diff(fl[order])) + 1)
    for grp in splits:
        grid_geom[int(fl[grp[0]])] = shapely.union_all(faces[grp], grid_size=GRID_SIZE)
    assert set(grid_geom) == set(alive.tolist()), "grid without faces"
    comm_geom = np.empty(len(comms), dtype=object)
    for c in range(len(comms)):
        comm_geom[c] = shapely.union_all(faces[fc == c], grid_size=GRID_SIZE)
    street_geom = np.empty(len(st), dtype=object)
    for s in range(len(st)):
        street_geom[s] = shapely.union_all(faces[fs == s], grid_size=GRID_SIZE)
    w.district_geom = shapely.union_all(faces, grid_size=GRID_SIZE)
    w.comm_geom, w.street_geom = comm_geom, street_geom

    # apply planted geometric defects
    if w.defects.get("gap"):
        li = w.defects["gap"]["leaf"]
        hole = to_deg(w.defects["gap"]["hole_m"])
        grid_geom[li] = shapely.difference(grid_geom[li], hole, grid_size=GRID_SIZE)
        w.defects["gap"]["hole_deg"] = hole
    if w.defects.get("overlap"):
        a, c = w.defects["overlap"]["from"], w.defects["overlap"]["into"]
        strip = shapely.intersection(
            grid_geom[c], to_deg(w.defects["overlap"]["strip_m"].buffer(0.5)), grid_size=GRID_SIZE
        )
        grid_geom[a] = shapely.union(grid_geom[a], strip, grid_size=GRID_SIZE)
        w.defects["overlap"]["strip_deg"] = strip

    # grid numbering: rows of ROW_HEIGHT_DEG from the northernmost centroid, then west→east
    g = leaves.loc[alive].copy()
    g["geom"] = [grid_geom[i] for i in alive]
    cen = shapely.centroid(g.geom.to_numpy())
    g["clon"], g["clat"] = shapely.get_x(cen), shapely.get_y(cen)
    g["top"] = g.groupby("comm").clat.transform("max")
    g["row"] = np.floor((g.top - g.clat) / ROW_HEIGHT_DEG).astype(int)
    g = g.sort_values(["comm", "row", "clon"], kind="stable")
    g["seq"] = g.groupby("comm").cumcount() + 1
    g["leaf"] = g.index
    w.grids = g.reset_index(drop=True)


def finish_buildings(rng: np.random.Generator, w: World) -> None:
    """Addresses and codes; households rolled up to grids."""
    b = w.b
    # Names only from the street the building is in (sample_data/places.py): 王府井大街 stays in 东华门.
    street = np.array([c[-3:] for c in w.streets.code], dtype=object)[b.street.to_numpy()]
    roads_of = PLACES.streets_of(PLACES.ROADS)
    hutongs_of = PLACES.streets_of(PLACES.HUTONGS)
    estates_of = PLACES.streets_of(PLACES.ESTATES)
    # non-residential and split buildings: a street number on the nearest main road of their street
    d = shapely.distance(b.geom_m.to_numpy()[:, None], w.roads_m[None, :])
    allowed = np.array([[name in roads_of[s_] for name in w.road_names] for s_ in street], dtype=bool).reshape(d.shape)
    d = np.where(allowed, d, np.inf)
    road = d.argmin(1)
    own = np.array([roads_of[s_][int(k) % len(roads_of[s_])] for s_, k in zip(street, b.block, strict=True)],
                   dtype=object)
    b["road"] = np.where(d[np.arange(len(b)), road] <= ROAD_ADDRESS_MAX_M, np.array(w.road_names)[road], own)
    # courtyards: a hutong serves two slot rows (north side even, south side odd
    # numbers) and runs across three blocks; numbering continues per name and side
    crow = np.where(b["sub"].to_numpy() == "courtyard", b.slot.to_numpy() // 6, 0)
    key = (b.biy.to_numpy() * 10 + crow // 2) * 10_000 + b.bix.to_numpy() // 3
    uk, inv = np.unique(key, return_inverse=True)
    perm = rng.permutation(len(uk))
    # the name is the building's street's (a hutong group crossing a street edge changes name there)
    b["hutong"] = np.array([hutongs_of[s_][int(k) % len(hutongs_of[s_])] for s_, k in zip(street, perm[inv],
                                                                                           strict=True)],
                           dtype=object)
    b["hside"] = crow % 2
    # estates per block
    ub, binv = np.unique(b.block.to_numpy(), return_inverse=True)
    pick = rng.integers(0, ESTATE_DRAW_BOUND, len(ub))[binv]
    suffix = np.array(ESTATE_SUFFIX)[rng.integers(0, len(ESTATE_SUFFIX), len(ub))].astype(object)[binv]
    b["estate"] = np.array([estates_of[s_][int(k) % len(estates_of[s_])] for s_, k in zip(street, pick, strict=True)],
                           dtype=object) + suffix
    b = b.sort_values(["biy", "bix", "slot"], kind="stable").reset_index(drop=True)
    resid = b["sub"].isin(["walkup", "tower"]).to_numpy()
    court = (b["sub"] == "courtyard").to_numpy()
    other = ~resid & ~court
    addr = np.empty(len(b), dtype=object)
    n = b[court].groupby(["hutong", "hside"]).cumcount().to_numpy() + 1
    num = n * 2 - 1 + b.hside[court].to_numpy()
    addr[court] = "北京市东城区" + b.hutong[court].to_numpy() + num.astype(str) + "号"
    n = b[resid].groupby("estate").cumcount().to_numpy() + 1
    addr[resid] = b.estate[resid].to_numpy() + n.astype(str) + "号楼"
    n = b[other].groupby("road").cumcount().to_numpy() + 1
    addr[other] = "北京市东城区" + b.road[other].to_numpy() + (n * 2 + 1).astype(str) + "号"
    b["address"] = addr
    b["code"] = [f"110101{i:07d}" for i in range(1, len(b) + 1)]
    b["geom"] = to_deg(b.geom_m.to_numpy())
    leaf2grid = dict(zip(w.grids.leaf, range(len(w.grids)), strict=True))
    b["grid"] = b.leaf.map(leaf2grid).to_numpy()
    w.b = b
    gh = np.bincount(b.grid, weights=b.households, minlength=len(w.grids)).astype(np.int64)
    gp = np.bincount(b.grid, weights=b.population, minlength=len(w.grids)).astype(np.int64)
    w.grids["households"], w.grids["population"] = gh, gp


def verify_world(w: World, say) -> None:
    """Assert the invariants the README promises (everything clean except the
    four planted defects)."""
    g, b = w.grids, w.b
    geoms = g.geom.to_numpy()
    assert shapely.is_valid(geoms).all() and shapely.is_valid(w.comm_geom).all()
    assert shapely.is_valid(w.street_geom).all() and shapely.is_valid(w.district_geom)
    assert shapely.is_valid(b.geom.to_numpy()).all()
    # streets/communities tile their parents
    assert abs(area_m2(shapely.union_all(w.street_geom)) - area_m2(w.district_geom)) < 1
    assert abs(area_m2(w.street_geom).sum() - area_m2(w.district_geom)) < 1
    assert abs(area_m2(w.comm_geom).sum() - area_m2(w.district_geom)) < 1
    gap_leaf = (w.defects.get("gap") or {}).get("leaf")
    ov = w.defects.get("overlap") or {}
    special = {gap_leaf, ov.get("from"), ov.get("into")} - {None}
    for c in range(len(w.communities)):
        gi = np.flatnonzero(g.comm.to_numpy() == c)
        if set(g.leaf.to_numpy()[gi]) & special:
            continue
        assert shapely.coverage_is_valid(geoms[gi]), f"community {c}: grids not a clean coverage"
        diff = area_m2(shapely.symmetric_difference(shapely.union_all(geoms[gi]), w.comm_geom[c]))
        assert diff < 0.01, f"community {c}: grids do not tile ({diff} m²)"
    # buildings: each within exactly one grid, except the split one
    tree = STRtree(geoms)
    bi, gi = tree.query(b.geom.to_numpy(), predicate="intersects")
    inter = area_m2(shapely.intersection(b.geom.to_numpy()[bi], geoms[gi]))
    real = inter > 0.01
    cnt = np.bincount(bi[real], minlength=len(b))
    within = tree.query(b.geom.to_numpy(), predicate="within")
    wcnt = np.bincount(within[0], minlength=len(b))
    split = b.split.to_numpy()
    if not ((cnt[~split] == 1).all() and (wcnt[~split] == 1).all()):
        badb = np.flatnonzero(((cnt != 1) | (wcnt != 1)) & ~split)
        raise AssertionError(f"{len(badb)} buildings straddle a grid edge: {badb[:10]}")
    assert (cnt[split] == 2).all()
    # no overlapping footprints
    pi, pj = STRtree(b.geom.to_numpy()).query(b.geom.to_numpy(), predicate="intersects")
    assert (pi == pj).all(), "overlapping footprints"
    hh = g.households.to_numpy()
    over = g.leaf.to_numpy() == w.defects.get("overloaded_leaf")
    assert ((hh >= HH_MIN) & (hh <= HH_MAX))[~over].all(), (
        f"grid household norm violated: {np.sort(hh[~over])[:5]} … {np.sort(hh[~over])[-5:]}"
    )
    assert (hh[over] > OVERLOADED_MIN).all()
    say(
        f"verified: {len(g)} grids, households per grid {hh[~over].min()}–{hh[~over].max()} "
        f"(median {np.median(hh):.0f}); planted defects only"
    )


# ---------------------------------------------------------------------------------
def layers_deg(w: World) -> dict[str, gpd.GeoDataFrame]:
    """World → output layers (copy 0, district 110101)."""

    def multi(geoms):
        return np.array([shapely.multipolygons(shapely.get_parts(x)) for x in geoms], dtype=object)

    out = {}
    out["district"] = gpd.GeoDataFrame(
        {"code": ["110101"], "name": ["东城区"], "name_en": ["Dongcheng District"]},
        geometry=multi([w.district_geom]),
        crs="EPSG:4326",
    )
    st = w.streets
    out["streets"] = gpd.GeoDataFrame(
        {"code": st.code, "name": st.name, "name_en": st.name_en}, geometry=multi(w.street_geom), crs="EPSG:4326"
    )
    cm = w.communities
    out["communities"] = gpd.GeoDataFrame(
        {"code": cm.code, "name": cm.name, "name_en": cm.name_en, "street_code": cm.street_code},
        geometry=multi(w.comm_geom),
        crs="EPSG:4326",
    )
    g = w.grids
    cc = cm.code.to_numpy()[g.comm]
    cn = cm.name.to_numpy()[g.comm]
    ce = cm.name_en.to_numpy()[g.comm]
    seq = g.seq.to_numpy()
    out["grids"] = gpd.GeoDataFrame(
        {
            "code": [f"{c}{s:03d}" for c, s in zip(cc, seq, strict=True)],
            "name": [f"{n}第{s}网格" for n, s in zip(cn, seq, strict=True)],
            "name_en": [f"{e} Grid {s}" for e, s in zip(ce, seq, strict=True)],
            "community_code": cc,
            "households": g.households.astype(np.int64),
            "population": g.population.astype(np.int64),
        },
        geometry=multi(g.geom.to_numpy()),
        crs="EPSG:4326",
    )
    b = w.b
    out["buildings"] = gpd.GeoDataFrame(
        {
            "code": b.code,
            "address": b.address,
            "kind": b.kind,
            "floors": b.floors.astype(np.int64),
            "units": b.units.astype(np.int64),
            "households": b.households.astype(np.int64),
            "population": b.population.astype(np.int64),
        },
        geometry=b.geom.to_numpy(),
        crs="EPSG:4326",
    )
    return out


def make_facilities(rng: np.random.Generator, w: World) -> gpd.GeoDataFrame:
    b, cm, st = w.b, w.communities, w.streets
    rows = []
    stem = cm.name.str.removesuffix("社区").to_numpy()
    stem_en = cm.name_en.str.removesuffix(" Community").to_numpy()

    def add(kind, name, name_en, bi):
        rows.append((kind, name, name_en, b.address.iloc[bi], b.geom_m.iloc[bi]))

    for s in range(len(st)):
        sn, se = st.name.iloc[s].removesuffix("街道"), st.name_en.iloc[s].removesuffix(" Subdistrict")
        pool = np.flatnonzero((b.street.to_numpy() == s) & b.kind.isin(["office", "commercial"]).to_numpy())
        if len(pool) < 2:
            pool = np.flatnonzero(b.street.to_numpy() == s)
        pick = rng.choice(pool, 2, replace=False)
        add("party_mass_center", f"{sn}街道党群服务中心", f"{se} Subdistrict Party-Mass Service Center", pick[0])
        add("police", f"{sn}派出所", f"{se} Police Station", pick[1])
    for c in range(len(cm)):
        res = np.flatnonzero((b.comm.to_numpy() == c) & (b.households.to_numpy() > 0))
        if len(res) == 0:
            continue
        for kind, p, zh, en in [
            ("clinic", 0.45, "社区卫生服务站", " Community Health Service Station"),
            ("elderly_care", 0.4, "社区养老驿站", " Community Elderly Care Station"),
            ("kindergarten", 0.25, "幼儿园", " Kindergarten"),
        ]:
            if rng.random() < p:
                add(kind, stem[c] + zh, stem_en[c] + en, int(rng.choice(res)))
    sch = np.flatnonzero((b.kind.to_numpy() == "school") & (b.slot.to_numpy() == 0))
    used: set[int] = set()
    mid_no = iter(rng.permutation(np.arange(2, 200))[: len(sch)])
    for bi in sch:
        c = int(b.comm.iloc[bi])
        if c not in used and rng.random() < 0.65:
            used.add(c)
            add("school", stem[c] + "小学", f"{stem_en[c]} Primary School", bi)
        else:
            n = int(next(mid_no))
            add("school", f"北京市第{n}中学", f"Beijing No. {n} Middle School", bi)
    for bi in np.flatnonzero(b.kind.to_numpy() == "market"):
        c = int(b.comm.iloc[bi])
        add("market", stem[c] + "菜市场", f"{stem_en[c]} Food Market", bi)
    f = pd.DataFrame(rows, columns=["kind", "name", "name_en", "address", "geom_m"])
    # de-duplicate names (two markets in one community) with a suffix
    dup = f.groupby("name").cumcount().to_numpy()
    f.loc[dup > 0, "name"] = f.name[dup > 0] + "(" + (dup[dup > 0] + 1).astype(str) + ")"
    f.loc[dup > 0, "name_en"] = f.name_en[dup > 0] + " " + (dup[dup > 0] + 1).astype(str)
    f["pt_m"] = shapely.centroid(f.geom_m.to_numpy())
    f["bidx"] = [int(np.flatnonzero(b.address.to_numpy() == a)[0]) for a in f.address]
    return f


# ---------------------------------------------------------------------------------
def make_people(
    rng: np.random.Generator, w: World, grid_codes: np.ndarray, bld_codes: np.ndarray, comm_codes_of_grid: np.ndarray
) -> pd.DataFrame:
    """Grid staff, building/unit chiefs, party members and volunteers."""
    g, b = w.grids, w.b
    ng = len(g)
    parts = []

    def frame(role, gi, bi, on):
        return pd.DataFrame({"role": role, "grid": gi, "bldg": bi, "on_duty": on})

    gi = np.arange(ng)
    parts.append(frame("grid_leader", gi, -1, True))
    nw = rng.integers(1, 3, ng)
    gw = np.repeat(gi, nw)
    first = np.concatenate([[True], gw[1:] != gw[:-1]])
    parts.append(frame("grid_worker", gw, -1, first))
    bi = np.flatnonzero((b.households.to_numpy() > 0) & (b.floors.to_numpy() >= 4))
    parts.append(frame("building_chief", b.grid.to_numpy()[bi], bi, False))
    tw = np.flatnonzero(b.floors.to_numpy() >= 10)
    ub = np.repeat(tw, b.units.to_numpy()[tw])
    ub = ub[rng.random(len(ub)) < 0.6]
    parts.append(frame("unit_chief", b.grid.to_numpy()[ub], ub, False))
    # party members and volunteers live in a residential building of the grid
    res = np.flatnonzero(b.households.to_numpy() > 0)
    rg = b.grid.to_numpy()[res]
    order = np.argsort(rg, kind="stable")
    res, rg = res[order], rg[order]
    start = np.searchsorted(rg, gi)
    cnt = np.searchsorted(rg, gi, side="right") - start
    for role, lo, hi in [("party_member", 2, 6), ("volunteer", 2, 7)]:
        k = rng.integers(lo, hi, ng)
        gg = np.repeat(gi, k)
        pick = res[start[gg] + (rng.random(len(gg)) * cnt[gg]).astype(int)]
        parts.append(frame(role, gg, pick, False))
    p = pd.concat(parts, ignore_index=True)
    n = len(p)
    sur = np.array(list(SURNAMES))
    giv = np.array(list(GIVEN))
    sw = 1.0 / (np.arange(len(sur)) + 8)
    name = sur[rng.choice(len(sur), n, p=sw / sw.sum())].astype(object) + giv[rng.integers(0, len(giv), n)]
    two = rng.random(n) < 0.7
    name[two] = name[two] + giv[rng.integers(0, len(giv), two.sum())]
    p["name"] = name
    # fictitious but well-formed: 13x/15x/18x prefix + "000" + 5 digits, unique
    space = len(PHONE_PREFIXES) * 100_000
    ids = rng.choice(space, n, replace=False) if n <= space else rng.integers(0, space, n)
    p["phone"] = (
        np.array(PHONE_PREFIXES)[ids // 100_000].astype(object)
        + "000"
        + pd.Series(ids % 100_000).map("{:05d}".format).to_numpy()
    )
    p["grid_code"] = grid_codes[p.grid.to_numpy()]
    has_b = p.bldg.to_numpy() >= 0
    bc = np.full(n, "", dtype=object)
    bc[has_b] = bld_codes[p.bldg.to_numpy()[has_b]]
    p["building_code"] = bc
    p["community_code"] = comm_codes_of_grid[p.grid.to_numpy()]
    p["on_duty"] = np.where(p.on_duty.to_numpy().astype(bool), "true", "false")
    return p[["name", "role", "phone", "grid_code", "building_code", "community_code", "on_duty"]]


# ---------------------------------------------------------------------------------
SOURCE_P = {"hotline_12345": 0.45, "mini_program": 0.25, "field_app": 0.20, "patrol": 0.10}
SOURCE_PREFIX = {"hotline_12345": "12345", "mini_program": "MP", "field_app": "APP", "patrol": "XC"}
HOUR_P = np.array(
    [
        0.3,
        0.2,
        0.15,
        0.1,
        0.1,
        0.2,
        0.6,
        1.5,
        3.0,
        4.5,
        5.0,
        4.6,
        3.0,
        2.8,
        4.2,
        4.6,
        4.4,
        3.8,
        2.8,
        2.2,
        1.8,
        1.4,
        0.9,
        0.5,
    ]
)
# spatial components: name → share of in-district reports
COMPONENTS = {"housing": 0.44, "market": 0.12, "school": 0.06, "road": 0.24, "background": 0.14}
MAJOR_W = {  # base weight per major class; multiplied per component below
    "E01": 30,
    "E04": 22,
    "E02": 7,
    "E03": 5,
    "E05": 2.5,
    "E06": 3,
    "C01": 5,
    "C02": 3,
    "C03": 3,
    "C04": 2,
    "C05": 1,
    "C06": 1,
    "G01": 5,
    "G02": 5,
    "G03": 6,
    "G04": 1.5,
}
COMP_MULT = {
    "housing": {"G01": 3, "G02": 3, "G03": 3, "G04": 3, "E04": 0.5, "C02": 0.3, "E03": 1.2},
    "market": {"E04": 2.5, "E01": 1.5, "G01": 0.3, "G02": 0.5, "G03": 0.3, "G04": 0.1},
    "school": {"E04": 2.5, "C02": 2, "G01": 0.2, "G03": 0.2, "G04": 0.1},
    "road": {"C01": 2, "C02": 3, "E04": 1.5, "E05": 2, "E03": 1.5, "G01": 0.05, "G02": 0.2, "G03": 0.1, "G04": 0.05},
    "background": {},
}
SOURCE_MULT = {
    "hotline_12345": {"G01": 2, "G03": 2, "G04": 1.5, "C01": 0.5, "C02": 0.5, "C04": 0.5},
    "mini_program": {},
    "field_app": {"C01": 1.8, "C02": 1.8, "C03": 1.5, "E02": 1.5, "G01": 0.5},
    "patrol": {"C01": 2, "C02": 2, "C03": 2, "E01": 1.5, "E02": 2, "E04": 1.5, "G01": 0.1, "G03": 0.1, "G04": 0.1},
}
MINOR_MULT = {
    "E01002": 3,
    "E01003": 1.5,
    "E01004": 2,
    "E04001": 2,
    "E04002": 2.5,
    "E04004": 2,
    "E04005": 2,
    "E02001": 3,
    "G03004": 1.5,
    "G02002": 1.5,
    "E01001": 0.7,
}
# A working office (issue 24): cases are taken up the day they come in, most are closed within their time
# limit, and what is still open sits mostly in the last days; an overdue tail of about 1 % of the cases is
# left, thicker on purpose in the SLOW grids (see below).
STATUS_BY_AGE = [  # (max age days, {status: p})
    (1, {"reported": 30, "registered": 22, "dispatched": 20, "in_progress": 14, "resolved": 4, "closed": 6,
         "rejected": 2, "returned": 2}),
    (3, {"reported": 0.5, "registered": 1.5, "dispatched": 4, "in_progress": 8, "resolved": 4, "verified": 2,
         "closed": 78, "escalated": 0.3, "returned": 0.2, "rejected": 1.5}),
    (7, {"dispatched": 0.3, "in_progress": 2, "resolved": 1.2, "verified": 0.5, "closed": 93.5, "returned": 0.2,
         "escalated": 0.3, "rejected": 2}),
    (14, {"in_progress": 0.5, "resolved": 0.2, "verified": 0.1, "closed": 96.8, "escalated": 0.3, "returned": 0.1,
          "rejected": 2}),
    (999, {"in_progress": 0.12, "closed": 97.75, "escalated": 0.13, "rejected": 2}),
]
#: Grids that lag on purpose (every SLOW_EVERY-th grid in code order, from SLOW_AT): closed cases of these
#: ages are left open with these probabilities, so their overdue and on-time figures read worse.
SLOW_EVERY, SLOW_AT = 13, 5
SLOW_OPEN = [(3, 7, 0.25), (7, 14, 0.06), (14, 999, 0.01)]
#: Handling time as a multiple of the category's time limit: lognormal, median 0.38, sigma 0.6 (about 5 % late).
DURATION_MEDIAN, DURATION_SIGMA = 0.38, 0.6
#: Follow-up ratings 1..5 (about 93 % rate 4 or 5, near the satisfaction rates Beijing publishes for 12345). The
#: loader turns them into follow-ups (满意 / 基本满意 / 不满意, channel, solved, reopened: api/imports/sample.py).
RATING_P = [0.01, 0.02, 0.04, 0.24, 0.69]
TEMPLATES = [
    "{p}{n}",
    "{p}附近{n}，请尽快处理",
    "居民反映：{p}{n}",
    "{p}一带{n}问题反复出现",
    "{p}{n}，影响居民生活",
    "巡查发现{p}{n}",
]


#: Clock hours a time limit stands for when the history is generated: a working day as a calendar day and a
#: working hour as three clock hours (8 working hours a day). The database computes the real deadline on the
#: working calendar (gridmap_deadline, migration 0024); the generated durations only need the scale.
UNIT_HOURS = {"hours": 1.0, "working_hours": 3.0, "working_days": 24.0}


def load_categories() -> pd.DataFrame:
    cats = pd.read_csv(HERE / "categories.csv", dtype={"time_limit_hours": float})
    unit = cats["time_limit_unit"] if "time_limit_unit" in cats else pd.Series("hours", index=cats.index)
    cats["limit_clock_hours"] = cats["time_limit_hours"] * unit.map(UNIT_HOURS).fillna(1.0)
    return cats


def make_reports(rng: np.random.Generator, w: World, fac: pd.DataFrame, n: int) -> pd.DataFrame:
    """Clustered like real reports: housing (∝ households, old housing heavier),
    markets, school gates at school times, road corridors, background; ~0.5 %
    just outside the boundary and a handful far away (bad geocodes)."""
    cats = load_categories()
    b = w.b
    n_far = max(1, round(n * 0.0002))
    n_out = round(n * 0.005)
    n_in = n - n_out - n_far
    comp = rng.choice(list(COMPONENTS), n_in, p=np.array(list(COMPONENTS.values())))
    X = np.zeros(n_in)
    Y = np.zeros(n_in)
    place = np.empty(n_in, dtype=object)
    # housing
    m = np.flatnonzero(comp == "housing")
    wt = b.households.to_numpy() * np.select([b["sub"] == "courtyard", b["sub"] == "walkup"], [3.0, 1.6], 0.7)
    bi = rng.choice(len(b), len(m), p=wt / wt.sum())
    X[m] = b.cx.to_numpy()[bi] + rng.normal(0, 12, len(m))
    Y[m] = b.cy.to_numpy()[bi] + rng.normal(0, 12, len(m))
    place[m] = b.address.str.removeprefix("北京市东城区").to_numpy()[bi]
    # markets & schools
    for kind, sd, suffix in [("market", 45, "门口"), ("school", 35, "校门口")]:
        m = np.flatnonzero(comp == kind)
        f = fac[fac.kind == kind]
        if len(f) == 0:
            comp[m] = "background"
            continue
        fi = rng.integers(0, len(f), len(m))
        X[m] = shapely.get_x(f.pt_m.to_numpy())[fi] + rng.normal(0, sd, len(m))
        Y[m] = shapely.get_y(f.pt_m.to_numpy())[fi] + rng.normal(0, sd, len(m))
        place[m] = f.name.to_numpy()[fi] + suffix
    # roads: uniform along the in-district part of each centre line
    m = np.flatnonzero(comp == "road")
    parts = shapely.intersection(w.roads_m, w.district_m)
    lens = shapely.length(parts)
    ri = rng.choice(len(parts), len(m), p=lens / lens.sum())
    pos = rng.random(len(m)) * lens[ri]
    pts = shapely.line_interpolate_point(parts[ri], pos)
    X[m] = shapely.get_x(pts) + rng.normal(0, 8, len(m))
    Y[m] = shapely.get_y(pts) + rng.normal(0, 8, len(m))
    place[m] = np.array(w.road_names)[ri] + "路段"
    # background: uniform in the district
    m = np.flatnonzero(comp == "background")
    minx, miny, maxx, maxy = shapely.bounds(w.district_m)
    got = np.zeros((0, 2))
    while len(got) < len(m):
        u = rng.uniform([minx, miny], [maxx, maxy], (2 * len(m) + 10, 2))
        got = np.vstack([got, u[shapely.contains_xy(w.district_m, u[:, 0], u[:, 1])]])
    X[m], Y[m] = got[: len(m), 0], got[: len(m), 1]
    # jitter that left the district: resample those as background points
    bad = np.flatnonzero(~shapely.contains_xy(w.district_m, X, Y))
    if len(bad):
        got = np.zeros((0, 2))
        while len(got) < len(bad):
            u = rng.uniform([minx, miny], [maxx, maxy], (4 * len(bad) + 10, 2))
            got = np.vstack([got, u[shapely.contains_xy(w.district_m, u[:, 0], u[:, 1])]])
        X[bad], Y[bad] = got[: len(bad), 0], got[: len(bad), 1]
        place[bad] = None
    # place names for background points: nearest building address
    m = np.flatnonzero(place == None)  # noqa: E711
    if len(m):
        tree = STRtree(b.geom_m.to_numpy())
        near = tree.nearest(shapely.points(X[m], Y[m]))
        place[m] = b.address.str.removeprefix("北京市东城区").to_numpy()[near]
    # just outside (30–200 m) and far outside
    ring = shapely.boundary(w.district_m)
    oxs, oys = [], []
    while sum(len(o) for o in oxs) < n_out:
        k = 4 * n_out + 10
        p0 = shapely.line_interpolate_point(ring, rng.random(k) * ring.length)
        ang = rng.uniform(0, 2 * np.pi, k)
        dd = rng.uniform(30, 200, k)
        qx, qy = shapely.get_x(p0) + dd * np.cos(ang), shapely.get_y(p0) + dd * np.sin(ang)
        q = shapely.points(qx, qy)
        dist = shapely.distance(w.district_m, q)
        ok = ~shapely.contains_xy(w.district_m, qx, qy) & (dist >= 30) & (dist <= 200)
        oxs.append(qx[ok])
        oys.append(qy[ok])
    ox_ = np.concatenate(oxs)[:n_out]
    oy_ = np.concatenate(oys)[:n_out]
    ang = rng.uniform(0, 2 * np.pi, n_far)
    dd = rng.uniform(8_000, 40_000, n_far)
    cx0, cy0 = shapely.centroid(w.district_m).x, shapely.centroid(w.district_m).y
    fx, fy = cx0 + dd * np.cos(ang), cy0 + dd * np.sin(ang)
    X = np.concatenate([X, ox_, fx])
    Y = np.concatenate([Y, oy_, fy])
    comp = np.concatenate([comp, np.full(n_out + n_far, "background")])
    place = np.concatenate([place, np.full(n_out + n_far, "辖区边界附近", dtype=object)])
    place[n_in + n_out :] = "地址不详"

    # source, then category | (component, source)
    src_names = list(SOURCE_P)
    src = rng.choice(src_names, n, p=np.array(list(SOURCE_P.values())))
    cat = np.empty(n, dtype=object)
    base = cats.major_code.map(MAJOR_W).to_numpy() * cats.code.map(MINOR_MULT).fillna(1).to_numpy()
    base = base / cats.groupby("major_code").code.transform("count").to_numpy()
    for cn in COMPONENTS:
        for sn in src_names:
            m = np.flatnonzero((comp == cn) & (src == sn))
            if len(m) == 0:
                continue
            wt = (
                base
                * cats.major_code.map(COMP_MULT[cn]).fillna(1).to_numpy()
                * cats.major_code.map(SOURCE_MULT[sn]).fillna(1).to_numpy()
            )
            cat[m] = rng.choice(cats.code.to_numpy(), len(m), p=wt / wt.sum())

    # time: day (weekday-weighted), hour (diurnal), second
    start = REF_END - timedelta(days=REPORT_DAYS)
    day_dt = [start + timedelta(days=i) for i in range(REPORT_DAYS)]
    wd = np.array([d.weekday() for d in day_dt])
    holiday = np.array([(d.month == 10 and d.day <= 7) for d in day_dt])
    dw = np.where(wd < 5, 1.0, np.where(wd == 5, 0.65, 0.55)) * np.where(holiday, 0.6, 1.0)
    dw = dw * np.linspace(0.95, 1.05, REPORT_DAYS)
    day = rng.choice(REPORT_DAYS, n, p=dw / dw.sum())
    hp = HOUR_P / HOUR_P.sum()
    hour = rng.choice(24, n, p=hp)
    work = np.isin(src, ["patrol", "field_app"])
    hw = HOUR_P * ((np.arange(24) >= 8) & (np.arange(24) <= 18))
    hour[work] = rng.choice(24, work.sum(), p=hw / hw.sum())
    sch = np.flatnonzero(comp == "school")
    if len(sch):
        schoolday = (wd < 5) & ~holiday & np.array([d >= datetime(2026, 9, 1, tzinfo=TZ) for d in day_dt])
        sdw = np.where(schoolday, 1.0, 0.0)
        day[sch] = rng.choice(REPORT_DAYS, len(sch), p=sdw / sdw.sum())
        hour[sch] = rng.choice([7, 8, 15, 16, 17], len(sch), p=[0.35, 0.15, 0.15, 0.25, 0.10])
    secs = day * 86400 + hour * 3600 + rng.integers(0, 3600, n)
    base_ts = pd.Timestamp(start)
    rep_at = base_ts + pd.to_timedelta(secs, unit="s")
    age_days = (REPORT_DAYS * 86400 - secs) / 86400.0
    status = np.empty(n, dtype=object)
    lo = 0.0
    for hi_, dist in STATUS_BY_AGE:
        m = np.flatnonzero((age_days >= lo) & (age_days < hi_))
        p = np.array(list(dist.values()), dtype=float)
        status[m] = rng.choice(list(dist), len(m), p=p / p.sum())
        lo = hi_
    # Draws of their own (a jumped copy of the stream), so that every draw after this point is as before.
    aux = np.random.Generator(rng.bit_generator.jumped())
    lon, lat = m_to_xy(X, Y)
    pts = shapely.points(lon, lat)
    gtree = shapely.STRtree(np.asarray(w.grids.geom.to_numpy(), dtype=object))
    pi, gi = gtree.query(pts, predicate="intersects")
    slow = np.zeros(n, dtype=bool)
    slow[pi[(gi % SLOW_EVERY) == SLOW_AT]] = True
    for lo_, hi_, p_open in SLOW_OPEN:
        m = np.flatnonzero(slow & (status == "closed") & (age_days >= lo_) & (age_days < hi_))
        m = m[aux.random(len(m)) < p_open]
        status[m] = aux.choice(["in_progress", "escalated", "returned"], len(m), p=[0.6, 0.3, 0.1])
    # a road named in a report lies in the report's street (sample_data/places.py), else the street's own road
    road = np.flatnonzero(np.char.endswith(np.asarray(place, dtype=str), "路段"))
    if len(road):
        stree = shapely.STRtree(np.asarray(w.street_geom, dtype=object))
        hit = np.full(n, -1)
        a_, b_ = stree.query(pts[road], predicate="intersects")
        hit[road[a_]] = b_
        roads_of = PLACES.streets_of(PLACES.ROADS)
        codes = [c[-3:] for c in w.streets.code]
        for i in road:
            if hit[i] < 0:
                continue
            names = roads_of[codes[hit[i]]]
            if place[i].removesuffix("路段") not in names:
                place[i] = names[int(i) % len(names)] + "路段"
    limit = cats.set_index("code").limit_clock_hours.reindex(cat).to_numpy()
    dur_h = limit * rng.lognormal(np.log(DURATION_MEDIAN), DURATION_SIGMA, n)
    closed = status == "closed"
    max_h = age_days * 24 - 0.05
    dur_h = np.where(dur_h < max_h, dur_h, max_h * rng.uniform(0.2, 0.95, n))
    dur_h = np.maximum(dur_h, 0.02)
    closed_at = rep_at + pd.to_timedelta(np.round(dur_h * 3600), unit="s")
    rated = closed & np.isin(src, ["hotline_12345", "mini_program"]) & (rng.random(n) < 0.9)
    rating = pd.array(
        np.where(rated, rng.choice([1, 2, 3, 4, 5], n, p=RATING_P), 0), dtype="Int64"
    )
    rating[~rated] = pd.NA
    tpl = np.array(TEMPLATES, dtype=object)[rng.integers(0, len(TEMPLATES), n)]
    cname = cats.set_index("code").name.reindex(cat).to_numpy()
    desc = [t.format(p=p_, n=c_) for t, p_, c_ in zip(tpl, place, cname, strict=True)]
    fmt = "%Y-%m-%dT%H:%M:%S+08:00"
    df = pd.DataFrame(
        {
            "source": src,
            "category_code": cat,
            "description": desc,
            "reported_at": rep_at.strftime(fmt),
            "status": status,
            "closed_at": np.where(closed, closed_at.strftime(fmt), None),
            "rating": rating,
            "x": X,
            "y": Y,
            "secs": secs,
        }
    )
    return df


def finalize_reports(df: pd.DataFrame) -> pd.DataFrame:
    """Sort by time and assign external ids unique per source
    (prefix-YYYYMMDD-six-digit sequence per source and day)."""
    df = df.sort_values(["secs", "source"], kind="stable").reset_index(drop=True)
    day = df.reported_at.str.slice(0, 10).str.replace("-", "", regex=False)
    seq = df.groupby([df.source, day]).cumcount() + 1
    df["external_id"] = df.source.map(SOURCE_PREFIX) + "-" + day + "-" + seq.map("{:06d}".format)
    return df


# ---------------------------------------------------------------------------------
def copy_prefix(i: int) -> str:
    """District code of copy i: the real 110101 for copy 0, a synthetic 9xxxxx
    range (900001, 900002, ...) for benchmark copies."""
    return "110101" if i == 0 else f"{900000 + i:06d}"


def copy_offset(i: int) -> tuple[float, float]:
    """Copies laid out 40 per row (0.1° apart) eastwards, rows 0.125° southwards."""
    return round((i % 40) * 0.1, 7), round(-(i // 40) * 0.125, 7)


def shift(geoms, dx: float, dy: float):
    if dx == 0 and dy == 0:
        return geoms
    return shapely.transform(geoms, lambda c: np.round(c + (dx, dy), 7))


def generate(
    seed: int = DEFAULT_SEED,
    scale: int = 1,
    limit_streets: int | None = None,
    n_reports: int = REPORTS_PER_COPY,
    verbose: bool = True,
) -> tuple[dict[str, gpd.GeoDataFrame], pd.DataFrame]:
    """Build the world and return (layers, people).  Pure function of its
    arguments; ``limit_streets``/``n_reports`` make tiny worlds for tests."""
    t0 = time.perf_counter()
    w = build_world(seed, limit_streets, t0, verbose)
    base = layers_deg(w)
    fac = make_facilities(np.random.default_rng(np.random.SeedSequence([seed, 1])), w)
    if verbose:
        log(f"facilities: {len(fac)}", t0)
    grid_codes = base["grids"].code.to_numpy()
    bld_codes = base["buildings"].code.to_numpy()
    comm_of_grid = base["grids"].community_code.to_numpy()
    out: dict[str, list] = {
        k: [] for k in ["district", "streets", "communities", "grids", "buildings", "facilities", "reports"]
    }
    people = []
    for i in range(scale):
        pre = copy_prefix(i)
        dx, dy = copy_offset(i)

        def recode(s: pd.Series, pre=pre) -> pd.Series:
            return s if pre == "110101" else pre + s.str.slice(6)

        for name in ["district", "streets", "communities", "grids", "buildings"]:
            g = base[name].copy()
            g["code"] = recode(g["code"])
            if "street_code" in g:
                g["street_code"] = recode(g["street_code"])
            if "community_code" in g:
                g["community_code"] = recode(g["community_code"])
            if i > 0 and name == "district":
                g["name"] = f"东城区(副本{i})"
                g["name_en"] = f"Dongcheng District (copy {i})"
            g = g.set_geometry(shift(g.geometry.to_numpy(), dx, dy), crs="EPSG:4326")
            out[name].append(g)
        f = gpd.GeoDataFrame(
            fac[["kind", "name", "name_en", "address"]].copy(),
            geometry=shift(to_deg(fac.pt_m.to_numpy()), dx, dy),
            crs="EPSG:4326",
        )
        out["facilities"].append(f)
        r = make_reports(np.random.default_rng(np.random.SeedSequence([seed, 2, i])), w, fac, n_reports)
        r["x"], r["y"] = m_to_xy(r.x.to_numpy(), r.y.to_numpy())
        r["x"], r["y"] = np.round(r.x + dx, 7), np.round(r.y + dy, 7)
        out["reports"].append(r)
        p = make_people(
            np.random.default_rng(np.random.SeedSequence([seed, 3, i])),
            w,
            recode(pd.Series(grid_codes)).to_numpy(),
            recode(pd.Series(bld_codes)).to_numpy(),
            recode(pd.Series(comm_of_grid)).to_numpy(),
        )
        people.append(p)
        if verbose and (i + 1) % max(1, scale // 10) == 0 and scale > 1:
            log(f"copy {i + 1}/{scale}", t0)
    layers = {k: pd.concat(v, ignore_index=True) for k, v in out.items() if k != "reports"}
    fa = layers["facilities"]
    width = max(4, len(str(len(fa))))
    fa.insert(0, "code", [f"F{j:0{width}d}" for j in range(1, len(fa) + 1)])
    rep = finalize_reports(pd.concat(out["reports"], ignore_index=True))
    layers["reports"] = gpd.GeoDataFrame(
        rep[["source", "external_id", "category_code", "description", "reported_at", "status", "closed_at", "rating"]],
        geometry=shapely.points(rep.x.to_numpy(), rep.y.to_numpy()),
        crs="EPSG:4326",
    )
    for k in layers:
        layers[k] = gpd.GeoDataFrame(layers[k], geometry="geometry", crs="EPSG:4326")
    layers = {
        k: layers[k] for k in ["district", "streets", "communities", "grids", "buildings", "facilities", "reports"]
    }
    people_df = pd.concat(people, ignore_index=True)
    if verbose:
        log(f"reports: {len(rep):,}; people: {len(people_df):,}", t0)
    layers["_defects"] = describe_defects(w, layers)  # type: ignore[assignment]
    return layers, people_df


def describe_defects(w: World, layers) -> dict:
    """Codes of the planted defects (copy 0)."""
    g = layers["grids"]
    code_of_leaf = dict(zip(w.grids.leaf, g.code.iloc[: len(w.grids)], strict=True))
    d: dict = {}
    if w.defects.get("gap"):
        hole = w.defects["gap"]["hole_deg"]
        d["gap"] = {
            "grid": code_of_leaf[w.defects["gap"]["leaf"]],
            "area_m2": round(float(area_m2(hole)), 1),
            "centroid": (round(hole.centroid.x, 6), round(hole.centroid.y, 6)),
            "buildings_removed": w.defects["gap"]["removed"],
        }
    if w.defects.get("overlap"):
        o = w.defects["overlap"]
        d["overlap"] = {
            "extended_grid": code_of_leaf[o["from"]],
            "into_grid": code_of_leaf[o["into"]],
            "area_m2": round(float(area_m2(o["strip_deg"])), 1),
        }
    if w.defects.get("split"):
        s = w.defects["split"]
        bi = int(np.flatnonzero(w.b.split.to_numpy())[0])
        geom = w.b.geom.iloc[bi]
        ga = g.geometry.iloc[list(w.grids.leaf).index(s["a"])]
        fa = float(area_m2(shapely.intersection(geom, ga)) / area_m2(geom))
        d["split_building"] = {
            "building": w.b.code.iloc[bi],
            "grids": [code_of_leaf[s["a"]], code_of_leaf[s["c"]]],
            "share": [round(fa, 3), round(1 - fa, 3)],
            "counted_in": code_of_leaf[s["a"]],
        }
    if w.defects.get("overloaded_leaf") is not None:
        li = w.defects["overloaded_leaf"]
        row = g.iloc[list(w.grids.leaf).index(li)]
        d["overloaded"] = {"grid": row.code, "households": int(row.households)}
    return d


# ---------------------------------------------------------------------------------
def write_outputs(layers: dict, people: pd.DataFrame, out_dir: Path) -> dict[str, int]:
    """GeoPackage (zipped, one member) + gzipped CSV, both with fixed timestamps."""
    out_dir.mkdir(parents=True, exist_ok=True)
    # GDAL stamps gpkg_contents.last_change with "now"; pin it for byte-identical output
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": "2026-11-20T00:00:00.000Z"})
    with tempfile.TemporaryDirectory() as td:
        gpkg = Path(td) / "dongcheng.gpkg"
        for name, gdf in layers.items():
            if name.startswith("_"):
                continue
            gdf.to_file(gpkg, layer=name, driver="GPKG", engine="pyogrio")
        zpath = out_dir / "dongcheng.gpkg.zip"
        info = zipfile.ZipInfo("dongcheng.gpkg", date_time=(2026, 11, 20, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        with zipfile.ZipFile(zpath, "w") as zf, open(gpkg, "rb") as fh:
            zf.writestr(info, fh.read(), compresslevel=9)
        gpkg_size = gpkg.stat().st_size
    ppath = out_dir / "people.csv.gz"
    buf = io.StringIO()
    people.to_csv(buf, index=False, lineterminator="\n")
    with (
        open(ppath, "wb") as fh,
        gzip.GzipFile(filename="people.csv", mode="wb", fileobj=fh, mtime=0, compresslevel=9) as gz,
    ):
        gz.write(buf.getvalue().encode("utf-8"))
    return {"gpkg": gpkg_size, "zip": zpath.stat().st_size, "people": ppath.stat().st_size}


def summary(layers: dict, people: pd.DataFrame, sizes: dict[str, int], secs: float) -> str:
    g, b, r = layers["grids"], layers["buildings"], layers["reports"]
    lines = ["", "=== gridmap sample summary ==="]
    for k in ["district", "streets", "communities", "grids", "buildings", "facilities", "reports"]:
        lines.append(f"{k:12s} {len(layers[k]):>9,}")
    lines.append(
        f"{'people':12s} {len(people):>9,}  "
        + ", ".join(f"{k}={v}" for k, v in people.role.value_counts().sort_index().items())
    )
    lines.append(f"households   {int(b.households.sum()):>9,}  population {int(b.population.sum()):,}")
    lines.append(
        f"grid households: min {g.households.min()}, median {int(g.households.median())}, max {g.households.max()}"
    )
    lines.append("buildings by kind: " + ", ".join(f"{k}={v}" for k, v in b.kind.value_counts().items()))
    lines.append("reports by source: " + ", ".join(f"{k}={v}" for k, v in r.source.value_counts().items()))
    lines.append("reports by status: " + ", ".join(f"{k}={v}" for k, v in r.status.value_counts().items()))
    lines.append("planted defects: ")
    for k, v in layers["_defects"].items():
        lines.append(f"  {k}: {v}")
    lines.append(
        f"sizes: gpkg {sizes['gpkg'] / 1e6:.1f} MB, zip {sizes['zip'] / 1e6:.2f} MB, "
        f"people.csv.gz {sizes['people'] / 1e6:.2f} MB"
    )
    lines.append(f"total time {secs:.1f} s")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--scale", type=int, default=1, help="number of district copies (1, 10, 100, ...)")
    ap.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output directory (default: sample_data/ for scale 1, sample_data/build/scale-N/ otherwise)",
    )
    ap.add_argument("--limit-streets", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--reports", type=int, default=REPORTS_PER_COPY, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    out = a.out or (HERE if a.scale == 1 and a.limit_streets is None else HERE / "build" / f"scale-{a.scale}")
    t0 = time.perf_counter()
    layers, people = generate(a.seed, a.scale, a.limit_streets, a.reports)
    sizes = write_outputs(layers, people, out)
    print(summary(layers, people, sizes, time.perf_counter() - t0))
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
