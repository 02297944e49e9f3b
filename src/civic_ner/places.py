"""China's provincial-level regions, the one list the corpus (a written item's province) and the
name resolver (重庆青基会 is 重庆市's) both read."""
from __future__ import annotations

PROVINCES = (
    "北京", "天津", "河北", "山西", "内蒙古", "辽宁", "吉林", "黑龙江", "上海", "江苏", "浙江",
    "安徽", "福建", "江西", "山东", "河南", "湖北", "湖南", "广东", "广西", "海南", "重庆",
    "四川", "贵州", "云南", "西藏", "陕西", "甘肃", "青海", "宁夏", "新疆",
)
"""Short names, in the official order."""

_AUTONOMOUS_REGIONS = {"内蒙古": "内蒙古自治区", "广西": "广西壮族自治区", "西藏": "西藏自治区", "宁夏": "宁夏回族自治区",
                       "新疆": "新疆维吾尔自治区"}
MUNICIPALITIES = ("北京", "天津", "上海", "重庆")
PROVINCE_NAMES = {p: _AUTONOMOUS_REGIONS.get(p, p + ("市" if p in MUNICIPALITIES else "省")) for p in PROVINCES}
"""Short name -> full name (重庆 -> 重庆市, 云南 -> 云南省, 广西 -> 广西壮族自治区)."""


def province_at_start(name: str) -> str:
    """The province short name ``name`` starts with ('' when none)."""
    return next((p for p in PROVINCES if name.startswith(p)), "")
