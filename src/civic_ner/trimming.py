"""Vocabulary trimming: keep only the embedding rows a model can look up for the text it serves.

multilingual-e5-small carries a 250,037 x 384 word-embedding matrix (96M of its 118M parameters)
for 250k SentencePiece pieces of a hundred languages; Chinese civic news reaches a fraction. A
subword model keeps every piece made only of the kept characters (corpus, CJK, ASCII, punctuation):
the best segmentation of a text over those characters uses no other piece, so tokenization is
unchanged (checked on the corpus). A character-fed model (:class:`~civic_ner.alignment.CharTokenizer`)
reaches even less. For it we keep

- every special / added token, the bare word-start piece ``▁`` and the lowest-scoring piece (so a
  Unigram model keeps the same unknown-token penalty, ``min(score) - 10``);
- every id CharTokenizer emits for any character of the given corpus (all data/*.jsonl sections);
- every id CharTokenizer emits for each character of :data:`DEFAULT_KEEP_RANGES` (CJK ideographs
  incl. Ext A, CJK and general punctuation, full-width forms, ASCII, Latin-1): the whole piece when
  the character is one, else the pieces of its fallback tokenization;

then remap ids to ``0..n-1`` in their original order, slice the embedding matrix (and a tied output
layer if the model has one), and rebuild the fast tokenizer's model (Unigram or WordPiece) with only
the kept pieces (scores kept) under the new ids. Since every piece of every kept segmentation is
still there and no new piece appears, the Unigram Viterbi / WordPiece longest-match picks the same
pieces, so the trimmed model sees exactly the remapped ids: :func:`verify_trim` checks this per
character, and predictions are identical. Characters outside the kept set that the full vocabulary
knew but the trimmed one does not now fall back to other pieces or ``<unk>``.
"""
from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import fileio
from .alignment import CharTokenizer
from .model_dir import (
    CARD_FILE, CRF_FILE, ENCODER_DIR, ENCODER_WEIGHTS, HEAD_FILE, RELATIONS_FILE, ModelDirError, read_meta, write,
)
from .errors import CivicNerError

TRIM_META = "trimming.json"

DEFAULT_KEEP_RANGES: tuple[tuple[int, int], ...] = (
    (0x0021, 0x007E),  # printable ASCII
    (0x00A1, 0x00FF),  # Latin-1 supplement (·, ×, °, ...)
    (0x2010, 0x2027),  # general punctuation: dashes, quotes, ellipsis
    (0x2030, 0x205E),  # general punctuation: per mille, primes, ...
    (0x3000, 0x303F),  # CJK symbols and punctuation
    (0x3400, 0x4DBF),  # CJK Unified Ideographs Extension A
    (0x4E00, 0x9FFF),  # CJK Unified Ideographs
    (0xFF00, 0xFFEF),  # half-width and full-width forms
)


class TrimError(CivicNerError, ValueError):
    """A model or tokenizer that cannot be trimmed (unsupported tokenizer model, missing files)."""


@dataclass
class TrimResult:
    output_dir: Path
    vocab_before: int
    vocab_after: int
    bytes_before: int
    bytes_after: int
    mismatches: list[str]  # characters whose ids differ after trimming (should be empty)
    checked_chars: int
    seconds: float


def range_chars(ranges: Iterable[tuple[int, int]] = DEFAULT_KEEP_RANGES) -> list[str]:
    """The non-space characters of the given inclusive code-point ranges."""
    return [chr(cp) for a, b in ranges for cp in range(a, b + 1) if not chr(cp).isspace()]


def corpus_texts(data_dir: str | Path) -> list[str]:
    """Section texts of every ``*.jsonl`` file in ``data_dir`` (train, dev, test, ...)."""
    files = sorted(Path(data_dir).glob("*.jsonl"))
    if not files:
        raise FileNotFoundError(f"{data_dir}: no *.jsonl files to read the corpus characters from")
    return [obj["text"] for f in files for obj in fileio.read_jsonl(f) if "text" in obj]


def kept_ids(tokenizer, chars: Iterable[str]) -> list[int]:
    """Sorted original ids to keep so that CharTokenizer yields the same pieces for ``chars``."""
    char_tok = CharTokenizer(tokenizer)
    vocab = char_tok.vocab
    keep: set[int] = set(tokenizer.all_special_ids)
    keep.update(int(i) for i in getattr(tokenizer, "added_tokens_decoder", {}) or {})
    keep.update(vocab[p] for p in ("▁",) if p in vocab)
    for ch in set(chars):
        if ch.isspace():
            continue
        keep.update(char_tok.char_ids(ch))
        if ch not in vocab:  # the raw fallback (▁ included) must survive too
            keep.update(tokenizer(ch, add_special_tokens=False)["input_ids"])
    model = json.loads(tokenizer.backend_tokenizer.to_str()).get("model", {})
    if model.get("type") == "Unigram" and model.get("vocab"):
        scores = [s for _, s in model["vocab"]]
        keep.add(min(range(len(scores)), key=scores.__getitem__))  # same unk penalty
    return sorted(i for i in keep if i is not None)


def _remap_ids(obj: Any, new_id: dict[int, int]) -> Any:
    """Remap token ids inside post-processor / padding JSON (TemplateProcessing, Bert/Roberta)."""
    if isinstance(obj, dict):
        out = {}
        for key, value in obj.items():
            if key == "ids" and isinstance(value, list):
                out[key] = [new_id[int(i)] for i in value]
            elif key in ("sep", "cls") and isinstance(value, list) and len(value) == 2:
                out[key] = [value[0], new_id[int(value[1])]]
            elif key == "pad_id" and isinstance(value, int):
                out[key] = new_id.get(value, value)
            else:
                out[key] = _remap_ids(value, new_id)
        return out
    if isinstance(obj, list):
        return [_remap_ids(v, new_id) for v in obj]
    return obj


def trimmed_tokenizer_json(tokenizer_json: dict[str, Any], keep: Sequence[int]) -> dict[str, Any]:
    """The same tokenizer pipeline with a model holding only ``keep`` (old ids), renumbered."""
    new_id = {old: new for new, old in enumerate(keep)}
    out = json.loads(json.dumps(tokenizer_json))
    model = out["model"]
    kind = model.get("type")
    if kind == "Unigram":
        vocab = model["vocab"]
        missing = [i for i in keep if i >= len(vocab)]
        if missing:
            raise TrimError(f"ids {missing[:5]} are not in the tokenizer's Unigram vocabulary")
        model["vocab"] = [vocab[i] for i in keep]
        if model.get("unk_id") is not None:
            model["unk_id"] = new_id[model["unk_id"]]
    elif kind == "WordPiece":
        by_id = {i: p for p, i in model["vocab"].items()}
        model["vocab"] = {by_id[i]: new_id[i] for i in keep if i in by_id}
    else:
        raise TrimError(f"cannot trim a {kind} tokenizer model (supported: Unigram, WordPiece)")
    for token in out.get("added_tokens", []):
        if token["id"] not in new_id:
            raise TrimError(f"added token {token['content']!r} (id {token['id']}) was not kept")
        token["id"] = new_id[token["id"]]
    out["post_processor"] = _remap_ids(out.get("post_processor"), new_id)
    out["padding"] = _remap_ids(out.get("padding"), new_id)
    return out


def _slice_embeddings(model, keep: Sequence[int]) -> None:
    import torch

    index = torch.tensor(list(keep), dtype=torch.long)
    old = model.get_input_embeddings()
    new_id = {o: n for n, o in enumerate(keep)}
    pad = model.config.pad_token_id
    emb = torch.nn.Embedding(len(keep), old.weight.shape[1], padding_idx=new_id.get(pad) if pad is not None else None)
    emb.weight.data = old.weight.data.index_select(0, index).clone()
    model.set_input_embeddings(emb)
    head = model.get_output_embeddings()
    if head is not None:  # a (possibly tied) LM head over the same vocabulary
        head.weight = emb.weight if head.weight is old.weight else torch.nn.Parameter(head.weight.data[index].clone())
        if getattr(head, "bias", None) is not None:
            head.bias = torch.nn.Parameter(head.bias.data[index].clone())
        head.out_features = len(keep)
    model.config.vocab_size = len(keep)
    for attr in ("pad_token_id", "bos_token_id", "eos_token_id", "sep_token_id", "cls_token_id"):
        value = getattr(model.config, attr, None)
        if isinstance(value, int):
            if value not in new_id:
                raise TrimError(f"config {attr}={value} was not kept")
            setattr(model.config, attr, new_id[value])


def _special_kwargs(tokenizer) -> dict[str, str]:
    out = {}
    for attr in ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"):
        value = getattr(tokenizer, attr, None)
        if value is not None:
            out[attr] = str(value)
    return out


def dir_bytes(path: str | Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def verify_trim(original, trimmed, keep: Sequence[int], chars: Iterable[str]) -> list[str]:
    """Characters for which CharTokenizer on the trimmed tokenizer does not yield the remapped
    ids of the original one (empty when the trim is consistent); specials are checked too."""
    new_id = {old: new for new, old in enumerate(keep)}
    a, b = CharTokenizer(original), CharTokenizer(trimmed)
    bad = []
    for attr in ("cls_id", "sep_id", "pad_id", "unk_id"):
        if new_id.get(getattr(a, attr)) != getattr(b, attr):
            bad.append(f"<{attr}>")
    for ch in sorted(set(chars)):
        if ch.isspace():
            continue
        want = [new_id.get(i, -1) for i in a.char_ids(ch)]
        if b.char_ids(ch) != want:
            bad.append(ch)
    return bad


def subword_kept_ids(tokenizer, chars: Iterable[str]) -> list[int]:
    """Sorted original ids to keep so that a subword model segments any text over ``chars`` exactly
    as before: every piece made only of (normalized) kept characters and ``▁``, plus specials and
    the lowest-scoring piece. The best segmentation of such a text only ever uses such pieces."""
    normalizer = tokenizer.backend_tokenizer.normalizer
    alphabet = {"▁"}
    for ch in set(chars):
        alphabet.update(normalizer.normalize_str(ch) if normalizer is not None else ch)
    keep = set(kept_ids(tokenizer, ()))
    keep.update(i for piece, i in tokenizer.get_vocab().items() if piece and all(c in alphabet for c in piece))
    return sorted(keep)


def verify_subword_trim(original, trimmed, keep: Sequence[int], texts: Iterable[str]) -> list[str]:
    """Texts whose subword ids differ after trimming (beyond the renumbering)."""
    new_id = {old: new for new, old in enumerate(keep)}
    bad = []
    for text in texts:
        want = [new_id.get(i, -1) for i in original(text, add_special_tokens=False, verbose=False)["input_ids"]]
        if trimmed(text, add_special_tokens=False, verbose=False)["input_ids"] != want:
            bad.append(text[:30])
    return bad


def trim_model(
    model_dir: str | Path,
    output_dir: str | Path,
    texts: Iterable[str] = (),
    ranges: Iterable[tuple[int, int]] = DEFAULT_KEEP_RANGES,
    precision: str | None = None,
    onnx: bool = False,
) -> TrimResult:
    """Write a trimmed copy of a civic-ner model directory to ``output_dir`` (atomically); with ``onnx``
    its encoder also as an ONNX graph, run by ONNX Runtime at load (:mod:`civic_ner.onnx_serving`)."""
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    from .encoder import load_encoder_model

    started = time.perf_counter()
    model_dir, output_dir = Path(model_dir), Path(output_dir)
    meta = read_meta(model_dir)
    tokenization = meta["architecture"].get("tokenization", "subword")
    if output_dir.resolve() == model_dir.resolve():
        raise TrimError(f"{output_dir}: the output must differ from the model directory")
    if onnx and precision not in (None, "fp32"):
        raise TrimError(f"the ONNX encoder runs in fp32: a copy marked {precision} would never use it")
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if not getattr(tokenizer, "is_fast", False):
        raise TrimError(f"{model_dir}: trimming needs a fast (tokenizers) tokenizer")
    from safetensors import SafetensorError

    try:
        encoder = load_encoder_model(str(model_dir / ENCODER_DIR)).eval()
    except SafetensorError as exc:
        raise ModelDirError(f"{model_dir}/{ENCODER_WEIGHTS}: corrupt or truncated weights ({str(exc).splitlines()[0]})") from None
    except (OSError, ValueError) as exc:
        raise ModelDirError(f"{model_dir}/{ENCODER_DIR}: cannot load the encoder ({str(exc).splitlines()[0]})") from None
    texts = list(texts)
    corpus_chars = {ch for t in texts for ch in t if not ch.isspace()}
    checked = corpus_chars | set(range_chars(ranges))
    keep = kept_ids(tokenizer, checked) if tokenization == "char" else subword_kept_ids(tokenizer, checked)
    vocab_before = encoder.get_input_embeddings().weight.shape[0]
    if keep[-1] >= vocab_before:
        raise TrimError(f"token id {keep[-1]} is outside the embedding matrix ({vocab_before} rows)")

    new_json = trimmed_tokenizer_json(json.loads(tokenizer.backend_tokenizer.to_str()), keep)
    new_tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer.from_str(json.dumps(new_json)),
        model_max_length=tokenizer.model_max_length,
        padding_side=tokenizer.padding_side,
        clean_up_tokenization_spaces=False,
        **_special_kwargs(tokenizer),
    )
    if tokenization == "char":
        mismatches = verify_trim(tokenizer, new_tokenizer, keep, checked)
    else:
        mismatches = verify_subword_trim(tokenizer, new_tokenizer, keep, [*texts, "".join(sorted(checked))])
    if mismatches:
        raise TrimError(f"trimmed tokenizer disagrees on {len(mismatches)} inputs, e.g. {mismatches[:5]}")
    _slice_embeddings(encoder, keep)
    encoder.config.vocab_size = len(keep)

    meta["trimmed"] = {"from": str(model_dir), "vocab_before": vocab_before, "vocab_after": len(keep)}
    if precision and precision != "fp32":
        meta["precision"] = precision  # applied by Tagger.from_dir at load; weights stay fp32 on disk
    card = None
    if (model_dir / CARD_FILE).exists():
        card = (model_dir / CARD_FILE).read_text(encoding="utf-8") + (
            f"\n## Trimmed vocabulary\n\nEmbedding rows cut from {vocab_before} to {len(keep)} by "
            f"`civic-ner trim` (pieces over the training corpus's characters and the CJK/ASCII ranges kept; "
            f"tokenization and predictions unchanged on them). Original ids: `{TRIM_META}`.\n"
        )
    crf = model_dir / CRF_FILE if (model_dir / CRF_FILE).exists() else None
    relations = model_dir / RELATIONS_FILE if (model_dir / RELATIONS_FILE).exists() else None
    with fileio.atomic_dir(output_dir) as tmp:
        write(tmp, encoder, new_tokenizer, meta, model_dir / HEAD_FILE, crf, card, relations, onnx=onnx)
        (tmp / TRIM_META).write_text(
            json.dumps({"vocab_before": vocab_before, "kept_original_ids": list(keep)}) + "\n", encoding="utf-8"
        )
    return TrimResult(
        output_dir, vocab_before, len(keep), dir_bytes(model_dir), dir_bytes(output_dir), mismatches,
        len(checked), time.perf_counter() - started,
    )  # fmt: skip
