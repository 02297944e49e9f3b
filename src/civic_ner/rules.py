"""Rule baseline for MONEY and COUNT (also used to pre-annotate).

Follows /work/shared/label-spec.md: a span is *number + unit*; leading hedges
(近, 约, 超, 共计, 累计, 价值 ...) and trailing rates or hedges (/人, 左右, 钱) stay outside.

Decisions on ambiguous cases (to be copied into the annotation guide):

* ``3000元钱`` -> ``3000元``; ``500元/人`` -> ``500元``; ``150人左右`` -> ``150人``;
  ``8666人(户)`` -> ``8666人``; ``300万元人民币`` -> ``300万元``, but ``300万人民币`` is one MONEY.
* Internal 多/余 before or after 万/亿 belong to the number: ``400多万元``, ``3万余元``, ``1000余万元``.
* Ranges are one span, the unit is shared: ``3万至4万元`` (MONEY), ``1—3处`` (COUNT).
* No measure word, no COUNT: ``50余企业``, ``3部门`` are left out (the spec needs number + measure word).
* Bare 一 + measure word (一名, 一个, 一家, 一户, 一批, 一次 ...) is the indefinite "a": never COUNT.
  With a multiplier or 余/多 it is a count (一万余人, 一百名).
* Bare 二 + measure word (二次家访) is an ordinal/compound; cardinal two is 两 (两名, 两家, 两次 are COUNT).
* Chinese numerals are COUNT when they count real things (三家企业, 四个村, 两次洽谈, 三批, 五项志愿服务活动,
  四种医联体模式, 千余种需求) but not in discourse structure or slogans: a following 方面/层面/维度/重点/关键/
  规定/力度 ... (四个方面, 三项重点, 六项规定程序), an enumeration header ending in a colon
  (做好三项工作:), or a quantity inside a short quoted name (“四个关键”, “一元捐”).
* A rank change is not a head count: 成绩提升20位, 排名上升5名.
* Fixed terms: 两节 (the holidays), 三台县 (a place), 千企帮千户 / 万家救助 (a bare 百/千/万 only starts
  a number when 余/多 follows: 千余种).
* Not COUNT: years and dates, durations and ages (年, 月, 个月, 天, 岁, 小时), percentages and 百分点,
  ordinals (第六场, 第一书记), physical measures (平米, 平方米, 亩, 吨, 公里, 万小时), numbers glued to
  letters/digits (ICP numbers, 1+X, 1-3层).
"""
from __future__ import annotations

import re

from .types import Span

# --- numbers ---------------------------------------------------------------------------------

_CN_DIGIT = "一二三四五六七八九十两"  # may start a Chinese numeral
_CN_ALL = "一二三四五六七八九十百千万亿两零〇"
_ARABIC = r"[0-9０-９]+(?:[.．][0-9０-９]+)?"
"""Arabic integer or decimal; a list marker like ``2.开展`` has no digit after the dot."""

_CHINESE = rf"(?:[{_CN_DIGIT}][{_CN_ALL}]*|[百千万](?=[多余]))"
"""Chinese numeral; a bare 百/千/万 only counts when 余/多 follows (千余种, not 千企帮千户)."""

_NUM = rf"(?:{_ARABIC}|{_CHINESE})[多余]?(?:[百千万亿]{{1,2}})?[多余]?"
"""Mantissa, optional 多/余, optional multiplier, optional 多/余: 400多万, 20余万, 3万余, 一万余."""

_RANGE_SEP = r"[—\-~～至到]"

_ARABIC_START = r"(?<![0-9０-９.．A-Za-zＡ-Ｚａ-ｚ第+＋\-/])(?=[0-9０-９])"
"""Arabic number not glued to digits/letters (ICP numbers, 1+X, 1-3层, 2021/4); 第 = ordinal."""

_CHINESE_START = rf"(?<![第几数{_CN_ALL}])(?=[{_CN_DIGIT}百千万])"
"""Chinese number not inside a longer numeral; 第 = ordinal; 几十/数百 are vague, not counts."""

_NUMBER = rf"(?:{_ARABIC_START}|{_CHINESE_START})(?P<num>{_NUM}(?:{_RANGE_SEP}{_NUM})?)"
"""A number or a range sharing one unit (3万至4万元, 1—3处)."""

# --- units -----------------------------------------------------------------------------------

_CURRENCY = r"(?P<unit>美元|美金|欧元|港元|港币|日元|韩元|英镑|人民币|元(?!旦))"
"""Currency unit; 元钱 stops at 元 and rates (元/人) stop before the slash by construction."""

# Measure word -> characters that must not follow it (they turn it into another word).
MEASURE_WORDS: dict[str, str] = {
    "人次": "", "户次": "", "批次": "", "场次": "", "件套": "",
    "名": "单额义称字誉片", "位": "于列居置", "个": "", "家": "庭属长乡", "户": "籍口型",
    "人": "民", "次": "日年要", "批": "准复示", "期": "间限待望盼", "场": "所地馆景",
    "项": "目", "所": "有在属以得需谓", "处": "理于置长室", "张": "", "支": "持付出部援撑教",
    "件": "事", "台": "县区市阶湾账", "座": "谈", "套": "餐", "辆": "", "间": "隔断", "条": "件例款",
    "种": "植子养", "类": "", "笔": "", "份": "额", "节": "日点约省能目", "组": "织建成团长",
    "对": "口象于接比待标照", "本": "村地次人市着身", "册": "", "栋": "", "幢": "", "棵": "",
    "株": "", "只": "是要有能为在", "头": "脑等条", "盏": "", "篇": "", "部": "门署分队",
    "轮": "", "例": "如会", "袋": "", "箱": "", "艘": "", "门": "诊槛户店口面前牌类窗",
}
_COUNT_UNIT = "(?P<unit>" + "|".join(
    re.escape(w) + (f"(?![{bad}])" if bad else "")
    for w, bad in sorted(MEASURE_WORDS.items(), key=lambda kv: -len(kv[0]))
) + ")"
"""Measure words of counted people, households, organisations, items and events (longest first)."""

_NOT_COUNT_AFTER = r"(?![多余]?(?:月|小时|钟头|星期|礼拜|工作日|年头|百分点))"
"""个 before a time word is a duration (3个月, 3个多月); 个百分点 is a percentage."""

MONEY_RE = re.compile(_NUMBER + _CURRENCY)
COUNT_RE = re.compile(_NUMBER + _COUNT_UNIT + _NOT_COUNT_AFTER)

# --- vetoes ----------------------------------------------------------------------------------

_ABSTRACT_NOUN = re.compile(
    r"(?:方面|层面|维度|重点(?=[，。,、；;：:\s]|工作|任务)|关键|要点|全面|意识|自信|维护|确立|代表|有利于|规定|服从|必须|"
    r"不准|务必|坚持|力度|统一|结合|共同点)"
)
"""Nouns that make "N个/N项 + noun" discourse structure or a slogan, not a statistic."""

_FIXED_TERMS = ("两节", "三台县")
"""Fixed expressions that look like number + measure word."""

_QUOTES = {"“": "”", "「": "」", "『": "』", '"': '"'}
_MAX_NAME_IN_QUOTES = 15


def _inside_quoted_name(text: str, start: int, end: int) -> bool:
    """True when [start, end) sits in a short quoted name/slogan and is not the whole of it."""
    lo = max(0, start - _MAX_NAME_IN_QUOTES)
    for i in range(start - 1, lo - 1, -1):
        ch = text[i]
        if ch in "”」』\n":
            return False
        if ch in _QUOTES:
            close = text.find(_QUOTES[ch], end, i + 1 + _MAX_NAME_IN_QUOTES + 1)
            if close == -1 or "\n" in text[end:close]:
                return False
            return not (i + 1 == start and close == end)
    return False


def _chinese_mantissa(m: re.Match[str]) -> str | None:
    """The leading Chinese numeral of a match, or None when the number is Arabic."""
    num = m.group("num")
    return None if num[0] in "0123456789０１２３４５６７８９" else num


_RANK_CHANGE = re.compile(r"(?:提升|上升|前进|提高|下降|后退|跃升|排名|名次|位列|位居)$")
"""成绩提升20位 / 排名上升5名: a change of rank, not a head count."""


def _count_vetoed(text: str, m: re.Match[str]) -> bool:
    after = text[m.end() : m.end() + 8]
    if _ABSTRACT_NOUN.match(after):
        return True
    if m.group("unit") in ("位", "名") and _RANK_CHANGE.search(text[max(0, m.start() - 4) : m.start()]):
        return True
    if _inside_quoted_name(text, m.start(), m.end()):
        return True
    cn = _chinese_mantissa(m)
    if cn is None:
        return False
    if cn in ("一", "二"):  # indefinite "a" / ordinal-like 二次
        return True
    if any(text.startswith(term, m.start()) for term in _FIXED_TERMS):
        return True
    # Enumeration header: 重点做好三项工作: / 主要是两个方面:
    return re.match(r"[^，。,.;；、！!？?\n]{0,6}[:：]", after) is not None


# --- public API ------------------------------------------------------------------------------


def find_money(text: str) -> list[Span]:
    """MONEY spans: number + currency unit, hedges and rates left out."""
    return [
        Span(m.start(), m.end(), "MONEY")
        for m in MONEY_RE.finditer(text)
        if not _inside_quoted_name(text, m.start(), m.end())
    ]


def find_counts(text: str) -> list[Span]:
    """COUNT spans: number + measure word, minus dates, ordinals, slogans and indefinite 一."""
    return [Span(m.start(), m.end(), "COUNT") for m in COUNT_RE.finditer(text) if not _count_vetoed(text, m)]


def rule_spans(text: str) -> list[Span]:
    """MONEY and COUNT together, sorted and non-overlapping; MONEY wins on overlaps."""
    money = find_money(text)
    kept = list(money)
    for c in find_counts(text):
        if all(c.end <= s.start or c.start >= s.end for s in money):
            kept.append(c)
    return sorted(kept)


def disagreements(text: str, spans: list[Span]) -> tuple[list[Span], list[Span]]:
    """MONEY/COUNT the rules find but the annotation lacks, and those it marks that the rules miss:
    what a writer re-reads before an item is accepted (scripts/synthetic.py, scripts/grounded.py)."""
    marked = {s for s in spans if s.label in ("MONEY", "COUNT")}
    ruled = set(rule_spans(text))
    return sorted(ruled - marked), sorted(marked - ruled)
