"""Every key kato writes to LMDB, and the named databases that hold them: the one place that defines their shape.

Isolation between knowledge bases is a property of the keys, not of a convention: every key of a node starts with
`node_prefix(node_id)`, a self-delimiting encoding of the exact node id (length-prefixed, or a sha256 for very long
ids), so no node's prefix is a prefix of another node's keys ("a" never sees "ab", "" is a node like any other).

LMDB limits keys (and dupsort values) to 511 bytes, while symbols and node ids are arbitrary client text. Short
text is stored inline behind a tag byte; text too long for a key is replaced by its sha256 behind another tag, and
the value then carries the full text so that whole-node scans can still name it.

Named databases (values are defined in `kato.store.codec`):

| name            | key                               | value                                                   |
|-----------------|-----------------------------------|---------------------------------------------------------|
| nodes           | node                              | NodeState: counters, sequences, vector dimension, version |
| patterns        | node + text(name)                 | pattern record with its first-learn sequence number     |
| pattern_order   | node + seq                        | pattern name, in first-learn order (append-only)        |
| symbols         | node + text(symbol)               | frequency, pattern-member frequency, first-seen sequence |
| symbol_index    | node + text(symbol)   (dupsort)   | seq + name of each pattern holding the symbol           |
| first_symbol    | node + text(symbol)   (dupsort)   | seq + name of each pattern starting with the symbol     |
| affinity        | node + text(symbol)               | first-seen sequence, {emotive: accumulated float}       |
| vectors_pending | node + seq                        | a queued vector, not yet searchable                     |
| vectors         | node + index                      | an indexed vector (searchable), in first-index order    |
| vector_names    | node + text(vector name)          | its index in `vectors` (dedupe by name)                 |
| meta            | environment-wide names            | the write clock, the layout version                     |

The indexed flag of a vector is which database holds it; the dimension lock lives in NodeState. Dupsort values start
with a big-endian sequence number, so LMDB's sorted duplicates come back in first-learn order.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

LAYOUT_VERSION = 1

NODES = b"nodes"
PATTERNS = b"patterns"
PATTERN_ORDER = b"pattern_order"
SYMBOLS = b"symbols"
SYMBOL_INDEX = b"symbol_index"
FIRST_SYMBOL = b"first_symbol"
AFFINITY = b"affinity"
VECTORS_PENDING = b"vectors_pending"
VECTORS = b"vectors"
VECTOR_NAMES = b"vector_names"
META = b"meta"


@dataclass(frozen=True, slots=True)
class DatabaseSpec:
    name: bytes
    dupsort: bool = False
    per_node: bool = True


DATABASES: tuple[DatabaseSpec, ...] = (
    DatabaseSpec(NODES),
    DatabaseSpec(PATTERNS),
    DatabaseSpec(PATTERN_ORDER),
    DatabaseSpec(SYMBOLS),
    DatabaseSpec(SYMBOL_INDEX, dupsort=True),
    DatabaseSpec(FIRST_SYMBOL, dupsort=True),
    DatabaseSpec(AFFINITY),
    DatabaseSpec(VECTORS_PENDING),
    DatabaseSpec(VECTORS),
    DatabaseSpec(VECTOR_NAMES),
    DatabaseSpec(META, per_node=False),
)
# Headroom for databases a later layout adds; every process must open the environment with the same value.
MAX_DBS = 32

META_CLOCK = b"clock"
META_LAYOUT = b"layout_version"

_INLINE_NODE = 128  # bytes of node id kept inline; longer ids are hashed
_INLINE_TEXT = 320  # bytes of symbol/name kept inline; node prefix + tag + text stays under LMDB's 511
_HASHED_NODE = b"\xff\xff"
_TEXT_INLINE = b"\x00"
_TEXT_HASHED = b"\x01"
_SEQ = struct.Struct(">Q")
SEQ_SIZE = _SEQ.size
MAX_DUP_VALUE = 511


def encode_text(text: str) -> bytes:
    """UTF-8 that also carries lone surrogates, so every Python str a client can send has exactly one key."""
    return text.encode("utf-8", "surrogatepass")


def decode_text(data: bytes | memoryview) -> str:
    return bytes(data).decode("utf-8", "surrogatepass")


def node_prefix(node_id: str) -> bytes:
    """The prefix of every key of `node_id`: 2-byte length + id, or a marker that no length can take + sha256."""
    raw = encode_text(node_id)
    if len(raw) <= _INLINE_NODE:
        return len(raw).to_bytes(2, "big") + raw
    return _HASHED_NODE + hashlib.sha256(raw).digest()


def text_key(text: str) -> bytes:
    """Key suffix for a symbol or a name; `is_hashed_key` says whether the value must carry the text."""
    raw = encode_text(text)
    if len(raw) <= _INLINE_TEXT:
        return _TEXT_INLINE + raw
    return _TEXT_HASHED + hashlib.sha256(raw).digest()


def is_hashed_key(suffix: bytes | memoryview) -> bool:
    return bytes(suffix[:1]) == _TEXT_HASHED


def text_from_key(suffix: bytes | memoryview) -> str | None:
    """The text of an inline key suffix, None for a hashed one."""
    if bytes(suffix[:1]) == _TEXT_INLINE:
        return decode_text(suffix[1:])
    return None


def pattern_key(prefix: bytes, name: str) -> bytes:
    """Key of a stored pattern. Names are kept inline (whole-node scans read them back from the key), so a name
    too long for that is refused (readers look names up with `text_key`, under which such a name is just absent)."""
    raw = encode_text(name)
    if len(raw) > _INLINE_TEXT:
        raise ValueError(f"pattern name too long to store: {name[:40]!r}...")
    return prefix + _TEXT_INLINE + raw


def name_from_pattern_key(prefix_len: int, key: bytes) -> str:
    return decode_text(key[prefix_len + 1:])


def seq_bytes(seq: int) -> bytes:
    return _SEQ.pack(seq)


def seq_of(data: bytes | memoryview) -> int:
    return _SEQ.unpack_from(data)[0]


def seq_key(prefix: bytes, seq: int) -> bytes:
    """node + big-endian sequence number: keys that sort in insertion order."""
    return prefix + _SEQ.pack(seq)


def indexed_name(seq: int, name: str) -> bytes:
    """A dupsort value of the symbol indexes: sorts by sequence number, then carries the pattern name."""
    value = _SEQ.pack(seq) + encode_text(name)
    if len(value) > MAX_DUP_VALUE:
        raise ValueError(f"pattern name too long for the symbol index: {name[:40]!r}...")
    return value


def name_of_indexed(value: bytes | memoryview) -> str:
    return decode_text(value[SEQ_SIZE:])
