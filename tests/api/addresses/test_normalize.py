"""Normalising and parsing hotline addresses (pure functions; their doctests run here too)."""

from __future__ import annotations

import doctest

import pytest

from api.addresses import normalize as nz
from api.addresses.normalize import name_similarity, normalize, parse


def test_doctests() -> None:
    failed, tried = doctest.testmod(nz)
    assert tried > 15 and failed == 0


@pytest.mark.parametrize("variant", [
    "安德里家园13号楼2单元", "安德里家园十三号楼二单元", "安德里家园１３号楼２单元", "安德里家园13栋2门",
    "安德里家园13幢2单元",
    "安德里家园13座2单元", "北京市东城区安德里家园13号楼2单元", "东城区 安德里家园，13号楼 2单元 门口",
    "安德里家园13#楼2单元附近", "北京安德里家园13号楼2单元东侧", "安德里家园13号楼2单元的楼下",
])
def test_variants_normalise_to_one_form(variant: str) -> None:
    assert normalize(variant) == "安德里家园13号楼2单元"


def test_numerals_inside_names_are_kept() -> None:
    assert normalize("东四十条十二号") == "东四十条12号"
    assert normalize("北新桥三条四号院") == "北新桥三条4号"
    assert normalize("四块玉南里二十三号楼") == "四块玉南里23号楼"


def test_parse_hierarchy_and_numbers() -> None:
    p = parse("东华门街道多福巷社区多福巷5号", streets=["东华门街道"], communities=["多福巷社区"])
    assert (p.street, p.community, p.name, p.door) == ("东华门街道", "多福巷社区", "多福巷", "5")
    p = parse("幸福里小区3号楼2单元301室门口")
    assert (p.name, p.building, p.unit, p.room) == ("幸福里小区", "3", "2", "301")
    assert parse("光明路与建设街交叉口东北角").roads == ("光明路", "建设街")
    assert parse("光明路和天坛东路十字路口").roads == ("光明路", "天坛东路")
    assert parse("安定门内大街131号院3号楼").door == "131"


def test_name_similarity_orders_typos_partials_and_extras() -> None:
    assert name_similarity("和平里北里", "和平里北里") == 1.0
    typo = name_similarity("和平力北里", "和平里北里")
    partial = name_similarity("和平里", "和平里北里")
    assert 0.75 <= typo < 1.0 and partial < typo
