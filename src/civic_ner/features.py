"""Per-character signals that work on tiny data: LAC words, rule matches, quotation context, lexicon.

One function, :func:`char_features`, computes them for a text; training, evaluation and prediction
all go through it (via :mod:`civic_ner.dataset`), so a model never sees features computed one way in
training and another way at prediction time. Every feature is a short string per character, in
named groups (:data:`FEATURE_GROUPS`); the neural tagger embeds each group, the feature CRF reads
them as CRFsuite attributes. Whitespace characters get features too (callers skip them as they skip
their tokens).
"""
from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from .rules import rule_spans

FEATURE_GROUPS: tuple[str, ...] = ("lac", "rule", "quote", "lexicon", "shape")
"""lac: BIES position + LAC tag of the word holding the character (S-ORG, B-n ...); rule: B/I-MONEY,
B/I-COUNT from the regex rules; quote: where the character sits relative to quotation marks; lexicon:
ends a program head noun or an organization suffix; shape: Han, digit, Chinese numeral, Latin, punct."""

LEXICAL_GROUPS: tuple[str, ...] = ("char", "bigram", "bigram_next")
"""Read off the text itself (the character, the bigram ending and the one starting at it), not
stored with the corpus: the character n-grams the feature CRF relies on, for the network's head."""

ALL_GROUPS = FEATURE_GROUPS + LEXICAL_GROUPS

FEATURES_VERSION = 1
"""Bumped whenever a feature changes meaning: model directories record it and refuse a mismatch."""

OPEN_QUOTES = {"“": "”", "‘": "’", "「": "」", "『": "』", "\"": "\"", "＂": "＂"}
SHORT_QUOTE = 20
"""Quoted text up to this many characters is a name or slogan; longer is speech."""

PROGRAM_HEADS = (
    "工程", "计划", "行动", "项目", "活动", "基金", "工作室", "大赛", "竞赛", "培训班", "讲堂", "集市", "工坊",
    "专项", "助学", "救助", "帮扶", "公益", "服务", "品牌", "家园", "课堂", "小屋", "驿站", "志愿",
)
ORG_SUFFIXES = (
    "局", "委", "会", "联", "办", "部", "院", "厅", "署", "处", "所", "站", "社", "团", "队", "中心", "公司",
    "集团", "银行", "支行", "分行", "医院", "学校", "小学", "中学", "大学", "学院", "协会", "基金会",
    "委员会", "党支部", "党委", "支部", "政府", "报社", "电视台", "日报", "网",
)
_CN_NUMERALS = set("一二三四五六七八九十百千万亿两零〇")


def _shape(ch: str) -> str:
    if ch.isspace():
        return "space"
    if "0" <= ch <= "9" or "０" <= ch <= "９":
        return "digit"
    if ch in _CN_NUMERALS:
        return "cnnum"
    if "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf":
        return "han"
    if ch.isascii() and ch.isalpha() or "Ａ" <= ch <= "Ｚ" or "ａ" <= ch <= "ｚ":
        return "latin"
    return "punct" if not ch.isalnum() else "other"


def quote_tags(text: str) -> list[str]:
    """Per character: O outside quotes; open/close for the marks; inside short quotes B/I/E/S by
    position; L inside long quotes (speech). Quotes pair within a line; ASCII quotes pair in order."""
    tags = ["O"] * len(text)
    i = 0
    while i < len(text):
        ch = text[i]
        close = OPEN_QUOTES.get(ch)
        if close is None:
            i += 1
            continue
        line_end = text.find("\n", i)
        line_end = len(text) if line_end == -1 else line_end
        j = text.find(close, i + 1, line_end)
        if j == -1:
            i += 1
            continue
        tags[i], tags[j] = "open", "close"
        n = j - i - 1
        if n > SHORT_QUOTE:
            for k in range(i + 1, j):
                tags[k] = "L"
        elif n == 1:
            tags[i + 1] = "S"
        elif n > 1:
            tags[i + 1] = "B"
            tags[j - 1] = "E"
            for k in range(i + 2, j - 1):
                tags[k] = "I"
        i = j + 1 if n > SHORT_QUOTE else i + 1  # short quotes may hold nested ones: keep scanning inside
    return tags


def lexicon_tags(text: str) -> list[str]:
    """``prog`` on the characters of a program head noun, ``org`` on an organization suffix, else O
    (longest match; heads win over suffixes)."""
    tags = ["O"] * len(text)
    for words, tag in ((ORG_SUFFIXES, "org"), (PROGRAM_HEADS, "prog")):
        for word in sorted(words, key=len):
            start = text.find(word)
            while start != -1:
                for k in range(start, start + len(word)):
                    tags[k] = tag
                start = text.find(word, start + 1)
    return tags


def span_tags(n: int, spans) -> list[str]:
    tags = ["O"] * n
    for span in spans:
        for k in range(span.start, span.end):
            tags[k] = ("B-" if k == span.start else "I-") + span.label
    return tags


@lru_cache(maxsize=1)
def _lac():
    from .lac import LacOrgTagger

    return LacOrgTagger()


def lac_tags(texts: Sequence[str]) -> list[list[str]]:
    """BIES-tag per character of the LAC word it belongs to; whitespace and newlines are ``S-w``."""
    lac = _lac()
    out = []
    for text in texts:
        tags = ["S-w"] * len(text)
        for start, end, _word, tag in lac.analyse(text):
            if end - start == 1:
                tags[start] = f"S-{tag}"
                continue
            tags[start] = f"B-{tag}"
            for k in range(start + 1, end - 1):
                tags[k] = f"I-{tag}"
            tags[end - 1] = f"E-{tag}"
        out.append(tags)
    return out


def char_features(texts: Sequence[str]) -> list[dict[str, list[str]]]:
    """For each text, ``{group: [feature of each character]}`` for every group of FEATURE_GROUPS."""
    lac = lac_tags(texts)
    out = []
    for text, lac_row in zip(texts, lac):
        out.append(
            {
                "lac": lac_row,
                "rule": span_tags(len(text), rule_spans(text)),
                "quote": quote_tags(text),
                "lexicon": lexicon_tags(text),
                "shape": [_shape(ch) for ch in text],
            }
        )
    return out


def with_lexical(text: str, feats: dict[str, list[str]]) -> dict[str, list[str]]:
    """``feats`` plus the :data:`LEXICAL_GROUPS` of ``text``."""
    padded = f"\x02{text}\x03"
    return {
        **feats,
        "char": list(text),
        "bigram": [padded[i : i + 2] for i in range(len(text))],
        "bigram_next": [padded[i + 1 : i + 3] for i in range(len(text))],
    }


def crf_attributes(text: str, feats: dict[str, list[str]], positions: Sequence[int]) -> list[dict[str, float | str]]:
    """CRFsuite attributes for the characters at ``positions`` (the content characters): character
    n-grams in a ±2 window, LAC word and tag, rule/quote/lexicon/shape groups at -1, 0, +1."""
    chars = [text[p] for p in positions]
    groups = {g: [feats[g][p] for p in positions] for g in FEATURE_GROUPS}
    n = len(chars)

    def c(k: int) -> str:
        return chars[k] if 0 <= k < n else ("<s>" if k < 0 else "</s>")

    rows = []
    for i in range(n):
        row: dict[str, float | str] = {"bias": 1.0}
        for d in (-2, -1, 0, 1, 2):
            row[f"c[{d}]"] = c(i + d)
        for d in (-2, -1, 0, 1):
            row[f"c[{d}:{d + 2}]"] = c(i + d) + c(i + d + 1)
        row["c[-1:2]"] = c(i - 1) + c(i) + c(i + 1)
        for g in FEATURE_GROUPS:
            row[f"{g}[0]"] = groups[g][i]
            for d in (-1, 1):
                row[f"{g}[{d}]"] = groups[g][i + d] if 0 <= i + d < n else "<pad>"
        row["lac|quote"] = groups["lac"][i] + "|" + groups["quote"][i]
        row["lex|c"] = groups["lexicon"][i] + "|" + chars[i]
        rows.append(row)
    return rows
