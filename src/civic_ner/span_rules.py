"""Span rules applied after decoding (``Tagger.predict``): what the guide says an entity can and cannot be.

- Page clutter is never an entity: web and e-mail addresses, and a span over a line break (D32).
  Bulletins copied from portals carry URLs and navigation lines; a tagger that has seen few labels
  pieces of them (a domain as ORG).
- Names written one after another in their own quotes are one entity each (D7, D35): a span that
  runs across ``”“`` or ``”暨“`` is cut at the quotes.
- A program name ends where a word ends: a PROGRAM span that stops inside a word of the LAC
  segmentation (送温|暖, 阳光就业行|动) is completed to the word's end, never across punctuation or
  into another span. The network reads subword pieces and sometimes stops one character short;
  ORG spans are left alone (completing them measured worse on province CV).
- A quoted name is named whole (D43, D61): a PROGRAM that starts or ends at the edge of a short
  “…” stretch and stops inside it (“[青]春朝阳”, “[邮政农村电商·助力]精准脱贫”) is extended to the
  whole quoted text, unless the rest holds a list separator or another span, the quotes sit in a
  《》 title, or the quoted text is an honour (below).
- An honour is not a program (D20): a quoted PROGRAM followed by 奖, 称号, 荣誉, 铜牌, 牌匾 or 奖牌
  (获得“中华慈善品牌项目”奖, 领到一块“爱心助学”铜牌) is dropped.
- A number is never cut (D36, D64): a COUNT or MONEY that stops inside its number ([38.3]万困难残疾人,
  [2万][2千余人次]) or a COUNT before its measure word ([百]名, [516万条]次, [9368人]份) is completed.
- Numbers that are no count (D32, D64): page counters (查看：623次, 评论 0人参与 0条评论) and
  session ordinals after 届 (五届五次会议) are dropped.
- An amount whose currency unit is elided is MONEY after a money word (D46: 善款800余万, 筹资33万):
  a COUNT there is retyped, a missed one added.
- A round amount is MONEY (D45): 千万元, 百亿元, 万元 with no digit before them (近/上 stay out, D44).
- A number in 万 directly before the counted people or households is COUNT (D36: 12万干部群众,
  10.29万贫困劳动力 → 12万, 10.29万).
- A name known from the text keeps its own surface before a generic noun (D19, D43, D65): a PROGRAM
  made of a name the text quotes or labels alone and 活动, 助学金, 资金, 慰问金 or 救助金 (金秋助学助学金,
  金秋助学金, 金秋助学活动 → 金秋助学; 希望工程助学金 → 希望工程) is cut to the name. It reads the whole
  text for the known names (a set built once: linear); +0.6 PROGRAM, +0.1 micro on province CV.
- What the guide keeps out of PROGRAM, or how it cuts one (D9, D12, D20, D24, D61: titles and awards,
  accounts and apps, facilities, quoted series words, a verb's particle): :mod:`civic_ner.program_rules`.
The rules after the word completion were written from the errors of the shipped recipe's province CV
predictions (bench/cv_errors.py), never from a test split. No gold span breaks the first two rules
(``tests/test_predict.py``), and the later rules change no gold span of the training sections but one
unlabelled round amount (``tests/test_span_rules.py``); the effect of each is measured in bench/RESULTS.md (one "without the
<rule>" row each, ``bench/cv_grid.py summarize --span-rules no-<rule>``).
"""
from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from .program_rules import PROGRAM_RULES, program_rule_steps
from .rules import MEASURE_WORDS

WEB_ADDRESS_RE = re.compile(
    r"(?:https?://|www\.)[A-Za-z0-9._~:/?#@!$&'()*+,;=%-]+"  # a URL
    r"|[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"  # an e-mail address
    r"|[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.(?:com|cn|net|org|gov|edu)(?:\.cn)?(?:/[A-Za-z0-9._~/?#=&%-]*)?"  # a bare domain
)


def clutter_ranges(text: str) -> list[tuple[int, int]]:
    """Character ranges of web and e-mail addresses in ``text``."""
    return [m.span() for m in WEB_ADDRESS_RE.finditer(text)]


def is_clutter(text: str, start: int, end: int, ranges: Sequence[tuple[int, int]] | None = None) -> bool:
    """True when [start, end) crosses a line break or overlaps a web or e-mail address."""
    if "\n" in text[start:end]:
        return True
    ranges = clutter_ranges(text) if ranges is None else ranges
    return any(start < b and a < end for a, b in ranges)


def drop_clutter(text: str, spans: Sequence) -> list:
    """The spans (anything with ``start``/``end``) that are not clutter, in their order."""
    ranges = clutter_ranges(text)
    return [s for s in spans if not is_clutter(text, s.start, s.end, ranges)]


_ADJACENT_QUOTES_RE = re.compile(r"”\s*(?:暨|、|和|与)?\s*“")


def split_adjacent_quotes(text: str, spans: Sequence, make) -> list:
    """Cut every span that runs across ``”“`` (or ``”暨“``, ``”、“``) into the quoted names inside
    it; ``make(start, end, span)`` builds a piece of the same type as the span."""
    out = []
    for span in spans:
        inner = text[span.start : span.end]
        cuts = [(m.start(), m.end()) for m in _ADJACENT_QUOTES_RE.finditer(inner)]
        if not cuts:
            out.append(span)
            continue
        start = span.start
        for a, b in cuts:
            if span.start + a > start:
                out.append(make(start, span.start + a, span))
            start = span.start + b
        if span.end > start:
            out.append(make(start, span.end, span))
    return out


WORD_COMPLETED_LABELS = ("PROGRAM",)
MAX_COMPLETION = 2
"""At most this many characters are added to finish a word (longer words are a different error)."""
_NO_COMPLETION = set("，。、；：“”‘’（）《》「」【】！？,.;:()!?\"'·・—-　 \n\t")


def complete_words(text: str, spans: Sequence, lac_tags: Sequence[str], make: Callable) -> list:
    """Extend each PROGRAM span that ends inside a LAC word (tags B-/I-/E-/S-) to that word's end;
    ``make(start, end, span)`` builds the longer span."""
    word_ends = [i + 1 for i, tag in enumerate(lac_tags) if tag[:1] in ("E", "S")]  # rising
    starts = sorted(s.start for s in spans)
    out = []
    for span in spans:
        end = span.end
        k = bisect_left(word_ends, end)  # by bisection: a scan per span is quadratic in a long bulletin
        if span.label in WORD_COMPLETED_LABELS and not (k < len(word_ends) and word_ends[k] == end) and end < len(text):
            new_end = word_ends[k] if k < len(word_ends) else end
            added = text[end:new_end]
            if (0 < len(added) <= MAX_COMPLETION and not set(added) & _NO_COMPLETION
                    and bisect_left(starts, end) == bisect_left(starts, new_end)):
                span = make(span.start, new_end, span)
        out.append(span)
    return out


@dataclass(frozen=True)
class _Labelled:
    """What ``make`` reads off a span, for a span a rule labels itself (retyped or added): the label
    the guide gives it and a score of 1 (a rule's decision, not a probability of the network)."""

    label: str
    score: float = 1.0


class Overlaps:
    """Which of a set of flat spans overlap a range, by bisection: the rules ask once per span or
    match, and a long bulletin has thousands of each (a scan per question is quadratic)."""

    def __init__(self, spans: Sequence) -> None:
        self.spans = sorted(spans, key=lambda s: (s.start, s.end))
        self.starts = [s.start for s in self.spans]

    def __call__(self, start: int, end: int) -> list:
        """The spans overlapping [start, end), in order (flat spans: their ends rise with their starts)."""
        found = []
        j = bisect_left(self.starts, end) - 1
        while j >= 0 and self.spans[j].end > start:
            found.append(self.spans[j])
            j -= 1
        return found[::-1]


_QUOTED_RE = re.compile(r"“([^“”\n]{1,24})”|「([^「」\n]{1,24})」|『([^『』\n]{1,24})』")
"""A short quoted stretch (a name, not a quoted sentence)."""
_LIST_SEPARATORS = set("、，,;；。：:！？!?")
_HONOUR_AFTER_RE = re.compile(r"”?(?:奖(?![补金励学助])|称号|荣誉|铜牌|牌匾|奖牌)")
"""After a quoted text, the words that make it an honour (but 奖补资金, 奖学金 are money)."""


class _Titles:
    """Where 《》 titles are, to ask whether a range lies inside one (never an entity)."""

    def __init__(self, text: str) -> None:
        self.opens = [i for i, c in enumerate(text) if c == "《"]
        self.closes = [i for i, c in enumerate(text) if c == "》"]

    def around(self, start: int, end: int) -> bool:
        """True when a 《 before ``start`` is not closed before it and a 》 follows ``end``."""
        k, c = bisect_left(self.opens, start), bisect_left(self.closes, start)
        last_open = self.opens[k - 1] if k else -1
        last_close = self.closes[c - 1] if c else -1
        return last_open > last_close and bisect_left(self.closes, end) < len(self.closes)


def complete_quoted_programs(text: str, spans: Sequence, make: Callable) -> list:
    """Extend a PROGRAM that starts or ends at the edge of a short quoted stretch and stops inside it
    to the whole quoted text (D43, D61: a quoted name is the text inside the quotes). The network
    often stops at a word it knows (“[青]春朝阳”); a rest with a list separator (two names, D7), with
    another span, in a 《》 title or before an honour word is left alone."""
    if not any(span.label == "PROGRAM" for span in spans):
        return list(spans)
    quotes = [(m.start() + 1, m.end() - 1) for m in _QUOTED_RE.finditer(text)]
    quote_starts = [a for a, _ in quotes]
    overlapping, titles = Overlaps(spans), _Titles(text)
    out = []
    for span in spans:
        k = bisect_right(quote_starts, span.start) - 1  # quotes do not overlap: at most one holds the span
        if span.label == "PROGRAM" and k >= 0 and span.end <= quotes[k][1]:
            a, b = quotes[k]
            rest = text[a : span.start] + text[span.end : b]
            if (rest and (span.start == a or span.end == b) and not set(rest) & _LIST_SEPARATORS
                    and overlapping(a, b) == [span] and not titles.around(a, b)
                    and not _HONOUR_AFTER_RE.match(text, b)):
                span = make(a, b, span)
        out.append(span)
    return out


def drop_quoted_honours(text: str, spans: Sequence) -> list:
    """Drop a PROGRAM that is a quoted text followed by 奖, 称号, 荣誉, 铜牌, 牌匾 or 奖牌: the name of
    an honour or an award, not of a program (D20)."""
    return [s for s in spans if not (s.label == "PROGRAM" and text[s.start - 1 : s.start] == "“"
                                     and text[s.end : s.end + 1] == "”" and _HONOUR_AFTER_RE.match(text, s.end))]


_DIGITS = set("0123456789０１２３４５６７８９")
_NUMBER_CHARS = _DIGITS | set(".一二三四五六七八九十百千万亿两零〇余多")
_MEASURE_WORDS = {w for w in MEASURE_WORDS if len(w) == 1} | set("单副款床桶口羽届起")
"""The one-character measure words of the rule tagger (:data:`civic_ner.rules.MEASURE_WORDS`) and those
that also end gold COUNT spans of the corpus (单, 口 for people, 届 for editions, 起 for cases)."""
_COMPOUND_MEASURES = {"人": "次份", "条": "次", "户": "次", "场": "次"}
"""人次, 人份, 条次, 户次, 场次: one measure word written in two characters."""


def _number_end(text: str, end: int) -> int:
    """Where the number that goes on at ``end`` ends (a span that stops before 万 or a digit cut it)."""
    if end < len(text) and text[end - 1] in _NUMBER_CHARS and (
            text[end] in _DIGITS or text[end] in "万亿" or (text[end] in "千百" and text[end - 1] in _DIGITS | {"万"})):
        while end < len(text) and text[end] in _NUMBER_CHARS:
            end += 1
    return end


def _ends_after(done: Sequence, start: int, end: int) -> bool:
    """Whether a span already kept (sorted, flat) overlaps [start, end): only the last ones can."""
    for o in reversed(done):
        if o.end <= start:
            return False
        if o.start < end:
            return True
    return False


def complete_numbers(text: str, spans: Sequence, make: Callable) -> list:
    """Complete a COUNT or MONEY that stops inside its number ([38.3]万, 2[千余万元]) or before its
    measure word or 元 ([百]名, [516万条]次, [9368人]份, [2]千余万元); two COUNTs of one number
    ([2万][2千余人次]) become one. The network reads subword pieces, which can split a number."""
    ordered = sorted(spans, key=lambda s: (s.start, s.end))
    merged: set[int] = set()
    out = []
    for i, span in enumerate(ordered):
        if i in merged:
            continue
        if span.label in ("COUNT", "MONEY"):
            start, end = span.start, _number_end(text, span.end)
            while start > 0 and (text[start - 1] in _DIGITS or (text[start - 1] == "." and text[start - 2 : start - 1] in _DIGITS)):
                start -= 1
            unit = _MEASURE_WORDS if span.label == "COUNT" else "元"
            if end < len(text) and text[end - 1] in _NUMBER_CHARS and text[end] in unit:
                end += 1
            if span.label == "COUNT" and end < len(text) and end - span.start > 1 and text[end] in _COMPOUND_MEASURES.get(text[end - 1], ""):
                end += 1
            later = []  # the spans that start inside the completed number (sorted: the next ones)
            for j in range(i + 1, len(ordered)):
                if ordered[j].start >= end:
                    break
                later.append((j, ordered[j]))
            if any(o.label != span.label for _, o in later) or _ends_after(out, start, span.start):
                start, end = span.start, span.end  # never into a span of another type
            else:
                for j, o in later:  # the rest of the same number: one span
                    merged.add(j)
                    end = max(end, o.end)
            if (start, end) != (span.start, span.end):
                span = make(start, end, span)
        out.append(span)
    return out


_COUNTER_BEFORE_RE = re.compile(r"(?:查看|阅读|浏览|点击|评论|点赞|分享|转发|收藏|浏览量|阅读量|访问量|浏览次数|点击数|人气)\s*[：:]?\s*$")
_COUNTER_AFTER_RE = re.compile(r"评论|浏览|阅读|点赞|转发|收藏")
_SESSION_RE = re.compile(r"[一二三四五六七八九十0-9]+次?")


def drop_non_counts(text: str, spans: Sequence) -> list:
    """Drop a COUNT that is a page counter (D32: 查看：623次, 评论 0人参与 0条评论) or a session ordinal
    after 届 (五届五次会议: the fifth session, an ordinal)."""

    def non_count(s) -> bool:
        return (_COUNTER_BEFORE_RE.search(text, max(0, s.start - 8), s.start) is not None
                or _COUNTER_AFTER_RE.match(text, s.end) is not None
                or (text[s.start - 1 : s.start] == "届" and _SESSION_RE.fullmatch(text, s.start, s.end) is not None))

    return [s for s in spans if not (s.label == "COUNT" and non_count(s))]


_MONEY_WORD_RE = re.compile(r"(?:价值|善款|筹资|捐款|捐资|捐赠|捐了|利润|收入|募集|筹集|募得|筹得|募捐)"
                            r"(?:了|约|近|达|共|超|超过|合计|总计|累计)?$")
_ELIDED_AMOUNT_RE = re.compile(r"(?<![0-9０-９.])[0-9０-９]+(?:\.[0-9０-９]+)?(?:余|多)?(?:万|亿|千万)(?:余|多)?"
                               r"(?!(?:余|多)?[元块0-9０-９万亿千百人名户个家次件套册份台箱袋辆张头副桶床艘批双斤吨])")
"""An amount in 万/亿 with nothing after it: no currency unit, no measure word (捐赠2万件 counts goods; the
measure words that also start other words, 支持, 对, 组织, are left out of the lookahead)."""


def elided_money(text: str, spans: Sequence, make: Callable) -> list:
    """An amount in 万/亿 whose currency unit is elided is MONEY where a money word comes just before it
    (D46: 善款800余万, 筹资33万); a COUNT there is retyped, a missed amount added."""
    overlapping, removed, added = Overlaps(spans), set(), []  # removed: ids (a scan per match is quadratic)
    for m in _ELIDED_AMOUNT_RE.finditer(text):
        if not _MONEY_WORD_RE.search(text, max(0, m.start() - 6), m.start()):
            continue
        over = [o for o in overlapping(m.start(), m.end()) if id(o) not in removed]
        if all(o.label in ("COUNT", "MONEY") for o in over):
            removed |= {id(o) for o in over}
            added.append(make(m.start(), m.end(), _Labelled("MONEY", over[0].score if over and hasattr(over[0], "score") else 1.0)))
    return sorted([*(s for s in spans if id(s) not in removed), *added], key=lambda s: (s.start, s.end))


_ROUND_AMOUNT_RE = re.compile(r"(?<![0-9０-９.一二三四五六七八九十两几数百千万亿余多])"
                              r"(?:十|百|千|万|亿|十万|百万|千万|百亿|十亿)(?:余|多)?元(?![户级])")
"""千万元, 百亿元, 万元: a round amount (no digit before it; 几百元, 数千元 are vague; 万元户 a word)."""


def round_money(text: str, spans: Sequence, make: Callable) -> list:
    """A round amount (近千万元 → 千万元, 突破百亿元, 每人获万元) is MONEY (D45; 近/上 stay out, D44)."""
    overlapping = Overlaps(spans)
    added = [make(m.start(), m.end(), _Labelled("MONEY")) for m in _ROUND_AMOUNT_RE.finditer(text)
             if not overlapping(m.start(), m.end())]
    return sorted([*spans, *added], key=lambda s: (s.start, s.end)) if added else list(spans)


_COUNTED_PEOPLE_RE = re.compile(
    r"(?<![0-9０-９.一二三四五六七八九十百千万亿两零〇余多数几近上逾超约])(?:[0-9０-９]+(?:\.[0-9０-９]+)?|[一二三四五六七八九十两]+)万"
    r"(?=(?:贫困|困难|重度|农村|留守|城乡|低收入|受助|建档立卡|残疾)*"
    r"(?:人(?!民币)|名|群众|民众|市民|居民|村民|农户|农民|户|人口|学生|学子|儿童|妇女|职工|残疾人|老人|干部|劳动力|家庭|志愿者|青少年))")
"""A number in 万 directly before the people or households it counts."""


def counts_before_nouns(text: str, spans: Sequence, make: Callable) -> list:
    """A number in 万 directly before the counted people or households is COUNT without the noun (D36:
    33万群众 → 33万, 10.29万贫困劳动力 → 10.29万); the network misses it without a measure word. A measure
    word 人, 名 or 户 right after 万 is in the COUNT (12万人, 10万名, 1.4万人次: D64); 人民币 is no people."""
    overlapping, added = Overlaps(spans), []
    for m in _COUNTED_PEOPLE_RE.finditer(text):
        end = m.end()
        if text[end] in "人名户" and text[end : end + 2] != "人口":  # a measure word, not a noun: in the COUNT (12万人, D64)
            end += 1 + (end + 1 < len(text) and text[end + 1] in _COMPOUND_MEASURES.get(text[end], ""))
        if not overlapping(m.start(), end):
            added.append(make(m.start(), end, _Labelled("COUNT")))
    return sorted([*spans, *added], key=lambda s: (s.start, s.end)) if added else list(spans)


_GENERIC_AFTER_NAME_RE = re.compile(r"(?:活动|助学金|资金|慰问金|救助金)$")
"""Generic nouns written after a program's name (D19, D43): not part of a name known from the text."""


def cut_known_names(text: str, spans: Sequence, make: Callable) -> list:
    """A PROGRAM made of a name known from the text and a generic noun after it (活动, 助学金, 资金,
    慰问金, 救助金) keeps the name's own surface (D19, D43: 金秋助学活动 → 金秋助学, 送温暖资金 → 送温暖);
    a name is known when the text quotes it or labels it alone elsewhere. 助学金 after a name ending
    in 助学 shares it (金秋助学金 → 金秋助学)."""
    programs = [s for s in spans if s.label == "PROGRAM"]
    if not programs:
        return list(spans)
    quoted = {next(g for g in m.groups() if g is not None) for m in _QUOTED_RE.finditer(text)}
    known = quoted | {text[s.start : s.end] for s in programs}
    out = []
    for span in spans:
        if span.label == "PROGRAM":
            surface = text[span.start : span.end]
            m = _GENERIC_AFTER_NAME_RE.search(surface)
            stems = [surface[: m.start()]] if m else []
            if surface.endswith("助学金"):
                stems.append(surface[:-1])  # 金秋助学金: the name's 助学 is the 助学金's
            stem = None if surface in quoted else next(  # a quoted name is named whole (D43); the longest known
                (x for x in sorted(stems, key=len, reverse=True) if len(x) >= 2 and x in known), None)
            if stem:
                span = make(span.start, span.start + len(stem), span)
        out.append(span)
    return out


SPAN_RULES = ("completion", "quote-completion", "honours", "number-completion", "non-counts", "elided-money",
              "round-money", "counted-nouns", *PROGRAM_RULES, "known-names")
"""The rules an ablation can leave out (``apply_span_rules(..., without=...)``), in the order they run
after the quotes cut and the clutter dropped (those two are never left out alone)."""


def apply_span_rules(text: str, spans: Sequence, make: Callable, lac_tags: Sequence[str] | None = None,
                     without: Collection[str] = ()) -> list:
    """All span rules in their order: quotes cut, clutter dropped, words completed (when the LAC
    segmentation is at hand), then the quote, honour, number and amount rules; ``without`` names
    rules of ``SPAN_RULES`` to leave out (the ablation rows of bench/RESULTS.md)."""
    unknown = set(without) - set(SPAN_RULES)
    if unknown:
        raise ValueError(f"unknown span rules: {sorted(unknown)} (known: {', '.join(SPAN_RULES)})")
    spans = drop_clutter(text, split_adjacent_quotes(text, spans, make))
    if lac_tags is not None and "completion" not in without:
        spans = complete_words(text, spans, lac_tags, make)
    steps: tuple[tuple[str, Callable[[list], list]], ...] = (
        ("quote-completion", lambda s: complete_quoted_programs(text, s, make)),
        ("honours", lambda s: drop_quoted_honours(text, s)),
        ("number-completion", lambda s: complete_numbers(text, s, make)),
        ("non-counts", lambda s: drop_non_counts(text, s)),
        ("elided-money", lambda s: elided_money(text, s, make)),
        ("round-money", lambda s: round_money(text, s, make)),
        ("counted-nouns", lambda s: counts_before_nouns(text, s, make)),
        *program_rule_steps(text, make),  # before the known names: a name freed of its particle is then known
        ("known-names", lambda s: cut_known_names(text, s, make)),
    )
    for name, step in steps:
        if name not in without:
            spans = step(spans)
    return spans
