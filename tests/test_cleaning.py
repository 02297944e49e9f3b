from pathlib import Path

import pytest

from civic_ner.cleaning import clean_sections, clean_text

RAW = Path(__file__).resolve().parents[1] / "data" / "raw"


@pytest.fixture(scope="module")
def sections():
    out = {}
    for path in sorted(RAW.glob("*.txt")):
        out[path.stem] = clean_sections(path.read_text(encoding="utf-8"), path.name, path.stem)
    return out


def test_web_chrome_is_removed(sections):
    text = "\n".join(s.text for s in sections["001_9a60edf12366d790"])
    lines = set(text.split("\n"))
    for chrome in ("登录", "字号", "阅读原文", "收藏", "反馈", "+1", "2021-04-16 11:25"):
        assert chrome not in lines
    for chrome in ("澎湃Logo", "下载客户端", "ICP备", "公网安备", "我要举报", "原标题", "来源:澎湃新闻"):
        assert chrome not in text
    assert "济南市“脱贫攻坚的生动实践”主题系列新闻发布会第六场图文实录" in text


def test_related_links_list_is_dropped(sections):
    text = "\n".join(s.text for s in sections["002_543f8b9511dbf678"])
    assert "宋宏伟深入到宝清县调研" not in text
    assert "文明祭祀 保护蓝天" not in text
    assert text.rstrip().endswith("丛翠霞说。")


def test_layout_breaks_joined_and_page_break_duplicate_repaired(sections):
    text = "\n".join(s.text for s in sections["000_bf5c2d5407058bb3"])
    assert "通过在社会上招募" in text
    assert "截至目前,她们以" in text and "截至目前前" not in text
    assert "“社会妈妈”团体累计结对帮扶" in text
    text3 = "\n".join(s.text for s in sections["003_4c167e9606d7b578"])
    assert "为帮助贫困户脱贫, 专门成立" in text3  # half-width comma + space kept as given


def test_headings_and_list_intros_stay_on_their_own_line(sections):
    first = sections["000_bf5c2d5407058bb3"][0].text.split("\n")
    assert first[:3] == ["“社会妈妈”爱心传承21年", "乳山市“虹桥拉手”活动累计帮扶1125名困境儿童", "通讯员 王文琪"]
    union = next(s for s in sections["001_9a60edf12366d790"] if "十大行动" in s.text).text
    assert "组织实施了十大行动:\n一是消费扶贫行动" in union


def test_sections_split_by_item_and_speaker(sections):
    assert [s.text.split("\n")[0] for s in sections["000_bf5c2d5407058bb3"]][:2] == [
        "“社会妈妈”爱心传承21年",
        "乳山经济开发区释放工业实体“磁场效应”",
    ]
    conference = sections["001_9a60edf12366d790"]
    assert any(s.text.startswith("王若峰:\n") for s in conference)
    assert all(s.id.startswith("001_9a60edf12366d790-") for s in conference)


def test_ids_stable_and_raw_ranges_cover_text(sections):
    for stem, secs in sections.items():
        raw = (RAW / f"{stem}.txt").read_text(encoding="utf-8")
        assert [s.id for s in secs] == [f"{stem}-{i:02d}" for i in range(len(secs))]
        for section in secs:
            assert 0 <= section.raw_start < section.raw_end <= len(raw)
            first_line = section.text.split("\n")[0]
            assert raw[section.raw_start :].startswith(first_line[:10])


def test_clean_text_is_deterministic():
    raw = (RAW / "004_ebdb0316c1213989.txt").read_text(encoding="utf-8")
    assert clean_text(raw) == clean_text(raw)
    assert clean_text(raw.replace("\n", "\r\n")) == clean_text(raw)
