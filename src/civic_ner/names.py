"""One name per organization: 市妇联, 乳山市妇联 and 乳山市妇女联合会 are one row of the totals.

A name is read as ``place + body``: the place is written (乳山市妇联), or only its level is written
(市妇联, 团县委) and the place is the document's place of that level (the place its full names use
most), or the name starts with the place without its suffix (威海中心医院 = 威海市中心医院). The body's
standard short form is expanded (:data:`ALIASES`: 妇联 = 妇女联合会, 团委 = 共青团…委员会 …) and a
company's legal suffix dropped (迪尚集团有限公司 = 迪尚集团). Within one document an abbreviation of a
longer name there (星歌公司 = 威海星歌服饰有限公司, 村党支部 = 东瓦二村党支部) is that organization.

A name whose place stays unknown (市妇联 in a text that names no city) is :attr:`OrgName.local`: it
is one organization inside its document, never merged with another document's 市妇联.
"""
from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .places import PROVINCE_NAMES, province_at_start

ALIASES: tuple[tuple[str, str], ...] = (
    ("妇联", "妇女联合会"),
    ("残联", "残疾人联合会"),
    ("红会", "红十字会"),
    ("工商联", "工商业联合会"),
    ("总商会", "工商业联合会"),  # 工商业联合会(总商会): one organization, two names
    ("关工委", "关心下一代工作委员会"),
    ("青基会", "青少年发展基金会"),
    ("青联", "青年联合会"),
    ("科协", "科学技术协会"),
    ("文联", "文学艺术界联合会"),
    ("侨联", "归国华侨联合会"),
    ("全总", "全国总工会"),
    ("慈善会", "慈善总会"),
    ("红十字", "红十字会"),  # 无锡红十字 = 无锡市红十字会
    ("扶贫办", "扶贫开发领导小组办公室"),
    ("扶贫开发办公室", "扶贫开发领导小组办公室"),
    ("人社局", "人力资源和社会保障局"),
    ("统战部", "统一战线工作部"),
    ("人大常委会", "人民代表大会常务委员会"),
    ("政府", "人民政府"),
    ("团委", "团委"),  # composed below as 共青团{place}委员会
)
"""Standard short form -> full form of an organization's body (after its place)."""

STANDARD_BODIES = tuple({full for _, full in ALIASES} | {"总工会", "民政局", "财政局", "教育局", "团委"})
"""Bodies that every place has: without a place, which one is meant is known in its document only."""

LEVELS = ("自治区", "自治州", "特别行政区", "街道", "地区", "省", "市", "州", "盟", "县", "区", "旗", "镇", "乡")
_LEVELS_RE = "|".join(LEVELS)
_PLACE = re.compile(r"(?:全国|(?!自治)[\u4e00-\u9fff]{2,5}?(?:" + _LEVELS_RE + r")(?:(?<=镇|州)(?:市|县)(?!场))?)")
"""景德镇市 is one place (not 景德镇 and a 市 body): a 镇/州 right before 市/县 belongs to the name."""
_INNER_PLACE = re.compile(r"[\u4e00-\u9fff]{2,4}?(?:" + _LEVELS_RE + r")")  # 济南市|历下区: a place inside a place
_LEVEL_START = re.compile(r"^(自治区|自治州|省|市|州|县|区|镇|乡)(?!场|域|长)")
_LEAGUE = (  # the Communist Youth League committee of a place, in its usual spellings
    re.compile(r"^共青团(?P<place>.*?)(?P<level>省|市|州|县|区|地区)?委(?:员会)?$"),
    re.compile(r"^团(?P<place>.*?)(?P<level>省|市|州|县|区|地)委(?:员会)?$"),
    re.compile(r"^(?P<place>.+?)团(?P<level>省|市|州|县|区)委$"),  # 朝阳团区委
    re.compile(r"^(?P<place>.*?)(?P<level>省|市|州|县|区)?团委$"),
    re.compile(r"^(?P<place>.+?)共青团$"),
)
_LEAGUE_PLACED = 3
"""The first patterns of ``_LEAGUE`` name the place and its level themselves (团东城区委, 朝阳团区委): a document's
places are read from those."""
_OWN_NAME = ("大学", "学院", "日报", "晚报", "电台", "电视", "广播", "网", "新闻")
"""济南大学 is no 济南市大学: after a place's stem these words make the name its own."""
_COMPANY_SUFFIX = re.compile(r"(?:股份有限公司|有限责任公司|有限公司)$")
_NOT_COMPANY_END = ("会", "委", "局", "办", "部", "院", "所", "中心", "支部", "总支", "协会", "联盟", "队", "馆", "宫",
                    "组", "处", "站", "厅", "室", "团委")
_SCHOOL_SHORT = re.compile(r"(?<!第)([一二三四五六七八九十]{1,3})中$")
"""方正一中 is 方正县第一中学: the short form is spelled out, like every other body."""
_OWN_WHOLE = ("大学", "学院", "中学", "小学", "医院", "网")
"""新疆大学 is no shortening of 新疆财经大学, 中国网 none of 中国发展门户网: an institution or outlet named by
the long name's start and its whole head word, a middle part dropped, is another one (中新网 = 中国新闻网
compresses the head and stays a shortening)."""
_OWN_KIND = ("基金", "协会", "商会", "学会", "研究", "分会", "中心", "分院", "分公司", "支公司", "支行", "分行", "工会", "团委",
             "党委", "党支部", "党总支", "联合会", "办公室", "委员会", "人大", "常委会", "政协")
"""Words that make an organization of their own kind: a name lacking one does not shorten a name with it."""
_SHORT_HEADS = ("协会", "学会", "商会", "联合会")
"""Heads an abbreviation keeps by their first character (女企协 = 女企业家协会); 委 stays out: 市委 is no
市人民代表大会常务委员会."""


OTHER_PARTIES = ("民革", "民盟", "民建", "民进", "农工党", "致公党", "九三学社", "台盟")
"""The eight other parties: 民进山西省委会 is their committee, not a place's body (no place is read from it)."""


@dataclass(frozen=True)
class OrgName:
    """The canonical name of an organization; ``local`` when its place is unknown (one document only)."""

    name: str
    local: bool = False


Places = Mapping[str, str]
"""Level (市, 县 ...) -> the document's place of that level (济南市)."""


_NATIONALITIES = ("蒙古 回 藏 维吾尔 苗 彝 壮 布依 朝鲜 满 侗 瑶 白 土家 哈尼 哈萨克 傣 黎 傈僳 佤 畲 拉祜 水 东乡 纳西 "
                  "景颇 柯尔克孜 土 达斡尔 仫佬 羌 布朗 撒拉 毛南 仡佬 锡伯 阿昌 普米 塔吉克 怒 鄂温克 德昂 保安 裕固 京 "
                  "独龙 鄂伦春 赫哲 门巴 珞巴 基诺 各").split()
_AUTONOMOUS = re.compile(r"^([\u4e00-\u9fff]{2,4}?)(?:(?:" + "|".join(_NATIONALITIES) + r")族?)+自治(州|县)")
"""临夏回族自治州 is called 临夏州, 融水苗族自治县 融水县: one short spelling for both."""


def _clean(name: str) -> str:
    """NFKC; 临夏回族自治州 -> 临夏州; 中共/中国共产党 dropped (市委 is 中共…市委 either way)."""
    name = unicodedata.normalize("NFKC", name).strip()
    name = _AUTONOMOUS.sub(r"\1\2", name)
    return re.sub(r"^(?:中国共产党|中共)", "", name)


def _level(place: str) -> str:
    return next((lv for lv in LEVELS if place.endswith(lv)), "")


def split_place(name: str, places: Places | None = None) -> tuple[str, str, str]:
    """(place, level, body): 乳山市妇联 -> (乳山市, 市, 妇联); 市妇联 -> (place of 市 or '', 市, 妇联)."""
    name = _clean(name)
    if name.startswith(OTHER_PARTIES):  # 民进山西省委会: the party's committee, no place's body
        return "", "", name
    place, rest = "", name
    pattern = _PLACE
    while (m := pattern.match(rest)) and len(rest) > m.end():  # 北京市大兴区: the most specific place
        place, rest, pattern = m.group(), rest[m.end():], _INNER_PLACE
    if place:
        inner = place[len(province_at_start(place)):]
        if inner != place and not place.endswith("自治区") and _PLACE.fullmatch(inner) and inner != _level(inner):
            place = inner  # 云南曲靖市: the city is the place (广西壮族自治区 stays whole)
        return place, _level(place), rest
    m = _LEVEL_START.match(name)
    if m and len(name) > 1:
        level = m.group(1)
        return (places or {}).get(level, ""), level, name
    for full in (places or {}).values():  # 威海中心医院: the place without its suffix
        stem = full[: -len(_level(full))] if _level(full) else full
        rest = name[len(stem):]
        if len(stem) >= 2 and name.startswith(stem) and not name.startswith(full) and len(rest) >= 2 \
                and not rest.startswith(_OWN_NAME) and _is_body(rest):
            return full, _level(full), rest
    province = province_at_start(name)
    if province and _expand(name[len(province):]).endswith(STANDARD_BODIES):  # 重庆青基会 = 重庆市青基会
        full = PROVINCE_NAMES[province]
        return full, _level(full), name[len(province):]
    return "", "", name


def _is_body(rest: str) -> bool:
    """A public body's name after its place (中心医院, 妇联), not a brand (云南白药, 北京银行 keep their names)."""
    return rest.endswith(_NOT_COMPANY_END) or _expand(rest).endswith((*STANDARD_BODIES, "中学", "小学", "学校", "幼儿园"))


def _specific(place: str) -> str:
    """北京市东城区 -> 东城区: the most specific place of a chain."""
    found, _, rest = split_place(place + "_")
    return found if found and rest == "_" else place


def _expand(body: str) -> str:
    """The full form of a body: 妇联 -> 妇女联合会, 委统战部 -> 委统一战线工作部, 有限公司 dropped."""
    for short, full in ALIASES:
        if body.endswith(short) and not body.endswith(full):
            body = body[: -len(short)] + full
            break
    body = _SCHOOL_SHORT.sub(r"第\1中学", body)
    body = body.replace("(集团)", "集团")  # 华润(集团)有限公司 = 华润集团
    core = _COMPANY_SUFFIX.sub("", body)
    if core != body:
        body = core if core.endswith("集团") else core + "公司"
    return body.removesuffix("公司") if body.endswith("集团公司") else body  # 海尔集团公司 = 海尔集团


def _league(name: str, places: Places | None) -> OrgName | None:
    """团市委, 共青团济南市委, 济南市团委, 济南共青团 -> 共青团济南市委员会 (the bare 共青团 is no committee)."""
    for pattern in _LEAGUE:
        m = pattern.match(name)
        if not m:
            continue
        place, level = m.group("place"), m.groupdict().get("level") or ""
        level = "地区" if level == "地" else level
        if place and level:
            full = place + level
        elif place:
            full = next((p for p in (places or {}).values() if p.startswith(place)), place)
        else:
            full = (places or {}).get(level, "")
        if not full:
            return OrgName(f"共青团{level}委员会", local=True)
        return OrgName(f"共青团{_specific(full)}委员会")
    return None


def canonical_org(name: str, places: Places | None = None) -> OrgName:
    """The canonical name of ``name`` in a document whose places are ``places``."""
    cleaned = _clean(name)
    league = _league(cleaned, places)
    if league is not None:
        return league
    place, level, body = split_place(cleaned, places)
    if body in ("总", level + "总"):  # 市总 = 市总工会 (the usual short form of a place's union federation)
        body += "工会"
    if not place and level:  # 市妇联 with no city known: 市妇女联合会, this document only
        return OrgName(_party(_expand(body)), local=True)
    if not place:  # 工商联 of which place? this document's
        expanded = _expand(body)
        national = expanded.startswith(("全国", "中华全国"))  # 全总 = 全国总工会: no document's own
        return OrgName(expanded, local=expanded.endswith(STANDARD_BODIES) and not national)
    if place and body.startswith(level) and level:
        body = body[len(level):]
    return OrgName(_party(place + _expand(body)) if place else _expand(body))


def _party(name: str) -> str:
    """济南市委统一战线工作部 -> 中共济南市委统一战线工作部 (a party committee and its departments)."""
    m = re.match(r"^(.*?(?:省|市|州|县|区))委(?!员)", name)
    return "中共" + name if m and "人民代表" not in name and not name.startswith(OTHER_PARTIES) else name


def document_places(names: Iterable[str]) -> dict[str, str]:
    """The place of each level that a document's full names use most (乳山市妇联 … -> {市: 乳山市})."""
    counts: Counter[str] = Counter()
    for name in names:  # a Counter keeps first-seen order: ties go to the place named first (the headline's)
        cleaned = _clean(name)
        league = next((m for p in _LEAGUE[:_LEAGUE_PLACED] if (m := p.match(cleaned))), None)
        if league and league.group("place") and league.group("level"):
            counts[_specific(league.group("place") + league.group("level"))] += 1
            continue
        place, _, _ = split_place(cleaned)
        if place and place != "全国" and _PLACE.fullmatch(place) and not place.endswith("社区"):
            counts[place] += 1
    out: dict[str, str] = {}
    for place, _ in sorted(counts.items(), key=lambda kv: -kv[1]):
        out.setdefault(_level(place), place)
    return out


def _kept_head(short: str, long: str) -> str:
    """The head word of ``long`` that ``short`` keeps by its first character (女企协 keeps the 协会 of
    女企业家协会), or ''. Three characters at least: 政协 and 社联 are names of their own."""
    if len(short) < 3:
        return ""
    return next((w for w in _SHORT_HEADS if long.endswith(w) and short.endswith(w[0])), "")


def _abbreviates(short: str, long: str) -> bool:
    """``short`` is a shortening of ``long``: its characters in order, the same head and tail (or the
    head kept by its first character), not a unit inside it (玫德集团 is not 玫德集团党委); or a bare
    name the start of a company's (玫德 -> 玫德集团); or a unit by its own name at the end (科技城分院).
    Not: a name lacking a kind word of the long one (中国红十字会 / 中国红十字基金会), an institution or
    outlet missing a middle part (新疆大学 / 新疆财经大学), a group and a company not named after it
    (茅台集团 / 贵州茅台酒销售公司)."""
    if len(short) < 2 or len(short) >= len(long) or long.startswith(short) and long[len(short):].endswith(_NOT_COMPANY_END):
        return False
    if long == short + "号":  # a platform named as an actor stands for its operator (A7b: 网易号 = 网易)
        return True
    if len(short) >= 4 and long.endswith(short) and (len(long) - len(short) >= 2 or _LEVEL_START.match(short)):
        return True  # 村党支部 = 东瓦二村党支部, 县民政局 = 威县民政局; 企业家协会 is no 女企业家协会
    head = _kept_head(short, long)
    if any(word in long and word not in short and word != head for word in _OWN_KIND):
        return False
    if short.endswith(_OWN_WHOLE) and any(long.startswith(short[:k]) and long.endswith(short[k:])
                                          for k in range(1, len(short))):
        return False
    core = short.removesuffix("公司").removesuffix("集团")
    if short.endswith("集团") and not long.endswith("集团") and not long.startswith(core):
        return False
    if long.endswith(("公司", "集团")) and not short.endswith(_NOT_COMPANY_END) and core in long:
        return len(core) >= 2
    if short[0] != long[0] or not (short[-1] == long[-1] or head) or long.startswith(short):
        return False
    it = iter(long)
    return all(ch in it for ch in short)


def resolve_document(names: Iterable[str]) -> dict[str, OrgName]:
    """Surface -> canonical name for the ORG names of one document (abbreviations joined)."""
    surfaces = list(dict.fromkeys(names))
    places = document_places(surfaces)
    canon = {s: canonical_org(s, places) for s in surfaces}
    keys = sorted({c.name for c in canon.values()}, key=len)
    target: dict[str, str] = {}
    for short in keys:
        longer = [k for k in keys if k != short and _shortens(short, k)]
        if len(longer) == 1:  # only when it can mean one organization
            target[short] = longer[0]
    out = {}
    for s, c in canon.items():
        name, seen = c.name, set()
        while name in target and name not in seen:
            seen.add(name)
            name = target[name]
        out[s] = c if name == c.name else OrgName(name, local=any(v.local for v in canon.values() if v.name == name))
    return out


def _bare(canonical: str) -> str:
    return canonical.removeprefix("中共")


def _shortens(short: str, long: str) -> bool:
    """A placed name only shortens a name of the same place, and then its body shortens the body."""
    sp, _, sb = split_place(_bare(short))
    lp, _, lb = split_place(_bare(long))
    if sp and long.endswith(short):  # 青浦区代表处: a unit by its own place and name
        return True
    if sp and sp != lp:
        if lp.endswith(sp) and sb == lb:  # 长春二道区总工会 = 二道区总工会: the place named more fully
            return True
        return False
    return _abbreviates(sb, lb) if sp else _abbreviates(_bare(short), _bare(long))
