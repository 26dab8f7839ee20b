"""Address resolution benchmark (issue 10): accuracy, precision/recall and latency of the in-memory address
index on hotline-style strings, against a plain substring-match baseline and pg_trgm, in the same run.

The evaluation set (``bench/data/address_eval.csv``, ≥ 1,000 rows, committed) is generated from the sample
registry with realistic noise: missing or extra administrative levels, Chinese/full-width numerals,
synonyms (栋/幢/座/#, 门), units and rooms, words of place (门口/附近/对面), spoken filler (我家在…), name typos
(a near-homophone, a dropped or swapped character; never one that spells another registered name),
a dropped estate suffix (a missing level: several estates then fit), and landmarks. Each row keeps
the building it means. Regenerate with ``python -m bench.addresses --make-eval``.

The latency registry has ≥ 100,000 addresses: the sample's 37,000 building and unit addresses plus one
room-level address per household of the residential blocks (how a 一标 registry is kept down to 户).
"""

from __future__ import annotations

import csv
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.addresses.index import AddressIndex, load_index
from api.addresses.normalize import int_to_cn, syllables
from api.core.config import get_settings
from api.core.db import make_engine

HERE = Path(__file__).resolve().parent
EVAL = HERE / "data" / "address_eval.csv"
#: Issue 24: names as operators type and mishear them (numerals, homophones, near misses); see make_typo_eval.
TYPO_EVAL = HERE / "data" / "address_typos.csv"
SEED = 10
CN = "零一二三四五六七八九"
#: near-homophones and look-alikes an IME or a hurried operator produces: "里理李" means 里 → 理 or 李
CONFUSABLE = {g[0]: g[1:] for g in """里理李 园圆元 苑院元 胡湖 同桐 街接 和合河 平评坪 安按 德得 家佳 华化
    东冬 西希 南楠 北贝 门们 新心欣 福富 光广 明名 龙隆 花华 兴星 金今 大达 小晓 中钟 文问 口扣
    头投 条调 庄装 村存 营赢 寺四 坛谈 台抬 井景 桥乔 景井 泰太 宝保 林琳 定顶 板版 厂场 广光
    利立 化华 清青 水税 河和""".split()}


cn_number = int_to_cn  # one definition: api/addresses/normalize.py


def _typo(rng: np.random.Generator, name: str, names: set[str]) -> str | None:
    for _ in range(10):
        kind = rng.integers(0, 3)
        chars = list(name)
        i = int(rng.integers(0, len(chars)))
        if kind == 0 and chars[i] in CONFUSABLE:
            opts = CONFUSABLE[chars[i]]
            chars[i] = opts[int(rng.integers(0, len(opts)))]
        elif kind == 1 and len(chars) >= 4 and 0 < i < len(chars) - 1:
            del chars[i]
        elif kind == 2 and len(chars) >= 4 and i < len(chars) - 1:
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
        else:
            continue
        out = "".join(chars)
        if out != name and out not in names:
            return out
    return None


def make_eval(session: Session, n: int = 1200, seed: int = SEED) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = session.execute(text("""
        SELECT a.road, a.door_number, a.estate, a.building_no, a.street, a.community, a.aliases, b.code, b.units,
               b.kind AS bkind
        FROM address a JOIN building b ON b.id = a.building_id WHERE a.kind = 'building' ORDER BY b.code""")).all()
    names = {r.estate or r.road for r in rows}
    landmarks = [r for r in rows if any(not a[-1].isdigit() and not a.endswith(("号", "号楼")) for a in r.aliases)]
    out: list[dict] = []
    picks = rng.choice(len(rows), n, replace=False)
    for k, idx in enumerate(picks):
        r = rows[int(idx)]
        noise: list[str] = []
        if k % 25 == 0 and landmarks:
            lm = landmarks[int(rng.integers(0, len(landmarks)))]
            alias = next(a for a in lm.aliases if not a.endswith(("号", "号楼")))
            place = ["门口", "附近", "对面", ""][int(rng.integers(0, 4))]
            out.append({"query": alias + place, "building_code": lm.code, "noise": "landmark"})
            continue
        name = r.estate or r.road
        num = int(r.building_no or r.door_number)
        estate = r.estate is not None
        # name: typo (20 %), missing level (5 %), else as is
        u = rng.random()
        if u < 0.20:
            t = _typo(rng, name, names)
            if t:
                name, noise = t, [*noise, "typo"]
        elif u < 0.25 and estate:
            for suf in ("北里", "南里", "东里", "西里", "家园", "新村", "中街", "小区", "苑"):
                if name.endswith(suf) and len(name) > len(suf) + 1:
                    name, noise = name[: -len(suf)], [*noise, "missing_level"]
                    break
        # number: Arabic, Chinese, full-width
        v = rng.random()
        if v < 0.25:
            ns, noise = cn_number(num), [*noise, "cn_numeral"]
        elif v < 0.35:
            ns, noise = str(num).translate(str.maketrans("0123456789", "０１２３４５６７８９")), [*noise, "fullwidth"]
        else:
            ns = str(num)
        if estate:
            word = ["号楼", "号楼", "栋", "幢", "座", "#楼"][int(rng.integers(0, 6))]
            if word != "号楼":
                noise.append("synonym")
            s = f"{name}{ns}{word}"
            if r.units and rng.random() < 0.5:
                unit = int(rng.integers(1, r.units + 1))
                s += f"{unit}{'单元' if rng.random() < 0.6 else '门'}"
                noise.append("unit")
                if rng.random() < 0.3:
                    s += f"{int(rng.integers(1, 7))}0{int(rng.integers(1, 4))}室"
                    noise.append("room")
        else:
            s = f"{name}{ns}号"
            if rng.random() < 0.15:
                s += "院"
        w = rng.random()
        if w < 0.25:
            s, noise = "北京市东城区" + s, [*noise, "admin_prefix"]
        elif w < 0.35:
            s, noise = "东城区" + s, [*noise, "admin_prefix"]
        elif w < 0.45 and r.street and r.community:
            s, noise = r.street + r.community + s, [*noise, "street_community"]
        if rng.random() < 0.4:
            s += ["门口", "附近", "对面", "东侧", "楼下", "旁边", "西南角"][int(rng.integers(0, 7))]
            noise.append("place_word")
        if rng.random() < 0.1:
            s = ["我家在", "就在", "我在"][int(rng.integers(0, 3))] + s
            noise.append("filler")
        if rng.random() < 0.1:
            s = " ".join(s[i:i + 3] for i in range(0, len(s), 3))
            noise.append("spaces")
        out.append({"query": s, "building_code": r.code, "noise": "+".join(noise) or "clean"})
    return out


def _homophones() -> dict[str, list[str]]:
    """Toneless syllable -> the common characters (GB2312 level 1, the 3,755 everyday ones) that sound so."""
    out: dict[str, list[str]] = {}
    for hi in range(0xB0, 0xD8):
        for lo in range(0xA1, 0xFF):
            try:
                ch = bytes([hi, lo]).decode("gb2312")
            except UnicodeDecodeError:
                continue
            out.setdefault(syllables(ch)[0], []).append(ch)
    return out


_CN_RUN = __import__("re").compile(r"[一二三四五六七八九十]+(?=[条巷里道环营村坊弄屯])")


def make_typo_eval(session: Session, n: int = 600, seed: int = SEED + 14) -> list[dict]:
    """Names as a hotline operator types them (issue 24): a homophone (the same pinyin, another common
    character: 东四石条), numerals inside the name in digits (东四10条), a near-miss character (the CONFUSABLE
    look-alikes), a dropped or swapped character; never a variant that spells another registered name. The
    number part stays right (numbers are never guessed). Each row keeps the building it means."""
    from api.addresses.normalize import cn_to_int

    rng = np.random.default_rng(seed)
    rows = session.execute(text("""
        SELECT a.road, a.door_number, a.estate, a.building_no, b.code
        FROM address a JOIN building b ON b.id = a.building_id WHERE a.kind = 'building' ORDER BY b.code""")).all()
    names = {r.estate or r.road for r in rows}
    sounds = _homophones()
    kinds = ("homophone", "homophone", "numeral", "confusable", "dropped", "swapped")
    out: list[dict] = []
    tries = 0
    while len(out) < n and tries < n * 50:
        tries += 1
        r = rows[int(rng.integers(0, len(rows)))]
        name = r.estate or r.road
        kind = kinds[int(rng.integers(0, len(kinds)))]
        chars = list(name)
        i = int(rng.integers(0, len(chars)))
        if kind == "homophone":
            others = [c for c in sounds.get(syllables(chars[i])[0], []) if c != chars[i]]
            if not others:
                continue
            chars[i] = others[int(rng.integers(0, len(others)))]
        elif kind == "numeral":
            m = _CN_RUN.search(name)
            if not m:
                continue
            chars = list(name[:m.start()] + str(cn_to_int(m.group(0))) + name[m.end():])
        elif kind == "confusable":
            t = _typo(rng, name, names)
            if t is None:
                continue
            chars = list(t)
        elif kind == "dropped" and len(chars) >= 4 and 0 < i < len(chars) - 1:
            del chars[i]
        elif kind == "swapped" and len(chars) >= 4 and i < len(chars) - 1:
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
        else:
            continue
        typed = "".join(chars)
        if typed == name or typed in names:
            continue
        num = r.building_no or r.door_number
        out.append({"query": f"{typed}{num}{'号楼' if r.estate else '号'}", "building_code": r.code, "noise": kind})
    return out


def evaluate_typos(big_typed: AddressIndex, big_today: AddressIndex, rows: list[dict]) -> dict:
    """The typo set on today's index and on the typed one: rank-1 (the right building first, matched or
    offered), accuracy@1 (matched and right), precision of matched answers, latency."""
    out = {}
    for label, idx in (("today", big_today), ("typed", big_typed)):
        ev = evaluate(idx, rows)
        rank1 = sum(1 for r in rows if (c := idx.resolve(r["query"]).candidates)
                    and c[0].entry.building_code == r["building_code"])
        out[label] = {**ev, "rank_1": rank1 / len(rows)}
    return out


def write_eval(rows: list[dict], path: Path = EVAL) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["query", "building_code", "noise"])
        w.writeheader()
        w.writerows(rows)


def read_eval(path: Path = EVAL) -> list[dict]:
    """The committed rows of an evaluation set."""
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def room_rows(session: Session, start_id: int) -> list:
    """One room-level address per household of the residential blocks (for the 100k-address registry)."""
    rows = session.execute(text("""
        SELECT a.id, a.building_id, b.code AS building_code, a.full_text, a.estate, a.building_no, a.unit, a.street,
               a.community, ST_X(a.location) AS lon, ST_Y(a.location) AS lat, b.floors, b.units, b.households
        FROM address a JOIN building b ON b.id = a.building_id WHERE a.kind = 'unit' ORDER BY a.id""")).all()
    out, i = [], start_id
    for r in rows:
        per_unit = max(1, (r.households or 0) // max(1, r.units or 1))
        floors = max(1, r.floors or 1)
        per_floor = max(1, -(-per_unit // floors))
        for h in range(per_unit):
            room = f"{h // per_floor + 1}{h % per_floor + 1:02d}"
            out.append(SimpleNamespace(
                id=i, code=None, kind="room", building_id=r.building_id, building_code=r.building_code,
                full_text=f"{r.full_text}{room}室", road=None, door_number=None, estate=r.estate,
                building_no=r.building_no, unit=r.unit, street=r.street, community=r.community, aliases=[],
                lon=r.lon, lat=r.lat))
            i += 1
    return out


class SubstringBaseline:
    """The plain approach: the longest registry address text found verbatim inside the query."""

    def __init__(self, idx: AddressIndex) -> None:
        self.texts: dict[str, str] = {}
        for e in idx.entries:
            if e.kind == "building" and e.building_code:
                local = e.full_text.removeprefix("北京市东城区")
                self.texts.setdefault(local, e.building_code)
        self.maxlen = max(map(len, self.texts))

    def resolve(self, q: str) -> str | None:
        best = None
        for i in range(len(q)):
            for j in range(min(len(q), i + self.maxlen), i, -1):
                hit = self.texts.get(q[i:j])
                if hit is not None:
                    if best is None or j - i > best[0]:
                        best = (j - i, hit)
                    break
        return best[1] if best else None


def evaluate(idx: AddressIndex, rows: list[dict]) -> dict:
    lat, correct, wrong, amb, amb_has, nf = [], 0, 0, 0, 0, 0
    by_noise: dict[str, list[int]] = {}
    misses = []
    for r in rows:
        t = time.perf_counter()
        res = idx.resolve(r["query"])
        lat.append(time.perf_counter() - t)
        codes = [c.entry.building_code for c in res.candidates]
        ok = res.status == "matched" and codes and codes[0] == r["building_code"]
        for tag in r["noise"].split("+"):
            by_noise.setdefault(tag, [0, 0])[0] += 1
            by_noise[tag][1] += int(bool(ok))
        if res.status == "matched":
            correct += bool(ok)
            wrong += not ok
            if not ok:
                misses.append((r["query"], r["building_code"], codes[:2]))
        elif res.status == "ambiguous":
            amb += 1
            amb_has += r["building_code"] in codes
        else:
            nf += 1
    n = len(rows)
    ms = np.array(lat) * 1000
    return {"n": n, "correct": correct, "wrong": wrong, "ambiguous": amb, "ambiguous_with_answer": amb_has,
            "not_found": nf, "accuracy_at_1": correct / n, "precision": correct / max(1, correct + wrong),
            "recall": correct / n, "p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)),
            "max_ms": float(ms.max()), "by_noise": {k: f"{v[1]}/{v[0]}" for k, v in sorted(by_noise.items())},
            "wrong_examples": misses[:10]}


def evaluate_baseline(base: SubstringBaseline, rows: list[dict]) -> dict:
    lat, correct, answered = [], 0, 0
    for r in rows:
        t = time.perf_counter()
        got = base.resolve(r["query"])
        lat.append(time.perf_counter() - t)
        if got is not None:
            answered += 1
            correct += got == r["building_code"]
    ms = np.array(lat) * 1000
    return {"n": len(rows), "answered": answered, "correct": correct, "precision": correct / max(1, answered),
            "recall": correct / len(rows), "p50_ms": float(np.percentile(ms, 50)),
            "p99_ms": float(np.percentile(ms, 99))}


def evaluate_trgm(session: Session, rows: list[dict], limit: int = 300) -> dict:
    """pg_trgm similarity on the normalised text, top-1 (a sample of the set: it is the slow engine)."""
    from api.addresses.service import search_postgis

    lat, correct, answered = [], 0, 0
    for r in rows[:limit]:
        t = time.perf_counter()
        out = search_postgis(session, q=r["query"], limit=3)
        lat.append(time.perf_counter() - t)
        if out["status"] == "matched":
            answered += 1
            correct += out["candidates"][0]["building_code"] == r["building_code"]
    ms = np.array(lat) * 1000
    return {"n": len(lat), "answered": answered, "correct": correct, "precision": correct / max(1, answered),
            "recall": correct / len(lat), "p50_ms": float(np.percentile(ms, 50)),
            "p99_ms": float(np.percentile(ms, 99))}


def address_resolution(url: str, repeat: int) -> list[dict]:
    engine = make_engine(get_settings(), url=url, pool_size=1)
    with Session(engine) as s:
        if not EVAL.exists():
            write_eval(make_eval(s))
        rows = read_eval()
        small = load_index(s)
        t = time.perf_counter()
        rooms = room_rows(s, start_id=10**9)
        big = load_index(s, extra_rows=rooms)
        build_s = time.perf_counter() - t
        n_registry = len(big.entries)
        ours = evaluate(big, rows)
        for _ in range(max(0, repeat - 1)):  # latency: median of the p99s over repeats
            again = evaluate(big, rows)
            ours["p99_ms"] = statistics.median([ours["p99_ms"], again["p99_ms"]])
        base = evaluate_baseline(SubstringBaseline(small), rows)
        trgm = evaluate_trgm(s, rows)
        if not TYPO_EVAL.exists():
            write_eval(make_typo_eval(s), TYPO_EVAL)
        typo_rows = read_eval(TYPO_EVAL)
        today = load_index(s, extra_rows=rooms, typed=False)  # the index as it was, in the same run
        typos = evaluate_typos(big, today, typo_rows)
        ours_today = evaluate(today, rows)
    engine.dispose()
    note = (f"{len(rows)} hotline-style strings (bench/data/address_eval.csv) against a registry of {n_registry:,} "
            f"addresses ({len(small.entries):,} building+unit, the rest rooms); index build {build_s:.1f} s. "
            f"ours: {ours['correct']} right, {ours['ambiguous']} ambiguous ({ours['ambiguous_with_answer']} with the "
            f"answer among the candidates), {ours['not_found']} not found, {ours['wrong']} wrong. "
            f"substring baseline answered {base['answered']}, {base['correct']} right. pg_trgm on "
            f"{trgm['n']}: precision {trgm['precision']:.3f}, recall {trgm['recall']:.3f}, p99 {trgm['p99_ms']:.1f} ms")
    common = {"n": len(rows), "baseline_name": "substring match"}
    t, b = typos["typed"], typos["today"]
    typo_note = (f"{len(typo_rows)} typed and misheard names (bench/data/address_typos.csv: homophones, numerals in "
                 f"digits, look-alikes, dropped and swapped characters) on the {n_registry:,}-address registry; "
                 f"baseline: the same index without numeral folding and sound matching (typed=False), same run. "
                 f"typed: {t['correct']} matched right, {t['wrong']} wrong, {t['ambiguous']} ambiguous, "
                 f"{t['not_found']} not found, by kind {t['by_noise']}; today: {b['correct']} right, {b['wrong']} "
                 f"wrong, by kind {b['by_noise']}. On the main set today's precision is "
                 f"{ours_today['precision']:.4f}, accuracy@1 {ours_today['accuracy_at_1']:.4f}")
    common_t = {"n": len(typo_rows), "baseline_name": "today's index (typed=False)"}
    return [
        {"name": "address_typo_rank_1", "value": round(t["rank_1"], 4), "unit": "fraction",
         "baseline": round(b["rank_1"], 4), "ratio": round(t["rank_1"] / max(1e-9, b["rank_1"]), 2), **common_t,
         "target": ">= 0.90", "note": typo_note, "detail": {"typed": t, "today": b}},
        {"name": "address_typo_precision", "value": round(t["precision"], 4), "unit": "fraction",
         "baseline": round(b["precision"], 4), "ratio": round(t["precision"] / max(1e-9, b["precision"]), 3),
         **common_t, "target": ">= 0.995", "note": "matched answers on the typo set that are the right building"},
        {"name": "address_typo_p99_latency", "value": round(t["p99_ms"], 3), "unit": "ms",
         "baseline": round(b["p99_ms"], 3), "ratio": round(t["p99_ms"] / max(1e-9, b["p99_ms"]), 2), **common_t,
         "target": "<= 20", "note": f"per query on the typo set, in-process; p50 {t['p50_ms']:.3f} ms"},
        {"name": "address_accuracy_at_1", "value": round(ours["accuracy_at_1"], 4), "unit": "fraction",
         "baseline": round(base["recall"], 4), "ratio": round(ours["accuracy_at_1"] / max(1e-9, base["recall"]), 2),
         **common, "note": note, "detail": {"ours": ours, "substring": base, "pg_trgm": trgm}},
        {"name": "address_precision", "value": round(ours["precision"], 4), "unit": "fraction",
         "baseline": round(base["precision"], 4), "ratio": round(ours["precision"] / max(1e-9, base["precision"]), 3),
         **common, "note": "matched answers that are the right building"},
        {"name": "address_p99_latency", "value": round(ours["p99_ms"], 3), "unit": "ms",
         "baseline": round(base["p99_ms"], 3), "ratio": round(ours["p99_ms"] / max(1e-9, base["p99_ms"]), 2),
         **common, "note": f"per query, in-process, {n_registry:,}-address registry; p50 {ours['p50_ms']:.3f} ms"},
    ]


BENCHES = {"address_resolution": address_resolution}


if __name__ == "__main__":
    from api.devtools.seeded import create_seeded_database

    if "--make-eval" in sys.argv:
        from bench.common import bench_database

        url = bench_database()
        create_seeded_database(url)
        eng = make_engine(get_settings(), url=url, pool_size=1)
        with Session(eng) as s:
            ev = make_eval(s)
            typo = make_typo_eval(s)
        write_eval(ev)
        write_eval(typo, TYPO_EVAL)
        print(f"wrote {len(ev)} rows to {EVAL}, {len(typo)} to {TYPO_EVAL}")
    else:
        import json

        from bench.common import bench_database

        print(json.dumps(address_resolution(bench_database(), 1), ensure_ascii=False, indent=1, default=str))
