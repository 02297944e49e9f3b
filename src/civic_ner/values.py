"""Normalized values of MONEY and COUNT surfaces (for prediction output).

Arithmetic is done in ``Decimal`` so that ``2.369亿元`` is exactly 236900000 and not 236899999.99...
多/余/左右/近/约 mark a value as approximate; a range (``3万至4万元``) gives its lower bound in the main
field, its upper bound in ``upper`` and is approximate. Hedge words that the spec keeps outside the span
(近, 约, 超过, 共计 ...) and a trailing 钱/左右 are tolerated so that a slightly-off span still parses.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal

__all__ = ["MoneyValue", "CountValue", "parse_money", "parse_count", "parse_number"]


@dataclass(frozen=True)
class MoneyValue:
    """``yuan`` is the amount in units of ``currency`` (no exchange-rate conversion for USD etc.)."""

    yuan: float
    approximate: bool
    currency: str
    upper: float | None = None  # upper bound of a range, else None


@dataclass(frozen=True)
class CountValue:
    value: int
    unit: str  # the measure word: 名, 户, 人次 ...
    approximate: bool
    upper: int | None = None  # upper bound of a range, else None


_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5,
              "六": 6, "七": 7, "八": 8, "九": 9}
_SMALL_UNITS = {"十": 10, "百": 100, "千": 1000}
_MULTIPLIERS = {"十": 10, "百": 100, "千": 1000, "万": 10**4, "亿": 10**8}

_CURRENCIES = {"美元": "USD", "美金": "USD", "欧元": "EUR", "港元": "HKD", "港币": "HKD", "日元": "JPY",
               "韩元": "KRW", "英镑": "GBP", "人民币": "CNY", "元": "CNY"}

_HEDGE_PREFIX = re.compile(r"^(?:近|约|超过|超|逾|达|共计|累计|合计|共|价值|值|折合)+")
_APPROX_PREFIX = re.compile(r"^(?:近|约|超过|超|逾|折合)")
_APPROX_SUFFIX = ("左右", "上下", "许")
_RANGE = re.compile(r"[—\-~～至到]")
_ARABIC_PART = re.compile(r"^([0-9]+(?:\.[0-9]+)?)([十百千万亿]*)$")
_CHINESE_PART = re.compile(r"^[零〇一二两三四五六七八九十百千万亿]+$")


def _chinese_to_int(s: str) -> int:
    """三百六十五 -> 365, 一万 -> 10000, 一亿两千万 -> 120000000, 十二 -> 12, 百 -> 100."""
    total = section = number = 0
    for ch in s:
        if ch in _CN_DIGITS:
            number = _CN_DIGITS[ch]
        elif ch in _SMALL_UNITS:
            section += (number or 1) * _SMALL_UNITS[ch]
            number = 0
        elif ch == "万":
            total += (section + number or 1) * 10**4
            section = number = 0
        elif ch == "亿":
            total = (total + section + number or 1) * 10**8
            section = number = 0
        else:
            raise ValueError(f"not a Chinese numeral: {s!r}")
    return total + section + number


def parse_number(s: str) -> tuple[Decimal, bool]:
    """One number without unit: (value, approximate). Handles 12.3万, 400多万, 一万余, 5万余."""
    approximate = "多" in s or "余" in s
    core = s.replace("多", "").replace("余", "")
    m = _ARABIC_PART.match(core)
    if m:
        value = Decimal(m.group(1))
        for ch in m.group(2):
            value *= _MULTIPLIERS[ch]
        return value, approximate
    if core and _CHINESE_PART.match(core):
        return Decimal(_chinese_to_int(core)), approximate
    raise ValueError(f"cannot parse number {s!r}")


_NUMBER_CHARS = "0-9.零〇一二两三四五六七八九十百千万亿多余—\\-~～至到"
# The unit may be missing: a headline count whose noun is left out (``50余企业`` -> COUNT ``50余``).
_SURFACE = re.compile(rf"^(?P<num>[{_NUMBER_CHARS}]+)(?P<unit>[^{_NUMBER_CHARS}]*)$")


def _split(surface: str) -> tuple[Decimal, Decimal | None, bool, str]:
    """Strip hedges, split number and unit, parse number or range: (low, high, approximate, unit)."""
    s = unicodedata.normalize("NFKC", surface).strip()
    approximate = bool(_APPROX_PREFIX.match(s))
    s = _HEDGE_PREFIX.sub("", s)
    for suffix in _APPROX_SUFFIX:
        if s.endswith(suffix):
            s, approximate = s[: -len(suffix)], True
    m = _SURFACE.match(s)
    if m is None:
        raise ValueError(f"cannot split number and unit in {surface!r}")
    parts = _RANGE.split(m.group("num"))
    try:
        if len(parts) == 1:
            low, approx = parse_number(parts[0])
            return low, None, approximate or approx, m.group("unit")
        if len(parts) != 2:
            raise ValueError(surface)
        low, _ = parse_number(parts[0])
        high, _ = parse_number(parts[1])
    except (ValueError, ArithmeticError):
        raise ValueError(f"cannot parse {surface!r}") from None
    # 3至4万元 means 3万至4万元: a bare Arabic lower bound borrows the upper bound's multiplier.
    high_mult = re.search(r"[十百千万亿][多余]?$", parts[1])
    if high_mult and re.fullmatch(r"[0-9.]+[多余]?", parts[0]):
        low *= _MULTIPLIERS[high_mult.group()[0]]
    return low, high, True, m.group("unit")


def parse_money(surface: str) -> MoneyValue:
    """``268.94万元`` -> 2689400.0 CNY; ``400多万元`` -> 4000000.0, approximate; ``3000元钱`` ok."""
    low, high, approximate, unit = _split(surface)
    unit = unit.removesuffix("钱")
    if unit not in _CURRENCIES:
        raise ValueError(f"unknown currency unit {unit!r} in {surface!r}")
    return MoneyValue(float(low), approximate, _CURRENCIES[unit], None if high is None else float(high))


def _to_int(d: Decimal, surface: str) -> int:
    if d != d.to_integral_value():
        raise ValueError(f"count is not a whole number: {surface!r}")
    return int(d)


_NOT_COUNT_UNITS = frozenset(
    "年 岁 月 月份 日 天 周 小时 分钟 秒 平米 平方米 亩 米 公里 吨 公斤 斤 千克 度 倍 成".split()
)
"""Dates, durations, ages and physical measures: never COUNT (label spec)."""


def parse_count(surface: str) -> CountValue:
    """``12.3万户`` -> 123000 户; ``一万余人`` -> 10000 人, approximate; ``170余人次`` -> 170 人次.

    A count without a measure word (``50余`` in ``50余企业``, as the label spec allows) has unit ``""``.
    """
    low, high, approximate, unit = _split(surface)
    if unit and not re.fullmatch(r"[\u4e00-\u9fff]+", unit) or unit in _NOT_COUNT_UNITS or unit in _CURRENCIES:
        raise ValueError(f"not a count measure word {unit!r} in {surface!r}")
    return CountValue(_to_int(low, surface), unit, approximate, None if high is None else _to_int(high, surface))
