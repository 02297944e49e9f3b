"""LAC ORG baseline: spans exist, are in range and reproduce LAC's words."""
from __future__ import annotations

import pytest

from civic_ner.lac import LacOrgTagger


@pytest.fixture(scope="module")
def tagger() -> LacOrgTagger:
    return LacOrgTagger()


def test_finds_orgs(tagger: LacOrgTagger) -> None:
    text = "乳山市慈善总会再次拨付268.94万元给乳山市扶贫办。"
    assert [s.surface(text) for s in tagger(text)] == ["乳山市慈善总会", "乳山市扶贫办"]


def test_offsets_match_lac_words_across_lines_and_full_width(tagger: LacOrgTagger) -> None:
    text = "玫德集团有限公司向济南市社会扶贫基金会捐资５０００万元。\n\n清华大学、山东大学等154支志愿服务队参加。\r\n市总工会党组成员出席"
    spans = tagger(text)
    org_words = [(start, end, word) for start, end, word, tag in tagger.analyse(text) if tag == "ORG"]
    assert [(s.start, s.end, s.surface(text)) for s in spans] == org_words
    for s in spans:
        assert 0 <= s.start < s.end <= len(text)
        assert s.label == "ORG"
        assert "\n" not in s.surface(text)
    assert {"玫德集团有限公司", "济南市社会扶贫基金会", "清华大学", "市总工会"} <= {s.surface(text) for s in spans}


def test_batch_equals_single(tagger: LacOrgTagger) -> None:
    texts = ["", "\n\n", "乳山市妇联组织开展活动", "济南市委统战部和市工商联"]
    assert tagger.tag_batch(texts) == [tagger(t) for t in texts]
    assert tagger.tag_batch(texts)[:2] == [[], []]
