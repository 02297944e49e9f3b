"""The guide's PROGRAM exclusions (civic_ner.program_rules): each test fails without its rule, and
each rule leaves alone the look-alike the guide labels. That no gold span of the training sections
changes is tested with all span rules in tests/test_span_rules.py."""
from __future__ import annotations

from civic_ner.program_rules import (
    complete_series,
    cut_particles,
    drop_accounts,
    drop_designations,
    drop_facilities,
)
from civic_ner.span_rules import apply_span_rules
from civic_ner.types import Span


def make(a: int, b: int, s) -> Span:
    return Span(a, b, s.label)


def program(text: str, surface: str) -> list[Span]:
    i = text.index(surface)
    return [Span(i, i + len(surface), "PROGRAM")]


def surfaces(text: str, spans) -> list[str]:
    return [text[s.start:s.end] for s in spans]


def test_a_title_given_or_an_award_is_no_program():
    for text, name in (("蒙牛营养普惠工程获评“内蒙古慈善奖”（第二届）", "内蒙古慈善奖"),
                       ("遵义有“黔北粮仓”之称，所辖", "黔北粮仓"),
                       ("部长获评“中国青少年发展基金会杰出希望学子”；", "中国青少年发展基金会杰出希望学子")):
        assert drop_designations(text, program(text, name)) == []
    for text, name in (("开展“寻找最美家庭”活动", "寻找最美家庭"),  # the campaign (D20)
                       ("获评“希望工程”项目全省先进单位", "希望工程")):  # the title goes on after the quotes
        assert surfaces(text, drop_designations(text, program(text, name))) == [name]


def test_an_account_or_app_is_no_program():
    text = "在“宁波慈善”微信公众号上扫一扫，点开“湘妹子能量家园”这款App"
    spans = [*program(text, "宁波慈善"), *program(text, "湘妹子能量家园")]
    assert drop_accounts(text, spans) == []
    text = "“健康威海”建设"
    assert surfaces(text, drop_accounts(text, program(text, "健康威海"))) == ["健康威海"]


def test_a_facility_is_no_program():
    text = "还有“红十字宣传一条街”和慈善超市，捐建“星光图书角”"
    spans = sorted([*program(text, "红十字宣传一条街"), *program(text, "慈善超市"), *program(text, "星光图书角")])
    assert surfaces(text, drop_facilities(text, spans)) == ["星光图书角"]


def test_a_quoted_series_word_gives_the_whole_name():
    text = "善款将投向“阳光”系列助学工程以及“青春暖边”系列行动"
    spans = sorted([*program(text, "阳光"), *program(text, "青春暖边")])
    assert surfaces(text, complete_series(text, spans, make)) == ["“阳光”系列助学工程", "青春暖边"]


def test_a_leading_particle_is_cut():
    text = "争取到两癌救助专项基金95.5万元；“的哥爱心车队”"
    spans = sorted([*program(text, "到两癌救助专项基金"), *program(text, "的哥爱心车队")])
    assert surfaces(text, cut_particles(text, spans, make)) == ["两癌救助专项基金", "的哥爱心车队"]


def test_the_rules_run_with_the_span_rules_and_can_be_left_out():
    text = "遵义有“黔北粮仓”之称"
    spans = program(text, "黔北粮仓")
    assert apply_span_rules(text, spans, make) == []
    assert apply_span_rules(text, spans, make, without=("designations",)) == spans


def test_look_alikes_the_guide_labels_are_left_alone():
    text = "该校入选“春蕾计划”，全市的哥爱心送考，组织到梦空间志愿服务"
    spans = sorted([*program(text, "春蕾计划"), *program(text, "的哥爱心送考"), *program(text, "到梦空间志愿服务")])
    assert surfaces(text, apply_span_rules(text, spans, make)) == ["春蕾计划", "的哥爱心送考", "到梦空间志愿服务"]


def test_a_name_freed_of_its_particle_is_then_a_known_name():
    text = "开展了金秋助学活动。“金秋助学”"
    assert surfaces(text, apply_span_rules(text, program(text, "了金秋助学活动"), make)) == ["金秋助学"]
