"""Normalising and parsing Chinese addresses as hotline operators type them. Pure functions, no I/O.

A hotline address is free text: "幸福里小区３号楼二单元门口", "东城区光明路与天坛东路交叉口东北角". Normalising
makes equal what means the same (full-width ↔ half-width, Chinese ↔ Arabic numerals before a unit word,
栋/幢/座/号楼, 单元/门, spaces and punctuation, trailing words of place such as 门口/附近/对面); parsing splits
the result into a place name (road, hutong, estate or landmark) and the numbers after it (door, building,
unit, floor, room), or two road names for an intersection.

Numerals are converted only when a unit word follows them, because Chinese numerals are also part of
names (东四十条, 北新桥三条, 四块玉):

>>> normalize("东四十条十二号")
'东四十条12号'
>>> normalize("幸福里小区 三号楼 二单元 门口")
'幸福里小区3号楼2单元'
>>> normalize("ＸＸ路１２号院５栋")
'xx路12号院5号楼'
>>> p = parse("北京市东城区幸福里小区3号楼2单元301室附近")
>>> (p.name, p.door, p.building, p.unit, p.floor, p.room, p.number, p.roads, p.extra)
('幸福里小区', None, '3', '2', None, '301', None, None, '')
>>> parse("光明路与天坛东路交叉口东北角").roads
('光明路', '天坛东路')
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from pypinyin import lazy_pinyin
from rapidfuzz.distance import OSA

CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "壹": 1, "二": 2, "贰": 2, "两": 2, "三": 3, "叁": 3, "四": 4, "肆": 4,
             "五": 5, "伍": 5, "六": 6, "陆": 6, "七": 7, "柒": 7, "八": 8, "捌": 8, "九": 9, "玖": 9}
CN_UNITS = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000}
_CN = "".join(CN_DIGITS) + "".join(CN_UNITS)

#: Words after a number that make it an address number (the numeral before them is converted).
_MARKERS = "号楼|号院|号|栋|幢|座|单元|门|层|楼|室|户|#"
_NUMERAL_BEFORE_MARKER = re.compile(f"([{_CN}]+)(?=(?:{_MARKERS}))")

#: Leading administrative levels that may or may not be typed (only whole, known names are removed).
PROVINCES = ("北京市", "北京", "天津市", "上海市", "重庆市", "中国", "中华人民共和国")
DEFAULT_DISTRICTS = ("东城区", "东城")

#: Trailing words of place: where at the address, not which address. Longest first.
PLACE_WORDS = sorted("""门口 大门口 大门 正门 侧门 后门 附近 对面 对过 旁边 旁 边上 楼下 楼上 楼前 楼后 楼道 楼道里 楼顶
后面 前面 里面 外面 院内 院里 院外 内 处 这里 那里 一带 周边 周围 路边 路旁 拐角 底商 下面 上面 东侧 西侧 南侧 北侧
东边 西边 南边 北边 东面 西面 南面 北面 东头 西头 南头 北头 东北角 西北角 东南角 西南角 东北侧 西北侧 东南侧 西南侧
的 地下室 车库 停车场 垃圾站 垃圾桶 一层 底层""".split(), key=len, reverse=True)
_PLACE_TAIL = re.compile("(?:" + "|".join(map(re.escape, PLACE_WORDS)) + ")+$")
#: What callers say before the address ("我家在…", "就在…"): removed from the start.
_LEAD_FILLER = re.compile(r"^(?:我家住在|我家在|我家住|我住在|我住|家住在|家住|住在|我在|就在|是在|位于|"
                          r"地址是|地址在|地址|在)(?=.{3})")
#: Fillers people add to an estate's name ("和平里北里小区" for 和平里北里).
NAME_FILLERS = ("小区", "社区", "大院", "院", "家属院", "宿舍")
_INTERSECTION = re.compile(r"^(.+?)(?:与|和|跟|同|及|、|&|/|\+|x)(.+?)(?:的)?"
                           r"(?:交叉路口|交叉口|交汇处|交汇口|交口|十字路口|丁字路口|路口|交界处|交界)")
_PUNCT = re.compile(r"[\s\u3000,，。.、;；:：!！?？'\"“”‘’()（）\[\]【】<>《》{}·~～_|]+")


def cn_to_int(s: str) -> int:
    """Chinese numeral to int.

    >>> [cn_to_int(x) for x in ("三", "十", "十二", "二十", "二十三", "一百零五", "两", "三〇一", "一二", "壹佰")]
    [3, 10, 12, 20, 23, 105, 2, 301, 12, 100]
    """
    if not any(ch in CN_UNITS for ch in s):
        # digit by digit: 三〇一 = 301 (how room numbers are read out)
        return int("".join(str(CN_DIGITS[ch]) for ch in s))
    total, digit = 0, 0
    for ch in s:
        if ch in CN_DIGITS:
            digit = CN_DIGITS[ch]
        else:
            total += (digit or 1) * CN_UNITS[ch]
            digit = 0
    return total + digit


def to_halfwidth(s: str) -> str:
    """Full-width digits, letters and punctuation to half-width; latin letters lower-cased.

    >>> to_halfwidth("ＡＢ座１２３号（东门）")
    'ab座123号(东门)'
    """
    return unicodedata.normalize("NFKC", s).lower()


_CN_PLAIN = "零一二三四五六七八九"
#: Characters after which a number is part of a name, not an address number: 东四10条 is 东四十条 (the tenth
#: alley of Dongsi), 3里屯 is 三里屯. An operator types the digits; the registry spells the name.
_NAME_ORDINAL = re.compile(r"(?<![0-9])([0-9]{1,3})(?=[条巷里道环营村坊弄屯])")


def int_to_cn(n: int) -> str:
    """An integer as it is written inside a Chinese place name.

    >>> int_to_cn(3), int_to_cn(10), int_to_cn(12), int_to_cn(20), int_to_cn(105)
    ('三', '十', '十二', '二十', '一百零五')
    """
    if n < 10:
        return _CN_PLAIN[n]
    if n < 20:
        return "十" + (_CN_PLAIN[n % 10] if n % 10 else "")
    if n < 100:
        return _CN_PLAIN[n // 10] + "十" + (_CN_PLAIN[n % 10] if n % 10 else "")
    rest = n % 100
    tail = "" if rest == 0 else ("零" + _CN_PLAIN[rest] if rest < 10 else int_to_cn(rest))
    return _CN_PLAIN[n // 100] + "百" + tail


def fold_name_numerals(s: str) -> str:
    """Arabic numbers inside a name become the Chinese numerals the registry spells it with (the other direction,
    八号楼 → 8号楼, is :func:`convert_numerals`'s: a number before a unit word is an address number).

    >>> fold_name_numerals("东四10条5号"), fold_name_numerals("北新桥3条"), fold_name_numerals("幸福里8号楼")
    ('东四十条5号', '北新桥三条', '幸福里8号楼')
    """
    return _NAME_ORDINAL.sub(lambda m: int_to_cn(int(m.group(1))), s)


def convert_numerals(s: str) -> str:
    """Chinese numerals followed by a unit word become Arabic; numerals inside names stay.

    >>> convert_numerals("十二栋三单元五〇二室")
    '12栋3单元502室'
    >>> convert_numerals("北新桥三条四号")
    '北新桥三条4号'
    """
    return _NUMERAL_BEFORE_MARKER.sub(lambda m: str(cn_to_int(m.group(1))), s)


def canonical_units(s: str) -> str:
    """Synonyms of the unit words: 栋/幢/座/号楼 → 号楼, 门 (after a number) → 单元, 号房/户 → 室, 3# → 3号.

    >>> canonical_units("3栋2门")
    '3号楼2单元'
    >>> canonical_units("a座")
    'a号楼'
    >>> canonical_units("5#楼1-2")
    '5号楼1-2'
    """
    for pattern, repl in _UNIT_RULES:
        s = pattern.sub(repl, s)
    return s


_UNIT_RULES = [(re.compile(p), r) for p, r in (
    (r"([0-9]+)#", r"\1号"),
    (r"([0-9a-z]+)(?:号楼|号栋|号幢|号座|栋|幢|座|号号楼)", r"\1号楼"),
    (r"([0-9]+)号楼楼", r"\1号楼"),
    (r"([0-9]+)(?:号)?(?:单元|门)(?!口)", r"\1单元"),
    (r"([0-9]+)(?:号房|号室|户)", r"\1室"),
    (r"([0-9]+)(?:楼层|层楼)", r"\1层"),
)]


def strip_place_words(s: str) -> str:
    """Remove trailing words of place, repeatedly.

    >>> strip_place_words("3号楼2单元门口")
    '3号楼2单元'
    >>> strip_place_words("光明胡同12号院内东侧附近")
    '光明胡同12号'
    """
    for _ in range(3):
        m = _PLACE_TAIL.search(s)
        if m and m.start() > 0:
            s = s[: m.start()]
        if s.endswith("号院") and len(s) > 2 and s[-3].isdigit():
            s = s[:-1]
            continue
        break
    return s


def strip_admin(s: str, districts: Iterable[str] = DEFAULT_DISTRICTS) -> str:
    """Remove leading country/province/city/district names, when the whole known name is there.

    >>> strip_admin("北京市东城区光明路12号")
    '光明路12号'
    >>> strip_admin("东城光明路12号")
    '光明路12号'
    >>> strip_admin("花市上头条3号")
    '花市上头条3号'
    """
    names = sorted((*PROVINCES, *districts), key=len, reverse=True)
    changed = True
    while changed:
        changed = False
        for n in names:
            if n and s.startswith(n) and len(s) > len(n):
                s, changed = s[len(n):], True
                break
    return s


def normalize(s: str, districts: Iterable[str] = DEFAULT_DISTRICTS, *, typed: bool = True) -> str:
    """The canonical form used for matching and stored in ``address.normalized``.

    >>> normalize("  北京市 东城区 安德里家园十三号楼 ")
    '安德里家园13号楼'
    >>> normalize("幸福里小区3号楼2单元门口") == normalize("幸福里小区三栋二门门口")
    True
    >>> normalize("我家在北京市东城区光明胡同5号")
    '光明胡同5号'
    >>> normalize("东四10条5号"), normalize("东四10条5号", typed=False)
    ('东四十条5号', '东四10条5号')

    ``typed=False``: without :func:`fold_name_numerals` (how it was before; the benchmark's baseline).
    """
    s = to_halfwidth(s or "")
    s = _PUNCT.sub("", s)
    s = s.replace("－", "-").replace("—", "-").replace("–", "-")
    s = convert_numerals(s)
    if typed:
        s = fold_name_numerals(s)
    s = canonical_units(s)
    s = strip_admin(_LEAD_FILLER.sub("", s), districts)
    return strip_place_words(s)


@dataclass(slots=True)
class Parsed:
    name: str
    door: str | None = None
    building: str | None = None
    unit: str | None = None
    floor: str | None = None
    room: str | None = None
    #: a bare number after the name ("幸福里3"): a door or a building number
    number: str | None = None
    street: str | None = None
    community: str | None = None
    #: two road names for "A与B交叉口"
    roads: tuple[str, str] | None = None
    #: what was left over and ignored
    extra: str = ""


_NUM_TOKEN = re.compile(
    r"(?P<triple>([0-9]+)-([0-9]+)-([0-9]+))|(?P<pair>([0-9a-z]+)-([0-9]+))"
    r"|(?P<bldg>[0-9a-z]+)号楼|(?P<unit>[0-9]+)单元|(?P<floor>[0-9]+)层|(?P<room>[0-9]+)室"
    r"|(?P<door>[0-9]+)号(?:院)?|(?P<lou>[0-9]+)楼|(?P<bare>[0-9]+)")


def parse(s: str, districts: Iterable[str] = DEFAULT_DISTRICTS, streets: Iterable[str] = (),
          communities: Iterable[str] = (), *, typed: bool = True) -> Parsed:
    """Split a (raw or normalised) address into its name and numbers.

    >>> p = parse("和平里北里12-3-502")
    >>> (p.name, p.building, p.unit, p.room)
    ('和平里北里', '12', '3', '502')
    >>> p = parse("东华门街道多福巷社区多福巷5号", streets=["东华门街道"], communities=["多福巷社区"])
    >>> (p.street, p.community, p.name, p.door)
    ('东华门街道', '多福巷社区', '多福巷', '5')
    >>> parse("安定门内大街131号院3号楼东门").door, parse("安定门内大街131号院3号楼").building
    ('131', '3')
    >>> parse("安贞小区3楼").building, parse("安贞小区3号楼5楼").floor
    ('3', '5')
    """
    s = normalize(s, districts, typed=typed)
    out = Parsed(name="")
    for attr, names in (("street", streets), ("community", communities)):
        for n in sorted(names, key=len, reverse=True):
            if n and s.startswith(n) and len(s) > len(n):
                setattr(out, attr, n)
                s = s[len(n):]
                break
    if out.street and not out.community:  # 街道 then 社区 is the usual order; allow the other way round too
        for n in sorted(communities, key=len, reverse=True):
            if n and s.startswith(n) and len(s) > len(n):
                out.community, s = n, s[len(n):]
                break
    m = _INTERSECTION.match(s)
    if m and not re.search(r"[0-9]", m.group(1) + m.group(2)):
        out.roads = (m.group(1), m.group(2))
        out.name = m.group(1)
        return out
    first = re.search(r"[0-9]", s)
    # letters can be building numbers (a座 → a号楼); the name stops before them too
    letter = re.search(r"[a-z]+号楼", s)
    cut = min(x.start() for x in (first, letter) if x) if (first or letter) else len(s)
    out.name, rest = s[:cut], s[cut:]
    extra = []
    pos = 0
    for tok in _NUM_TOKEN.finditer(rest):
        extra.append(rest[pos:tok.start()])
        pos = tok.end()
        g = tok.groupdict()
        if g["triple"]:
            a, b, c = tok.group(2), tok.group(3), tok.group(4)
            out.building, out.unit, out.room = out.building or a, b, c
        elif g["pair"]:
            a, b = tok.group(6), tok.group(7)
            if out.building is None:
                out.building, out.unit = a, b
            elif out.unit is None:
                out.unit, out.room = a, b
            else:
                out.room = a + "-" + b
        elif g["bldg"]:
            out.building = g["bldg"]
        elif g["unit"]:
            out.unit = g["unit"]
        elif g["floor"]:
            out.floor = g["floor"]
        elif g["room"]:
            out.room = g["room"]
        elif g["door"]:
            if out.door is None and out.building is None:
                out.door = g["door"]
            else:
                extra.append(tok.group(0))
        elif g["lou"]:  # "3楼": a building when none was named yet, else a floor
            if out.building is None and out.door is None:
                out.building = g["lou"]
            else:
                out.floor = g["lou"]
        elif g["bare"]:
            if out.building is None and out.door is None:
                out.number = g["bare"]
            elif out.unit is None and out.building is not None:
                out.unit = g["bare"]
            elif out.room is None:
                out.room = g["bare"]
    extra.append(rest[pos:])
    out.extra = "".join(extra)
    return out


def bigrams(s: str) -> set[str]:
    """Character bigrams (a single character is its own gram).

    >>> sorted(bigrams("和平里"))
    ['和平', '平里']
    """
    if len(s) < 2:
        return {s} if s else set()
    return {s[i:i + 2] for i in range(len(s) - 1)}


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance with adjacent transpositions (optimal string alignment; rapidfuzz, in C).

    >>> edit_distance("和平里北里", "和平力北里"), edit_distance("演乐胡同", "乐演胡同"), edit_distance("", "ab")
    (1, 1, 2)
    """
    return OSA.distance(a, b)


@lru_cache(maxsize=65536)
def syllables(s: str) -> tuple[str, ...]:
    """The toneless pinyin of each character (pypinyin; a non-Chinese character stands for itself).

    >>> syllables("东四十条"), syllables("东四石条")
    (('dong', 'si', 'shi', 'tiao'), ('dong', 'si', 'shi', 'tiao'))
    """
    return tuple(lazy_pinyin(s, errors=lambda chars: list(chars)))


#: A name that sounds the same but is written differently scores this much of an exact match: a homophone is the
#: commonest slip of a hotline operator typing by pinyin, but never as sure as the right characters.
HOMOPHONE = 0.92


def sound_similarity(q: str, n: str) -> float:
    """How alike two names *sound*, 0..1, by edit distance over syllables, discounted by :data:`HOMOPHONE`.

    >>> sound_similarity("东四石条", "东四十条")
    0.92
    >>> round(sound_similarity("和平理北里", "和平里北里"), 2), sound_similarity("安定门", "和平里") < 0.5
    (0.92, True)
    """
    a, b = syllables(q), syllables(n)
    if not a or not b:
        return 0.0
    return HOMOPHONE * (1.0 - OSA.distance(a, b) / max(len(a), len(b)))


def name_similarity(q: str, n: str) -> float:
    """How alike two place names are, 0..1: 1 for equal; typos cost by edit distance; a query that
    holds the whole name plus extra words scores below an exact match.

    >>> name_similarity("和平里北里", "和平里北里")
    1.0
    >>> round(name_similarity("和平力北里", "和平里北里"), 2)
    0.8
    >>> round(name_similarity("东城和平里北里", "和平里北里"), 2)
    0.84
    >>> round(name_similarity("和平里", "和平里北里"), 2), round(name_similarity("和平里", "和平里苑"), 2)
    (0.68, 0.72)
    """
    if q == n:
        return 1.0
    if not q or not n:
        return 0.0
    d = edit_distance(q, n)
    sim = 1.0 - d / max(len(q), len(n))
    if n in q:  # the whole name, with extra words around it
        sim = max(sim, 0.7 + 0.2 * len(n) / len(q))
    elif q in n:  # part of a name ("和平里" for 和平里北里): a level is missing, several names may fit
        sim = 0.5 + 0.3 * len(q) / len(n)
    return sim
