"""Normalized values of MONEY and COUNT surfaces."""
from __future__ import annotations

import pytest

from civic_ner.values import CountValue, MoneyValue, parse_count, parse_money


@pytest.mark.parametrize(
    ("surface", "yuan", "approximate", "currency"),
    [
        ("2.369亿元", 236900000.0, False, "CNY"),
        ("268.94万元", 2689400.0, False, "CNY"),
        ("400多万元", 4000000.0, True, "CNY"),
        ("20余万元", 200000.0, True, "CNY"),
        ("5000元", 5000.0, False, "CNY"),
        ("5万余元", 50000.0, True, "CNY"),
        ("5000余万元", 50000000.0, True, "CNY"),
        ("971.74万元", 9717400.0, False, "CNY"),
        ("0.5亿元", 50000000.0, False, "CNY"),
        ("125.2亿元", 12520000000.0, False, "CNY"),
        ("3000元钱", 3000.0, False, "CNY"),
        ("一万元", 10000.0, False, "CNY"),
        ("两千元", 2000.0, False, "CNY"),
        ("三百六十五元", 365.0, False, "CNY"),
        ("5000美元", 5000.0, False, "USD"),
        ("300万人民币", 3000000.0, False, "CNY"),
        ("５０００万元", 50000000.0, False, "CNY"),
        ("近30万元", 300000.0, True, "CNY"),
        ("共计118.8万元", 1188000.0, False, "CNY"),
    ],
)
def test_parse_money(surface: str, yuan: float, approximate: bool, currency: str) -> None:
    assert parse_money(surface) == MoneyValue(yuan, approximate, currency)


def test_money_range() -> None:
    assert parse_money("3万至4万元") == MoneyValue(30000.0, True, "CNY", upper=40000.0)
    assert parse_money("3至4万元") == MoneyValue(30000.0, True, "CNY", upper=40000.0)


@pytest.mark.parametrize(
    ("surface", "value", "unit", "approximate"),
    [
        ("12.3万户", 123000, "户", False),
        ("4.88万个", 48800, "个", False),
        ("一万余人", 10000, "人", True),
        ("170余人次", 170, "人次", True),
        ("1125名", 1125, "名", False),
        ("3000多位", 3000, "位", True),
        ("28.16万人", 281600, "人", False),
        ("196.45万份", 1964500, "份", False),
        ("2万余件套", 20000, "件套", True),
        ("三批", 3, "批", False),
        ("两名", 2, "名", False),
        ("十二个", 12, "个", False),
        ("三百六十五名", 365, "名", False),
        ("两千人", 2000, "人", False),
        ("千余种", 1000, "种", True),
        ("一亿两千万人", 120000000, "人", False),
        ("150人左右", 150, "人", True),
    ],
)
def test_parse_count(surface: str, value: int, unit: str, approximate: bool) -> None:
    parsed = parse_count(surface)
    assert parsed == CountValue(value, unit, approximate)
    assert type(parsed.value) is int


def test_count_range() -> None:
    assert parse_count("1—3处") == CountValue(1, "处", True, upper=3)


@pytest.mark.parametrize("surface", ["abc", "元", "5元5", "1-2-3个", "3个元"])
def test_money_errors(surface: str) -> None:
    with pytest.raises(ValueError, match="'" + surface + "'"):
        parse_money(surface)


@pytest.mark.parametrize("surface", ["abc", "2.5个", "21年", "65岁", "3%", "800平米", "5000元"])
def test_count_errors(surface: str) -> None:
    with pytest.raises(ValueError, match="'" + surface + "'"):
        parse_count(surface)
