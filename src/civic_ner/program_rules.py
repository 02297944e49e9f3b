"""PROGRAM span rules from the guide's exclusions, run by :func:`civic_ner.span_rules.apply_span_rules`.

The network learns what a program name looks like; these say what the guide keeps out of PROGRAM or
how it cuts one, where a program-looking text is something else. Each was written from the errors of
the shipped recipe's province CV predictions (never a test split) and changes no gold span of the
training sections (``tests/test_span_rules.py``):

- a designation or an award is no program (D20): a quoted PROGRAM after 获评/评为/荣获/入选 (the title
  a body is given; not a name with a program's head, 入选“春蕾计划”), before 之称, or a quoted name
  that ends in 奖 (获评“内蒙古慈善奖”, 有“黔北粮仓”之称);
- an account or an app is a channel, not a program (D24): a quoted PROGRAM before 微信公众号, 公众号,
  客户端, App or 小程序 (“宁波慈善”微信公众号);
- a facility is not labelled (D9, D12): a PROGRAM whose head is 广场, 一条街, 学校 or 超市
  (红十字文化广场, 慈善超市);
- a quoted word that marks a series inside a longer name gives the whole name with its quotes (D61:
  “[阳光]”系列助学工程 → “阳光”系列助学工程);
- a name does not start with the particle the verb before it takes (争取[到两癌救助专项基金] → 两癌救助专项基金).

Document consistency (off in the shipped model) runs after them and could copy a dropped surface back
from another mention; a facility or an award named as a program elsewhere in the same text is rare.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence

PROGRAM_RULES = ("designations", "accounts", "facilities", "series", "particles")
"""The names the ablation rows use (``apply_span_rules(..., without=...)``)."""

_TITLE_GIVEN_RE = re.compile(r"(?:获评|评为|荣获|荣膺|入选|授予)“$")
_TITLE_END_RE = re.compile(r"”(?:[，。、；：！？）)（(」》\s]|$)")
"""After a title given (获评“…”), the quotes close the whole title (not 获评“希望工程”项目先进单位)."""
_ACCOUNT_AFTER_RE = re.compile(r"”(?:这款|这个)?(?:微信公众号|公众号|客户端|App|APP|app|小程序)")
_PROGRAM_HEAD_RE = re.compile(r"(?:计划|工程|项目|行动|活动)$")
"""A quoted name with a program's head is the program a body joins (入选“春蕾计划”), not a title it gets."""
_FACILITY_RE = re.compile(r"(?:广场|一条街|学校|超市)$")
_SERIES_RE = re.compile(r"”系列[\u4e00-\u9fff]{1,8}?(?:工程|项目|计划|行动)")
"""A series' name goes on after 系列 (“阳光”系列助学工程); “青春暖边”系列行动 is the quoted program's activities."""
_PARTICLE_RE = re.compile(r"(?<=[争取得收领拿筹募投])到|(?<=[\u4e00-\u9fff])了|(?<=[\u4e00-\u9fff])的(?![哥姐士])")
"""The particle a verb takes before its object (争取到, 开展了, 全市的): 到 after a verb of getting, 的 not
in 的哥, 的姐, 的士 (taxi drivers' own campaigns), 了 after any character."""


def _quoted(text: str, span) -> bool:
    return text[span.start - 1 : span.start] == "“" and text[span.end : span.end + 1] == "”"


def _is_designation(text: str, span) -> bool:
    return _quoted(text, span) and (
        (_TITLE_GIVEN_RE.search(text, max(0, span.start - 3), span.start) is not None
         and _TITLE_END_RE.match(text, span.end) is not None
         and _PROGRAM_HEAD_RE.search(text, span.start, span.end) is None)
        or text.startswith("之称", span.end + 1) or text[span.end - 1] == "奖")


def drop_designations(text: str, spans: Sequence) -> list:
    """Drop a quoted PROGRAM that is a title given to a body or an award's name (D20)."""
    return [s for s in spans if not (s.label == "PROGRAM" and _is_designation(text, s))]


def drop_accounts(text: str, spans: Sequence) -> list:
    """Drop a quoted PROGRAM followed by the account or app it names (D24)."""
    return [s for s in spans if not (s.label == "PROGRAM" and _quoted(text, s) and _ACCOUNT_AFTER_RE.match(text, s.end))]


def drop_facilities(text: str, spans: Sequence) -> list:
    """Drop a PROGRAM headed by a facility word: a square, a street, a school, a shop (D9, D12)."""
    return [s for s in spans if not (s.label == "PROGRAM" and _FACILITY_RE.search(text, s.start, s.end))]


def complete_series(text: str, spans: Sequence, make: Callable) -> list:
    """A quoted PROGRAM followed by ”系列 and the rest of a name up to its head noun is that whole name
    with the quotes (D61), unless the rest holds another span."""
    starts = sorted(s.start for s in spans)
    out = []
    for span in spans:
        m = _SERIES_RE.match(text, span.end) if span.label == "PROGRAM" and _quoted(text, span) else None
        if m and not any(span.end < a < m.end() for a in starts):
            span = make(span.start - 1, m.end(), span)
        out.append(span)
    return out


def cut_particles(text: str, spans: Sequence, make: Callable) -> list:
    """Cut a leading particle off a PROGRAM: the verb's (争取[到两癌救助专项基金], 开展[了金秋助学]), not
    the name's first character (的哥爱心车队, 到梦空间)."""
    out = []
    for span in spans:
        if span.label == "PROGRAM" and span.end - span.start > 3 and _PARTICLE_RE.match(text, span.start):
            span = make(span.start + 1, span.end, span)
        out.append(span)
    return out


def program_rule_steps(text: str, make: Callable) -> tuple[tuple[str, Callable[[list], list]], ...]:
    """The rules above as (name, step) pairs in the order :func:`apply_span_rules` runs them."""
    return (
        ("designations", lambda s: drop_designations(text, s)),
        ("accounts", lambda s: drop_accounts(text, s)),
        ("facilities", lambda s: drop_facilities(text, s)),
        ("series", lambda s: complete_series(text, s, make)),
        ("particles", lambda s: cut_particles(text, s, make)),
    )
