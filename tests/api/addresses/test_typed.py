"""Issue 24, "addresses as operators type them": numerals inside names both ways, homophones through pinyin,
near misses through edit distance; ranked, and never confidently wrong. On a small registry built here, so that
each case says exactly which names compete (the benchmark measures the sample district: bench/addresses.py)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from api.addresses.index import AddressIndex

NAMES = [("东四十条", "road"), ("北新桥三条", "road"), ("和平里北里", "estate"), ("和平里南里", "estate"),
         ("安定门内大街", "road"), ("东四北大街", "road"), ("幸福里", "estate"), ("杏福里", "estate"),
         ("八一小区", "estate")]


def _rows() -> list[SimpleNamespace]:
    rows, i = [], 0
    for name, kind in NAMES:
        for number in ("5", "8", "10"):
            i += 1
            road, estate = (name, None) if kind == "road" else (None, name)
            rows.append(SimpleNamespace(
                id=i, code=f"A{i}", kind="building", building_id=i, building_code=f"B-{name}-{number}",
                full_text=f"{name}{number}{'号' if road else '号楼'}", road=road, door_number=number if road else None,
                estate=estate, building_no=None if road else number, unit=None, street=None, community=None,
                aliases=[], lon=116.4, lat=39.9))
    return rows


@pytest.fixture(scope="module")
def typed() -> AddressIndex:
    return AddressIndex.from_rows(_rows())


@pytest.fixture(scope="module")
def today() -> AddressIndex:
    return AddressIndex.from_rows(_rows(), typed=False)


@pytest.mark.parametrize(("query", "code"), [
    ("东四10条5号", "B-东四十条-5"),        # numerals inside the name, typed as digits
    ("北新桥3条8号", "B-北新桥三条-8"),
    ("东四石条5号", "B-东四十条-5"),        # a homophone (shí)
    ("东四十条五号", "B-东四十条-5"),       # the number in Chinese: an address number, converted
    ("和平理北里八号楼", "B-和平里北里-8"),  # homophone and a Chinese building number (八号楼 ⇄ 8号楼)
    ("按定门内大街10号", "B-安定门内大街-10"),
    ("八一小区10号楼", "B-八一小区-10"),
])
def test_typed_and_misheard_names_reach_the_building(typed: AddressIndex, today: AddressIndex, query: str,
                                                      code: str) -> None:
    res = typed.resolve(query)
    assert res.status == "matched" and res.best.entry.building_code == code, (query, res.status, res.reason,
                                                                              [c.as_dict() for c in res.candidates])


def test_the_baseline_misses_what_is_new(typed: AddressIndex, today: AddressIndex) -> None:
    """The same queries against the index as it was (typed=False): the numeral fails there, and the homophone
    scores as any one-character typo would (a larger registry has many of those: bench/addresses.py)."""
    res = today.resolve("东四10条5号")
    assert res.best is None or res.best.entry.building_code != "B-东四十条-5"
    assert typed.resolve("东四10条5号").best.entry.building_code == "B-东四十条-5"
    heard, seen = typed.resolve("东四石条5号").best, today.resolve("东四石条5号").best
    assert heard.matched["name"] == "sound" and heard.score > seen.score + 0.1


def test_a_homophone_of_two_names_is_offered_not_guessed(typed: AddressIndex) -> None:
    """幸福里 and 杏福里 are both registered and both xìng fú lǐ; 星福里 sounds like both: never a confident
    answer, both offered first."""
    res = typed.resolve("星福里5号楼")
    assert res.status == "ambiguous", [c.as_dict() for c in res.candidates]
    assert {c.entry.building_code for c in res.candidates[:2]} == {"B-杏福里-5", "B-幸福里-5"}
    assert typed.resolve("幸福里5号楼").best.entry.building_code == "B-幸福里-5"  # the right characters: exact


def test_numbers_are_never_fuzzed(typed: AddressIndex) -> None:
    assert typed.resolve("东四十条7号").status == "not_found"  # 7 is no door of 东四十条, whatever sounds alike
    res = typed.resolve("东四石条7号")
    assert res.best is None
