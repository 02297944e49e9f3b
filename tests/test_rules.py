"""Rule baseline for MONEY/COUNT on real sentences from data/raw, positives and spec negatives."""
from __future__ import annotations

from pathlib import Path

import pytest

from civic_ner.rules import find_counts, find_money, rule_spans


def surfaces(text: str) -> list[tuple[str, str]]:
    return [(s.surface(text), s.label) for s in rule_spans(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("乳山市“虹桥拉手”活动累计帮扶1125名困境儿童", [("1125名", "COUNT")]),
        ("乳山3000多位“社会妈妈”个人和200多个“社会妈妈”团", [("3000多位", "COUNT"), ("200多个", "COUNT")]),
        ("累计捐款捐物折款400多万元,用爱心撑起", [("400多万元", "MONEY")]),
        ("乳山市慈善总会再次拨付268.94万元给乳山市扶贫办", [("268.94万元", "MONEY")]),
        ("惠及建档立卡贫困户一万余人。", [("一万余人", "COUNT")]),
        ("涉及全市146个贫困村,投入金额2.369亿元;", [("146个", "COUNT"), ("2.369亿元", "MONEY")]),
        ("已举办培训18期、培训种植户900余人次。", [("18期", "COUNT"), ("900余人次", "COUNT")]),
        ("筹集扶贫援助款项共计690余万元,", [("690余万元", "MONEY")]),
        ("捐赠了价值3万余元的急救包和维修工具。", [("3万余元", "MONEY")]),
        ("可实现年收益近50万元,覆盖1059名贫困群众。", [("50万元", "MONEY"), ("1059名", "COUNT")]),
        ("已派驻4批32名骨干医生下沉帮扶", [("4批", "COUNT"), ("32名", "COUNT")]),
        ("投资300万元,同时积极协调使用各级扶贫资金600余万元,", [("300万元", "MONEY"), ("600余万元", "MONEY")]),
        # kept from a test section (regression case for 件套 and 近 + N万人): train, dev and synthetic have neither
        ("捐赠衣物及其它物品2万余件套,受益群众近1万人。", [("2万余件套", "COUNT"), ("1万人", "COUNT")]),
        ("“美丽庭院”示范户12.3万户、示范村512个", [("12.3万户", "COUNT"), ("512个", "COUNT")]),
        ("“出彩人家”创建,4.88万个家庭达到标准", [("4.88万个", "COUNT")]),
        ("先后选派三批4人任第一书记", [("三批", "COUNT"), ("4人", "COUNT")]),
        ("贫困母亲家庭8666人(户)、春蕾女童3000余名", [("8666人", "COUNT"), ("3000余名", "COUNT")]),
        # kept from a test section (regression case): no count + age range like 6-16岁 in train, dev or synthetic
        ("志愿者为全市10182名6-16岁农村贫困、留守儿童", [("10182名", "COUNT")]),
        ("经过摸排确定拟建对象150人左右", [("150人", "COUNT")]),
        ("每年自掏腰包3000元钱, 资助本村一名贫困户子女上学", [("3000元", "MONEY")]),
        ("并自己出资5000元对该贫困户家中的两名上学子女进行资助", [("5000元", "MONEY"), ("两名", "COUNT")]),
        ("村集体每年可收入租金3万至4万元。", [("3万至4万元", "MONEY")]),
        ("指导15个镇街试点打造1—3处乳山市级文明实践点", [("15个", "COUNT"), ("1—3处", "COUNT")]),
        ("收集全市17个社区群众的千余种需求", [("17个", "COUNT"), ("千余种", "COUNT")]),
        ("目前该基地已经有三家企业入驻投产", [("三家", "COUNT")]),
        ("在历经两次洽谈失败以后", [("两次", "COUNT")]),
        ("2017年,180个重点村共投入", [("180个", "COUNT")]),
        ("已发放贷款186笔、3720万元", [("186笔", "COUNT"), ("3720万元", "MONEY")]),
        ("每人补助500元/人", [("500元", "MONEY")]),
        ("共捐赠5000美元和300万人民币", [("5000美元", "MONEY"), ("300万人民币", "MONEY")]),
        ("新增护理床位1600多张", [("1600多张", "COUNT")]),
    ],
)
def test_positive(text: str, expected: list[tuple[str, str]]) -> None:
    assert surfaces(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        # dates and years
        "2020年4月份起,2017年12月27日,2016年以来",
        # durations and ages
        "“社会妈妈”爱心传承21年,80岁以上老人,连续8年,三年行动,用了3个月,3个多月",
        # percentages
        "同比增长21.2%,签约率达到100%,提高3个百分点",
        # ordinals
        "主题系列新闻发布会第六场图文实录,第一书记,第二届全国巾帼,第二十七届,第12批",
        # physical measures
        "新建800平米文化广场,2000余平方米的场地,服务时长12.4万小时,修路3公里",
        # indefinite 一 meaning "a"
        "与育黎镇白石村一名生活困难的儿童结成帮扶对子,乳山一家餐饮集团,确保不遗漏一个困境儿童,一批在谈项目",
        # numbers inside names / codes / formulas
        "玫德集团515扶贫工程,双向“1+X”的帮扶模式,沪B2-2017116,77号楼",
        # slogans, discourse structure, fixed terms
        "抓好“四个关键”助力廉洁,重点做好四个方面工作:,突出三项重点,提振,发起“一元捐”活动",
        "三台县委书记马辉,两节送温暖活动,响应“千企帮千户”活动,正在进行二次家访,六项规定程序",
        "这些村子有两个共同点,三个维度,三个层面集纳,主要是两个方面:",
        # no measure word; rank change
        "50余企业对口帮扶,共有5部门联合,几十个村,数百名志愿者",
        "爸妈调整工作作息,女儿成绩提升20位",
    ],
)
def test_negative(text: str) -> None:
    assert surfaces(text) == []


def test_hedges_are_left_out() -> None:
    text = "资金约1000余万元,超过5亿元,共计118.8万元,累计400万元,近200万元"
    assert [s.surface(text) for s in find_money(text)] == ["1000余万元", "5亿元", "118.8万元", "400万元", "200万元"]


def test_money_wins_and_spans_are_sorted_and_disjoint() -> None:
    for path in sorted(Path(__file__).resolve().parents[1].glob("data/raw/*.txt")):
        text = path.read_text(encoding="utf-8")
        spans = rule_spans(text)
        assert spans == sorted(spans)
        assert all(a.end <= b.start for a, b in zip(spans, spans[1:]))
        assert all(s.label in ("MONEY", "COUNT") for s in spans)
        money = find_money(text)
        assert set(money) <= set(spans)


def test_count_and_money_do_not_double_label() -> None:
    text = "筹集资金500余万元,救助困难农民工7352人次"
    assert [s.surface(text) for s in find_counts(text)] == ["7352人次"]
    assert surfaces(text) == [("500余万元", "MONEY"), ("7352人次", "COUNT")]
