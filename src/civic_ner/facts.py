"""From entities to facts: who ran which program, with how much money, reaching how many.

:func:`extract_relations` links the entities of one text with the cues a reader uses, inside sentence
and paragraph boundaries (see annotations/GUIDELINES.md, "Relations"):

* a number belongs to the program named before it in the same sentence, else to the program that
  heads its paragraph (一是消费扶贫行动。…), else to the organization that is the subject
  (``amount_of`` / ``reaches``); money after 给/拨给/向 goes to that recipient;
* the organization before a giving verb (捐, 拨付, 投入, 筹集, 发放 …) gives the money that follows;
* the organization before a running verb (组织, 开展, 实施, 启动 …) runs the programs that follow in
  its sentence, and the list its sentence announces (…实施了十大行动: 一是…);
* 其中 makes the next amount a ``part_of`` the previous one; 共计/合计 makes the amounts before a
  total its parts; a headline figure repeated in the body is ``same_as``.

:mod:`civic_ner.aggregation` adds the facts up per organization and per program.
"""
from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

from .relations import Relation
from .types import Span

SENTENCE_END = "。！？!?；;\n"
GIVE_VERBS = ("捐赠", "捐款", "捐资", "捐助", "捐建", "捐", "拨付", "拨款", "拨", "投入", "出资", "筹集", "募集",
              "筹措", "发放", "资助", "援助", "提供", "安排", "落实", "争取", "协调", "支付", "奖补", "补助", "设立")
RUN_VERBS = ("组织", "开展", "实施", "启动", "举办", "发起", "推出", "打造", "承办", "主办", "设立", "创建", "推进",
             "牵头", "联合", "开设", "建设", "创办", "推行", "深化", "部署", "成立", "依托", "以")
RECIPIENT_CUES = ("给", "拨给", "拨付给", "交给", "转给", "向")
SERVE_VERBS = ("帮扶", "惠及", "救助", "资助", "服务", "培训", "覆盖", "受益", "结对", "慰问", "走访", "帮助", "援建", "捐建",
               "建成", "举办", "开展", "发放", "吸纳", "安置", "带动", "涉及", "解决", "提供", "培养", "扶持", "支持", "关爱",
               "救治", "筛查", "检查", "义诊", "接待", "辐射", "联系", "对接")
"""Verbs that make a count something an organization reached (people served, events held)."""
PART_CUES = ("其中",)
TOTAL_CUES = ("共计", "合计", "总计", "总共", "一共")
RATE_BEFORE = re.compile(r"(每人|每户|每名|每位|每个|每家|每所|每村|每年|每月|人均|户均|每生|每学期|每人每月|每户每年)[^，。；,;]{0,4}$")
RATE_AFTER = re.compile(r"^\s*/\s*(人|户|名|年|月|个|次|生)")
LIST_ITEM = re.compile(r"^\s*(?:[一二三四五六七八九十]+是|[（(]?[一二三四五六七八九十\d]+[)）、.．])")


@dataclass(frozen=True)
class Fact:
    """A relation between two entities of a document, with the sentence that states it."""

    relation: str
    source: Span
    target: Span
    sentence_start: int
    sentence_end: int

    def to_json(self, text: str) -> dict[str, Any]:
        def ent(span: Span) -> dict[str, Any]:
            return {"start": span.start, "end": span.end, "label": span.label, "text": text[span.start : span.end]}

        return {
            "relation": self.relation, "from": ent(self.source), "to": ent(self.target),
            "sentence": text[self.sentence_start : self.sentence_end].strip(),
            "sentence_start": self.sentence_start, "sentence_end": self.sentence_end,
        }


# ---------------------------------------------------------------- segmentation


def sentence_bounds(text: str) -> list[tuple[int, int]]:
    """(start, end) of every sentence; a sentence ends after 。！？； or a line break."""
    bounds, start = [], 0
    for i, ch in enumerate(text):
        if ch in SENTENCE_END:
            bounds.append((start, i + 1))
            start = i + 1
    if start < len(text):
        bounds.append((start, len(text)))
    return bounds


def paragraph_bounds(text: str) -> list[tuple[int, int]]:
    bounds, start = [], 0
    for i, ch in enumerate(text):
        if ch == "\n":
            bounds.append((start, i + 1))
            start = i + 1
    if start < len(text):
        bounds.append((start, len(text)))
    return bounds


def _indices_of(bounds: list[tuple[int, int]], positions: Sequence[int]) -> list[int]:
    """For each position, the index of the (sentence or paragraph) bound holding it, the last one for
    a position past the end: a binary search, since the bounds tile the text from 0 in order (a
    scan per position made a long document's facts quadratic). Positions are never negative."""
    starts = [a for a, _ in bounds]
    return [max(bisect_right(starts, p) - 1, 0) if bounds else -1 for p in positions]


# ---------------------------------------------------------------- extraction


def _between(text: str, a: Span, b: Span) -> str:
    return text[a.end : b.start] if a.end <= b.start else text[b.end : a.start]


def _has_any(segment: str, words: Sequence[str]) -> bool:
    return any(w in segment for w in words)


def is_rate(text: str, span: Span) -> bool:
    """每人500元, 500元/人: a rate, not an amount to add."""
    return bool(RATE_BEFORE.search(text[max(0, span.start - 12) : span.start]) or RATE_AFTER.match(text[span.end : span.end + 3]))


def _coordinated(text: str, spans: Sequence[Span], index: int) -> list[int]:
    """The ORG at ``index`` and those coordinated with it just before (市委、市政府 / A和B / A联合B)."""
    group = [index]
    k = index
    while k > 0:
        prev = spans[k - 1]
        gap = text[prev.end : spans[k].start]
        if prev.label == "ORG" and gap in ("、", "和", "与", "及", "同", "联合", "会同", "", ",", "，") and len(gap) <= 2:
            group.insert(0, k - 1)
            k -= 1
        else:
            break
    return group


RELATION_BLOCK_CHARS = 12_000
"""Relations are looked for within blocks of at most this many characters, cut at line breaks:
longer than any bulletin of the corpus (so no measured figure changes), and it keeps a 1 MB file
linear -- within a block, candidate pairs grow with the square of its entities."""


def extract_relations(text: str, spans: Sequence[Span], model: Any = None) -> list[Relation]:
    """Relations between ``spans`` (sorted, non-overlapping) of one section; indices refer to
    ``spans``. By cues, or by a learned ``model`` (:class:`civic_ner.relation_model.RelationModel`,
    ``relations.json`` of a model directory) when one is given: the one entry point for both.
    A text longer than :data:`RELATION_BLOCK_CHARS` is read block by block."""
    if len(text) > RELATION_BLOCK_CHARS:
        return _blockwise(text, spans, model)
    if model is not None:
        return list(model.predict(text, spans))
    return list(_Section(text, spans).relations)


def _blockwise(text: str, spans: Sequence[Span], model: Any) -> list[Relation]:
    """The relations of each block of a long text, indices mapped back to ``spans`` (a span that
    crosses a block's edge, which a line break makes unlikely, takes part in none)."""
    from dataclasses import replace

    from .text_pieces import long_text_pieces

    starts = [s.start for s in spans]
    out: list[Relation] = []
    for offset, piece in long_text_pieces(text, RELATION_BLOCK_CHARS):
        end = offset + len(piece)
        inside = [k for k in range(bisect_left(starts, offset), bisect_left(starts, end)) if spans[k].end <= end]
        local = [replace(spans[k], start=spans[k].start - offset, end=spans[k].end - offset) for k in inside]
        out += [Relation(inside[r.source], inside[r.target], r.label) for r in extract_relations(piece, local, model)]
    return sorted(out)


class _Section:
    """One section's text and sorted spans, with the sentence and paragraph of every span computed
    once: what every cue rule asks (and what ``bench/relation_scorer.py`` builds its features on)."""

    def __init__(self, text: str, spans: Sequence[Span]) -> None:
        self.text, self.spans = text, list(spans)
        self.sentences = sentence_bounds(text)
        self.paragraphs = paragraph_bounds(text)
        self.sent_of = _indices_of(self.sentences, [s.start for s in self.spans])
        self.para_of = _indices_of(self.paragraphs, [s.start for s in self.spans])

    @cached_property
    def relations(self) -> list[Relation]:
        """The relations the cue rules find (sorted)."""
        out: set[Relation] = set()
        for i, span in enumerate(self.spans):
            if span.label in ("MONEY", "COUNT"):
                out |= _number_relations(self, i)
            elif span.label == "PROGRAM":
                out |= {Relation(j, i, "runs") for j in _runners(self, i)}
        owned = {r.source for r in out if r.label in ("amount_of", "reaches")} | {r.target for r in out if r.label == "gives"}
        # R4: parts and repeats only link numbers that take part in a fact
        out |= {r for r in _parts_and_repeats(self.text, self.spans, self.sent_of) if r.source in owned or r.target in owned}
        return sorted(out)

    def is_recipient(self, k: int) -> bool:
        """The ORG at ``k`` follows a recipient cue (给, 向 ...): it receives, it does not act."""
        before = self.text[max(0, self.spans[k].start - 3) : self.spans[k].start]
        return any(before.endswith(c) for c in RECIPIENT_CUES)

    def subject_org(self, i: int) -> list[int]:
        """ORGs that are the actor for entity i: the nearest ORG before it in its sentence (and the
        ORGs coordinated with it), else the first ORG of its paragraph before it, else the ORG of
        the sentence that announces the list i's paragraph belongs to."""
        spans, sent_of, para_of = self.spans, self.sent_of, self.para_of
        for k in range(i - 1, -1, -1):
            if sent_of[k] != sent_of[i]:
                break
            if spans[k].label == "ORG" and not self.is_recipient(k):
                return _coordinated(self.text, spans, k)
        for k in range(i):
            if para_of[k] == para_of[i] and spans[k].label == "ORG" and not self.is_recipient(k):
                return _coordinated(self.text, spans, k)
        header = self.list_header(i)
        if header is not None:
            return header
        return []

    def header_paragraph(self, p: int) -> int | None:
        """The paragraph announcing (ending in ':') the list that paragraph ``p`` is an item of (一是…), if any."""
        a, _ = self.paragraphs[p]
        if not LIST_ITEM.match(self.text[a : a + 6]):
            return None
        for q in range(p - 1, -1, -1):
            qa, qb = self.paragraphs[q]
            if LIST_ITEM.match(self.text[qa : qa + 6]):
                continue
            return q if self.text[qa:qb].rstrip().endswith((":", "：")) else None
        return None

    def near(self, i: int, k: int) -> bool:
        """Entity k is in entity i's paragraph, or in the paragraph announcing i's list."""
        return self.para_of[k] == self.para_of[i] or self.para_of[k] == self.header_paragraph(self.para_of[i])

    def list_header(self, i: int) -> list[int] | None:
        """Paragraph i sits in a list (一是…) announced by a sentence ending in ':' with an ORG."""
        q = self.header_paragraph(self.para_of[i])
        if q is None:
            return None
        orgs = [k for k in range(len(self.spans)) if self.para_of[k] == q and self.spans[k].label == "ORG"]
        return _coordinated(self.text, self.spans, orgs[0]) if orgs else None

def _number_relations(sec: _Section, i: int) -> set[Relation]:
    """Whose amount or reach the MONEY or COUNT at ``i`` is, and who gives the money."""
    text, span, out = sec.text, sec.spans[i], set()
    relation = "amount_of" if span.label == "MONEY" else "reaches"
    recipient = _recipient_after(text, sec.spans, i, sec.sent_of) if span.label == "MONEY" else None
    if recipient is not None:
        out.add(Relation(i, recipient, "amount_of"))
    program = _program_for(sec, i)
    if program is not None and not (span.label == "COUNT" and _participants(text, span)):
        out.add(Relation(i, program, relation))
    actors = sec.subject_org(i)
    if span.label == "MONEY":
        clause = _clause_before(text, span)
        for k in actors:
            if sec.sent_of[k] == sec.sent_of[i] and _has_any(clause, GIVE_VERBS):
                out.add(Relation(k, i, "gives"))
    elif program is None and actors and not _participants(text, span) and _has_any(_clause_before(text, span), SERVE_VERBS):
        out.add(Relation(i, actors[-1], "reaches"))
    return out


def _runners(sec: _Section, i: int) -> list[int]:
    """Who runs PROGRAM i: the ORG before it in its sentence when a running verb (or nothing, or
    的) stands between; else the ORG after it in its sentence that acts (…工程上报情况…, 市扶贫办筛选);
    else, in a list item, the ORG of the sentence announcing the list."""
    text, spans, sent_of = sec.text, sec.spans, sec.sent_of
    for k in range(i - 1, -1, -1):
        if sent_of[k] != sent_of[i]:
            break
        if spans[k].label == "ORG" and not sec.is_recipient(k):
            gap = text[spans[k].end : spans[i].start]
            if _has_any(gap, RUN_VERBS) or gap.strip("“”\"的「」『』 ") == "":
                return _coordinated(text, spans, k)
            return []
    for k in range(i + 1, len(spans)):
        if sent_of[k] != sent_of[i]:
            break
        if spans[k].label == "ORG" and not sec.is_recipient(k):
            after = text[spans[k].end : spans[k].end + 4]
            if _has_any(after, RUN_VERBS + ("筛选", "负责", "牵头")) and spans[k].start - spans[i].end <= 30:
                return [k]
            break
    return sec.list_header(i) or []


def _program_for(sec: _Section, i: int) -> int | None:
    """The program a number belongs to: the nearest PROGRAM before it in its sentence, else the
    program right after 用于/为 in its sentence, else the program heading its paragraph."""
    text, spans, sent_of, para_of = sec.text, sec.spans, sec.sent_of, sec.para_of
    for k in range(i - 1, -1, -1):
        if sent_of[k] != sent_of[i]:
            break
        if spans[k].label == "PROGRAM":
            return k
    for k in range(i + 1, len(spans)):
        if sent_of[k] != sent_of[i]:
            break
        if spans[k].label == "PROGRAM" and _has_any(_between(text, spans[i], spans[k]), ("用于", "为", "投向", "支持", "设立", "成立", "注入")):
            return k
    in_sentence = [k for k in range(len(spans)) if sent_of[k] == sent_of[i] and spans[k].label in ("ORG", "PROGRAM")]
    if not in_sentence and spans[i].label == "MONEY" and not _has_any(text[sec.sentences[sent_of[i]][0] : spans[i].start], ("参与", "参加")):
        earlier = [k for k in range(i) if para_of[k] == para_of[i] and sent_of[k] == sent_of[i] - 1]
        programs = [k for k in earlier if spans[k].label == "PROGRAM"]
        if programs:
            return programs[-1]
    first = next((k for k in range(len(spans)) if para_of[k] == para_of[i]), None)
    if first is not None and first < i and spans[first].label == "PROGRAM":
        head_text = text[sec.paragraphs[para_of[i]][0] : spans[first].start]
        if LIST_ITEM.match(head_text) or not head_text.strip(" “\"「『"):
            return first
    return None


def _clause_before(text: str, span: Span) -> str:
    """The text between the last clause boundary before ``span`` and ``span``."""
    lead = text[max(0, span.start - 30) : span.start]
    cut = max(lead.rfind(ch) for ch in "，,；;。：:\n")
    return lead[cut + 1 :]


def _recipient_after(text: str, spans: Sequence[Span], i: int, sent_of: list[int]) -> int | None:
    """拨付268.94万元给乳山市扶贫办: the ORG right after a recipient cue following the money."""
    for k in range(i + 1, min(i + 3, len(spans))):
        if sent_of[k] != sent_of[i] or spans[k].label != "ORG":
            continue
        gap = text[spans[i].end : spans[k].start]
        if len(gap) <= 4 and any(gap.endswith(c) for c in RECIPIENT_CUES):
            return k
    return None


PARTICIPANTS_AFTER = re.compile(
    r"^[^，。；,;]{0,8}(志愿者|党员|干部|专家|医生|医护|教师|律师|企业参与|委员|代表|工作人员|队员|获得|获评|荣获|被评为|获奖)"
)
PARTICIPANTS_BEFORE = re.compile(r"(参赛|参与|参加|选派|派出|招募|组织|发动|动员)[^，。；,;]{0,8}$")


def _participants(text: str, span: Span) -> bool:
    """A count of people who serve or compete (志愿者, 专家, 参赛职工 …) or of award winners, not of
    people reached (R1)."""
    return bool(PARTICIPANTS_AFTER.match(text[span.end : span.end + 12])
                or PARTICIPANTS_BEFORE.search(text[max(0, span.start - 10) : span.start]))


def _unit_class(text: str, span: Span) -> str:
    """What a number counts, for matching a part to its total: people, households, money, ..."""
    if span.label == "MONEY":
        return "money"
    return _count_unit(text[span.start : span.end])


@lru_cache(maxsize=65536)
def _count_unit(surface: str) -> str:
    """The unit class of a COUNT's surface (a pure function of it: cached, since every pair asks)."""
    from .values import parse_count

    try:
        unit = parse_count(surface).unit or ""
    except (ValueError, ArithmeticError):
        unit = ""
    return "people" if unit in ("名", "人", "位") else unit


def _parts_and_repeats(text: str, spans: Sequence[Span], sent_of: list[int]) -> set[Relation]:
    out: set[Relation] = set()
    for i, span in enumerate(spans):
        if span.label not in ("MONEY", "COUNT"):
            continue
        kind = _unit_class(text, span)
        before = [k for k in range(i) if spans[k].label == span.label and sent_of[k] == sent_of[i]]
        cue = text.rfind("其中", spans[before[0]].end if before else 0, span.start)
        if before and cue != -1:
            totals = [k for k in before if spans[k].end <= cue and _unit_class(text, spans[k]) == kind]
            if totals:
                out.add(Relation(i, totals[-1], "part_of"))
        if len(before) >= 2 and _has_any(text[max(0, span.start - 4) : span.start], TOTAL_CUES):
            for k in before:
                if _unit_class(text, spans[k]) == kind and not is_rate(text, spans[k]):
                    out.add(Relation(k, i, "part_of"))
    # a headline figure repeated in the body
    first_line_end = text.find("\n")
    if first_line_end > 0:
        head = [k for k, s in enumerate(spans) if s.end <= first_line_end and s.label in ("MONEY", "COUNT")]
        for k in head:
            surface = text[spans[k].start : spans[k].end]
            for j in range(len(spans)):
                if spans[j].start > first_line_end and spans[j].label == spans[k].label and text[spans[j].start:spans[j].end] == surface:
                    out.add(Relation(j, k, "same_as"))
                    break
    return out


# ---------------------------------------------------------------- facts of a document


def document_facts(text: str, spans: Sequence[Span], model: Any = None) -> list[Fact]:
    """The facts of one text, each with the sentence that holds its later end (``model``: as for
    :func:`extract_relations`)."""
    spans = sorted(spans)
    sentences = sentence_bounds(text)
    relations = extract_relations(text, spans, model)
    held_by = _indices_of(sentences, [max(spans[r.source].start, spans[r.target].start) for r in relations])
    facts = []
    for rel, k in zip(relations, held_by):
        s = sentences[k]
        facts.append(Fact(rel.label, spans[rel.source], spans[rel.target], s[0], s[1]))
    return facts
