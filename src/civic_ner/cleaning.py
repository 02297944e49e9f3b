"""Raw bulletin text -> clean sections.

One function family, used both by the corpus build and by prediction on new bulletins, so that the
model always sees text cleaned the same way. Cleaning only removes web chrome and repairs layout:
line breaks inside a paragraph are joined and a character duplicated across a page break is dropped.
Everything else (full-width punctuation, spaces after half-width commas) is kept as it is.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

# Lines that belong to the web page, not to the bulletin (matched on the stripped line).
CHROME_PATTERNS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(p)
    for p in (
        r"Logo$",
        r"^(扫码)?下载.{0,10}客户端$",
        r"^(登录|注册|字号|收藏|反馈|分享|分享到|我要举报|举报|阅读原文|返回顶部|打印|关闭窗口|责任编辑.*)$",
        r"^[•·]?\s*\+1$",
        r"^\d{4}-\d{1,2}-\d{1,2}( \d{1,2}:\d{2}(:\d{2})?)?$",
        r"^来源[:：]",
        r"^原标题[:：]",
        r"本文为.{0,20}(号|平台)作者",
        r"ICP备|公网安备|许可证[:：]|^©|^Copyright",
    )
)
# Sentence-final or closing punctuation: a line ending with one of these ends a paragraph.
TERMINAL = "。！？!?…”’」』）)】;；:："
# A line ending with one of these is cut mid-sentence.
CONTINUING = "，,、—“‘「『（(《"
SPEAKER_RE = re.compile(r"^[\u4e00-\u9fff·]{2,12}[:：]$")
BYLINE_RE = re.compile(r"^(□?文/图|通讯员|记者|本报记者|半岛记者|（.{1,30}）$|\(.{1,30}\)$)")
CAPTION_MARKS = "▲◀▶►△▼◆"
HEADING_MAX_CHARS = 40
LONG_HEADING_CHARS = 30


@dataclass
class Line:
    """A paragraph (after joining layout breaks) with the raw character range it came from."""

    text: str
    raw_start: int
    raw_end: int


@dataclass
class Section:
    """One news item, speaker turn or headed part of a bulletin."""

    id: str
    source: str
    text: str
    raw_start: int
    raw_end: int
    lines: list[Line] = field(default_factory=list, repr=False)


def is_chrome(line: str) -> bool:
    stripped = line.strip()
    return any(p.search(stripped) for p in CHROME_PATTERNS)


def raw_lines(raw: str) -> list[tuple[str, int, int, int]]:
    """Non-empty, non-chrome lines as (text, raw_start, raw_end, blank_lines_before)."""
    out: list[tuple[str, int, int, int]] = []
    pos = 0
    blanks = 0
    for piece in raw.split("\n"):
        start, end = pos, pos + len(piece)
        pos = end + 1
        text = piece.strip()
        if not text:
            blanks += 1
            continue
        if is_chrome(text):
            blanks = 0
            continue
        lead = len(piece) - len(piece.lstrip())
        out.append((text, start + lead, start + lead + len(text), blanks))
        blanks = 0
    return out


def has_sentence_end(text: str) -> bool:
    return any(mark in text for mark in "。？?；;")


def looks_cut(paragraph: str, next_line: str | None) -> bool:
    """True when a paragraph continues on the next line (a layout break, not the paragraph's end).

    Headings have no final punctuation either. A line without it counts as cut when it ends on a
    continuing mark, already holds a finished sentence, or is long for a heading (30+ characters)
    while the next line is no heading or byline (a title block is a run of such lines).
    """
    if not paragraph or paragraph[-1] in TERMINAL or SPEAKER_RE.match(paragraph):
        return False
    if next_line is None or next_line.startswith(tuple(CAPTION_MARKS)):
        return False
    if paragraph[-1] in CONTINUING or has_sentence_end(paragraph[:-1]):
        return True
    if len(paragraph) > HEADING_MAX_CHARS:
        return True
    if len(paragraph) >= LONG_HEADING_CHARS:
        return not (is_heading_shaped(next_line) or BYLINE_RE.match(next_line))
    return False


def is_heading_shaped(line: str) -> bool:
    """Short, no sentence inside, not a caption or byline: a title, subtitle or part heading."""
    return (
        len(line) <= HEADING_MAX_CHARS
        and not has_sentence_end(line)
        and line[-1] not in CONTINUING
        and not line.startswith(tuple(CAPTION_MARKS))
        and not BYLINE_RE.match(line)
        and not SPEAKER_RE.match(line)
    )


def join_layout_breaks(lines: list[tuple[str, int, int, int]]) -> list[Line]:
    """Join lines that a layout break cut mid-paragraph; repair a character doubled at a page break."""
    paragraphs: list[Line] = []
    for text, start, end, blanks in lines:
        previous = paragraphs[-1] if paragraphs else None
        if previous is not None and looks_cut(previous.text, text):
            # A page break (several blank lines) may repeat the last character on the next page.
            if blanks >= 2 and text[0] == previous.text[-1]:
                text = text[1:]
            previous.text += text
            previous.raw_end = end
        else:
            paragraphs.append(Line(text, start, end))
    return paragraphs


def drop_trailing_link_list(paragraphs: list[Line], min_run: int = 4) -> list[Line]:
    """A run of headline-like lines at the very end is a 'related articles' list: page chrome."""
    run = 0
    for paragraph in reversed(paragraphs):
        if is_heading_shaped(paragraph.text):
            run += 1
        else:
            break
    return paragraphs[: len(paragraphs) - run] if run >= min_run else paragraphs


def split_sections(paragraphs: list[Line]) -> list[list[Line]]:
    """Start a section at each heading block or speaker line; a block of headings joins the body after it."""
    groups: list[list[Line]] = []
    current: list[Line] = []
    in_header = False
    for paragraph in paragraphs:
        text = paragraph.text
        starts_block = SPEAKER_RE.match(text) is not None or is_heading_shaped(text)
        if starts_block and not in_header:
            if current:
                groups.append(current)
            current = []
            in_header = True
        elif not starts_block and not BYLINE_RE.match(text):
            in_header = False
        current.append(paragraph)
    if current:
        groups.append(current)
    # A heading-only group (e.g. a caption of a speaker's name) merges into the section it introduces.
    merged: list[list[Line]] = []
    pending: list[Line] = []
    for group in groups:
        if all(is_heading_shaped(p.text) or BYLINE_RE.match(p.text) for p in group) and not any(
            SPEAKER_RE.match(p.text) for p in group
        ):
            pending.extend(group)
            continue
        merged.append(pending + group)
        pending = []
    if pending:
        if merged:
            merged[-1].extend(pending)
        else:
            merged.append(pending)
    return merged


def clean_sections(raw: str, source: str, stem: str | None = None) -> list[Section]:
    """Raw bulletin -> sections with stable ids ``<stem>-<nn>`` and their raw character ranges."""
    stem = stem if stem is not None else source.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    raw = raw.replace("\r\n", "\n").replace("\r", "\n")
    paragraphs = drop_trailing_link_list(join_layout_breaks(raw_lines(raw)))
    sections = []
    for number, group in enumerate(split_sections(paragraphs)):
        sections.append(
            Section(
                id=f"{stem}-{number:02d}",
                source=source,
                text="\n".join(p.text for p in group),
                raw_start=group[0].raw_start,
                raw_end=group[-1].raw_end,
                lines=group,
            )
        )
    return sections


def clean_text(raw: str) -> str:
    """The whole cleaned document as one text (sections separated by blank lines), for prediction."""
    return "\n\n".join(section.text for section in clean_sections(raw, "<text>", "doc"))
