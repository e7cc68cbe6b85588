"""HAProxy's peers protocol (v2.1, as haproxy 2.6 speaks it): bytes in, messages out, and back.

No sockets here (engine.py has them). The facts, from docs/peers-v2.0.txt and 2.6's peers.c:

- Handshake: the connecting side sends three lines, ``HAProxyS 2.1``, the name of the peer it
  calls, ``<its own name> <pid> <relative pid>``; the accepting side answers one status line
  (``200`` or an error code) and both then exchange binary messages.
- A message is two bytes (class, type); a type >= 128 is followed by a varint length and that
  many bytes. Varints are haproxy's: below 240 one byte, else the low four bits ride on a first
  byte >= 240 and seven bits follow per byte, the high bit saying "more".
- Stick-table messages: a table definition (sender id, name, key type, key size, data-type
  bitfield, expire, then each rate or array type's parameters), a switch (sender id), an
  update (optional 32-bit id, optional 32-bit remaining expire for the timed forms, the key, then
  each stored data type in id order) and an ack (the receiver's table id, last update id).
- Frequency counters travel as three varints: ms since the current period began, the current
  period's count, the previous period's count.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import NamedTuple

PROTO_NAME = "HAProxyS"
MAJOR_VER = 2
MINOR_VER = 1

# status codes of the handshake (the answer line)
ST_SUCCESS = 200
ST_TRYAGAIN = 300
ST_ERRPROTO = 501
ST_ERRVERSION = 502
ST_ERRHOST = 503
ST_ERRPEER = 504

# message classes
CLASS_CONTROL = 0
CLASS_ERROR = 1
CLASS_STICKTABLE = 10
CLASS_RESERVED = 255

# control types
CTRL_RESYNCREQ = 0
CTRL_RESYNCFINISHED = 1
CTRL_RESYNCPARTIAL = 2
CTRL_RESYNCCONFIRM = 3
CTRL_HEARTBEAT = 4

# error types
ERR_PROTOCOL = 0
ERR_SIZELIMIT = 1

# stick-table message types (>= 128: a length and data follow)
STKT_UPDATE = 0x80
STKT_INCUPDATE = 0x81
STKT_DEFINE = 0x82
STKT_SWITCH = 0x83
STKT_ACK = 0x84
STKT_UPDATE_TIMED = 0x85
STKT_INCUPDATE_TIMED = 0x86
UPDATE_TYPES = (STKT_UPDATE, STKT_INCUPDATE, STKT_UPDATE_TIMED, STKT_INCUPDATE_TIMED)

MAX_MSG_LEN = 16384  # haproxy's trash buffer (tune.bufsize): a longer message is a size error

# key types on the wire (PEER_KT_*), by the name the stick-table keyword uses
KEY_TYPES = {"integer": 2, "ip": 4, "ipv6": 5, "string": 6, "binary": 7}
KEY_TYPE_NAMES = {v: k for k, v in KEY_TYPES.items()}

# std types of the data types
STD_SINT, STD_UINT, STD_ULL, STD_FRQP, STD_DICT = range(5)


class DataType(NamedTuple):
    id: int
    name: str
    std: int
    is_array: bool = False
    is_local: bool = False  # conn_cur: sent, never stored by the receiver


# 2.6's stktable data type enum (include/haproxy/stick_table-t.h), in order: the id is the bit
DATA_TYPES: tuple[DataType, ...] = (
    DataType(0, "server_id", STD_SINT),
    DataType(1, "gpt0", STD_UINT),
    DataType(2, "gpc0", STD_UINT),
    DataType(3, "gpc0_rate", STD_FRQP),
    DataType(4, "conn_cnt", STD_UINT),
    DataType(5, "conn_rate", STD_FRQP),
    DataType(6, "conn_cur", STD_UINT, is_local=True),
    DataType(7, "sess_cnt", STD_UINT),
    DataType(8, "sess_rate", STD_FRQP),
    DataType(9, "http_req_cnt", STD_UINT),
    DataType(10, "http_req_rate", STD_FRQP),
    DataType(11, "http_err_cnt", STD_UINT),
    DataType(12, "http_err_rate", STD_FRQP),
    DataType(13, "bytes_in_cnt", STD_ULL),
    DataType(14, "bytes_in_rate", STD_FRQP),
    DataType(15, "bytes_out_cnt", STD_ULL),
    DataType(16, "bytes_out_rate", STD_FRQP),
    DataType(17, "gpc1", STD_UINT),
    DataType(18, "gpc1_rate", STD_FRQP),
    DataType(19, "server_key", STD_DICT),
    DataType(20, "http_fail_cnt", STD_UINT),
    DataType(21, "http_fail_rate", STD_FRQP),
    DataType(22, "gpt", STD_UINT, is_array=True),
    DataType(23, "gpc", STD_UINT, is_array=True),
    DataType(24, "gpc_rate", STD_FRQP, is_array=True),
)
DATA_TYPE_BY_NAME = {d.name: d for d in DATA_TYPES}


class ProtocolError(Exception):
    """The peer broke the protocol: the session ends (after an error message)."""


class SizeError(ProtocolError):
    """A message longer than haproxy's buffer."""


# ------------------------------------------------------------------------------------------
# varints
# ------------------------------------------------------------------------------------------
def encode_varint(i: int) -> bytes:
    if i < 0:
        i &= 0xFFFFFFFFFFFFFFFF  # haproxy casts signed values (server_id) to uint64
    if i < 240:
        return bytes((i,))
    out = bytearray([(i & 0xFF) | 0xF0])
    i = (i - 240) >> 4
    while i >= 128:
        out.append((i & 0xFF) | 0x80)
        i = (i - 128) >> 7
    out.append(i)
    return bytes(out)


def decode_varint(buf: bytes | bytearray | memoryview, pos: int, end: int | None = None) -> tuple[int, int]:
    """(value, next position); ProtocolError if the buffer ends inside the number."""
    if end is None:
        end = len(buf)
    if pos >= end:
        raise ProtocolError("truncated varint")
    i = buf[pos]
    pos += 1
    if i >= 240:
        shift = 4
        while True:
            if pos >= end:
                raise ProtocolError("truncated varint")
            b = buf[pos]
            pos += 1
            i += b << shift
            shift += 7
            if b < 128:
                break
    return i & 0xFFFFFFFFFFFFFFFF, pos


# ------------------------------------------------------------------------------------------
# handshake
# ------------------------------------------------------------------------------------------
def hello(remote: str, local: str, pid: int, minor: int = MINOR_VER) -> bytes:
    # the relative pid is always 1 since haproxy 2.x (one process)
    return f"{PROTO_NAME} {MAJOR_VER}.{minor}\n{remote}\n{local} {pid} 1\n".encode()


def status_line(code: int) -> bytes:
    return f"{code}\n".encode()


def check_version_line(line: str) -> int:
    """The first hello line: the status code it earns (ST_SUCCESS when acceptable)."""
    if not line.startswith(PROTO_NAME + " "):
        return ST_ERRPROTO
    ver = line[len(PROTO_NAME) + 1:]
    maj, dot, minor = ver.partition(".")
    if not dot or not maj.isdigit() or not minor.isdigit():
        return ST_ERRVERSION
    if int(maj) != MAJOR_VER or int(minor) > MINOR_VER:
        return ST_ERRVERSION
    return ST_SUCCESS


# ------------------------------------------------------------------------------------------
# framing
# ------------------------------------------------------------------------------------------
@dataclass
class RawMessage:
    cls: int
    type: int
    data: bytes = b""


def frame(cls: int, typ: int, data: bytes = b"") -> bytes:
    if typ >= 128:
        return bytes((cls, typ)) + encode_varint(len(data)) + data
    return bytes((cls, typ))


def control(typ: int) -> bytes:
    return frame(CLASS_CONTROL, typ)


def error_msg(typ: int) -> bytes:
    return frame(CLASS_ERROR, typ)


class Reader:
    """Splits a byte stream into lines (handshake) then messages."""

    def __init__(self) -> None:
        self.buf = bytearray()

    def feed(self, data: bytes) -> None:
        self.buf += data

    def line(self) -> str | None:
        """One line without its "\\n" (and optional "\\r"), or None until one is complete."""
        nl = self.buf.find(b"\n")
        if nl < 0:
            if len(self.buf) > 1024:
                raise ProtocolError("handshake line too long")
            return None
        raw = bytes(self.buf[:nl])
        del self.buf[:nl + 1]
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        return raw.decode("latin-1")

    def message(self) -> RawMessage | None:
        b = self.buf
        if len(b) < 2:
            return None
        cls, typ = b[0], b[1]
        if typ < 128:
            del b[:2]
            return RawMessage(cls, typ)
        try:
            length, pos = decode_varint(b, 2)
        except ProtocolError:
            if len(b) >= 2 + 10:
                raise
            return None
        if length > MAX_MSG_LEN:
            raise SizeError(f"message of {length} bytes")
        if len(b) < pos + length:
            return None
        data = bytes(b[pos:pos + length])
        del b[:pos + length]
        return RawMessage(cls, typ, data)


# ------------------------------------------------------------------------------------------
# table definitions
# ------------------------------------------------------------------------------------------
@dataclass
class TableDef:
    """What a table definition message says. ``params`` holds, for each rate type, its period
    (ms) and for each array type its element count (and period): id -> (nbelem, period)."""

    table_id: int
    name: str
    key_type: str  # KEY_TYPES' names
    key_len: int
    data_types: list[int]  # ids, ascending
    expire: int = 0
    params: dict[int, tuple[int, int]] = field(default_factory=dict)

    def nbelem(self, dt: int) -> int:
        return self.params.get(dt, (1, 0))[0]

    def period(self, dt: int) -> int:
        return self.params.get(dt, (1, 0))[1]


def encode_define(d: TableDef) -> bytes:
    name = d.name.encode()
    out = bytearray(encode_varint(d.table_id))
    out += encode_varint(len(name)) + name
    out += encode_varint(KEY_TYPES[d.key_type])
    out += encode_varint(d.key_len)
    bits = 0
    params = bytearray()
    for dt in sorted(d.data_types):
        info = DATA_TYPES[dt]
        bits |= 1 << dt
        nbelem, period = d.params.get(dt, (1, 0))
        if info.is_array:
            params += encode_varint(dt) + encode_varint(nbelem)
            if info.std == STD_FRQP:
                params += encode_varint(period)
        elif info.std == STD_FRQP:
            params += encode_varint(dt) + encode_varint(period)
    out += encode_varint(bits)
    out += encode_varint(d.expire)
    out += params
    return frame(CLASS_STICKTABLE, STKT_DEFINE, bytes(out))


def decode_define(data: bytes) -> TableDef | None:
    """A definition, or None when it names an unknown key type or its parameters do not match
    the bitfield (haproxy ignores such a table). ProtocolError when malformed."""
    tid, pos = decode_varint(data, 0)
    nlen, pos = decode_varint(data, pos)
    if not nlen or pos + nlen >= len(data):
        raise ProtocolError("table definition: bad name length")
    name = data[pos:pos + nlen].decode("latin-1")
    pos += nlen
    ktype, pos = decode_varint(data, pos)
    klen, pos = decode_varint(data, pos)
    bits, pos = decode_varint(data, pos)
    if ktype not in KEY_TYPE_NAMES:
        return None
    types = [dt.id for dt in DATA_TYPES if bits & (1 << dt.id)]
    if bits >> len(DATA_TYPES):
        return None  # a data type 2.6 does not know: its size in updates is unknown
    d = TableDef(tid, name, KEY_TYPE_NAMES[ktype], klen, types)
    if pos >= len(data):  # a pre-2.4 definition: no expire, no parameters
        if any(DATA_TYPES[t].is_array for t in types):
            return None
        return d
    d.expire, pos = decode_varint(data, pos)
    try:
        for t in types:
            info = DATA_TYPES[t]
            if not info.is_array and info.std != STD_FRQP:
                continue
            got, pos = decode_varint(data, pos)
            if got != t:
                return None
            if info.is_array:
                nbelem, pos = decode_varint(data, pos)
                period = 0
                if info.std == STD_FRQP:
                    period, pos = decode_varint(data, pos)
                d.params[t] = (nbelem, period)
            else:
                period, pos = decode_varint(data, pos)
                d.params[t] = (1, period)
    except ProtocolError:
        return None
    return d


def encode_switch(table_id: int) -> bytes:
    return frame(CLASS_STICKTABLE, STKT_SWITCH, encode_varint(table_id))


def decode_switch(data: bytes) -> int:
    return decode_varint(data, 0)[0]


def encode_ack(remote_table_id: int, update_id: int) -> bytes:
    data = encode_varint(remote_table_id) + struct.pack(">I", update_id & 0xFFFFFFFF)
    return frame(CLASS_STICKTABLE, STKT_ACK, data)


def decode_ack(data: bytes) -> tuple[int, int]:
    tid, pos = decode_varint(data, 0)
    if pos + 4 > len(data):
        raise ProtocolError("ack: truncated")
    return tid, struct.unpack_from(">I", data, pos)[0]


# ------------------------------------------------------------------------------------------
# updates
# ------------------------------------------------------------------------------------------
class FreqCtr(NamedTuple):
    """A frequency counter as 2.6 sends it."""

    age: int  # ms since the current period began
    curr: int
    prev: int

    def rate(self, period: int) -> int:
        """The value haproxy's read_freq_ctr_period() reports for this counter now."""
        curr, prev, age = self.curr, self.prev, self.age
        if period <= 0:
            return curr
        if age >= 2 * period:
            return 0
        if age >= period:
            prev, curr, age = curr, 0, age - period
        return curr + (prev * (period - age)) // period if prev else curr

    @classmethod
    def of_rate(cls, value: int) -> FreqCtr:
        """A counter that reads ``value`` now: all of it in a period that has just begun."""
        return cls(0, value, 0)


Value = int | FreqCtr | str | None | list[int] | list[FreqCtr]


@dataclass
class Update:
    key: bytes  # the key's bytes as the table stores them (no length prefix for strings)
    values: dict[int, Value]  # data type id -> value
    update_id: int | None = None  # None: previous id + 1 (incremental form)
    expire: int | None = None  # remaining ms (timed forms)


def _encode_key(key_type: str, key_len: int, key: bytes) -> bytes:
    if key_type == "string":
        k = key.split(b"\0", 1)[0][:max(key_len - 1, 0) or None]
        return encode_varint(len(k)) + k
    if key_type == "integer":
        return key.rjust(4, b"\0")[-4:]
    return key.ljust(key_len, b"\0")[:key_len]


def _as_int(x: object) -> int:
    if isinstance(x, FreqCtr):
        return x.curr
    return int(x) if isinstance(x, int) else 0


def _as_ctr(x: object) -> FreqCtr:
    return x if isinstance(x, FreqCtr) else FreqCtr.of_rate(_as_int(x))


def _encode_ctr(c: FreqCtr) -> bytes:
    return encode_varint(c.age) + encode_varint(c.curr) + encode_varint(c.prev)


def _encode_value(info: DataType, v: Value, nbelem: int) -> bytes:
    if info.is_array:
        items: list[object] = list(v) if isinstance(v, list) else []
        items += [0] * (nbelem - len(items))
        if info.std == STD_FRQP:
            return b"".join(_encode_ctr(_as_ctr(i)) for i in items[:nbelem])
        return b"".join(encode_varint(_as_int(i)) for i in items[:nbelem])
    if info.std == STD_FRQP:
        return _encode_ctr(_as_ctr(v))
    if info.std == STD_DICT:
        if not v:
            return encode_varint(0)
        # always the full form (cache id 1 and the value): valid for any receiver's cache
        raw = str(v).encode()
        body = encode_varint(1) + encode_varint(len(raw)) + raw
        return encode_varint(len(body)) + body
    return encode_varint(_as_int(v))


def encode_update(d: TableDef, u: Update) -> bytes:
    out = bytearray()
    if u.update_id is not None:
        out += struct.pack(">I", u.update_id & 0xFFFFFFFF)
    if u.expire is not None:
        out += struct.pack(">I", max(0, u.expire) & 0xFFFFFFFF)
    out += _encode_key(d.key_type, d.key_len, u.key)
    for dt in sorted(d.data_types):
        out += _encode_value(DATA_TYPES[dt], u.values.get(dt), d.nbelem(dt))
    if u.update_id is not None:
        typ = STKT_UPDATE_TIMED if u.expire is not None else STKT_UPDATE
    else:
        typ = STKT_INCUPDATE_TIMED if u.expire is not None else STKT_INCUPDATE
    return frame(CLASS_STICKTABLE, typ, bytes(out))


def decode_update(d: TableDef, typ: int, data: bytes, dict_cache: dict[int, str] | None = None) -> Update:
    """An update of table ``d``; ``dict_cache`` is the session's received server_key cache."""
    pos = 0
    end = len(data)
    u = Update(b"", {})
    if typ in (STKT_UPDATE, STKT_UPDATE_TIMED):
        if pos + 4 > end:
            raise ProtocolError("update: truncated id")
        u.update_id = struct.unpack_from(">I", data, pos)[0]
        pos += 4
    if typ in (STKT_UPDATE_TIMED, STKT_INCUPDATE_TIMED):
        if pos + 4 > end:
            raise ProtocolError("update: truncated expire")
        u.expire = struct.unpack_from(">I", data, pos)[0]
        pos += 4
    if d.key_type == "string":
        n, pos = decode_varint(data, pos)
        keep = min(n, max(d.key_len - 1, 0))
        if pos + keep > end:
            raise ProtocolError("update: truncated key")
        u.key = bytes(data[pos:pos + keep])
        pos += n
    else:
        size = 4 if d.key_type == "integer" else d.key_len
        if pos + size > end:
            raise ProtocolError("update: truncated key")
        u.key = bytes(data[pos:pos + size])
        pos += size
    for dt in d.data_types:
        info = DATA_TYPES[dt]
        if info.is_array:
            n = d.nbelem(dt)
            if info.std == STD_FRQP:
                ctrs: list[FreqCtr] = []
                for _ in range(n):
                    a, pos = decode_varint(data, pos, end)
                    c, pos = decode_varint(data, pos, end)
                    p, pos = decode_varint(data, pos, end)
                    ctrs.append(FreqCtr(a, c, p))
                u.values[dt] = ctrs
            else:
                ints: list[int] = []
                for _ in range(n):
                    i, pos = decode_varint(data, pos, end)
                    ints.append(i)
                u.values[dt] = ints
            continue
        i, pos = decode_varint(data, pos, end)
        if info.std == STD_FRQP:
            c, pos = decode_varint(data, pos, end)
            p, pos = decode_varint(data, pos, end)
            u.values[dt] = FreqCtr(i, c, p)
        elif info.std == STD_DICT:
            if not i:
                u.values[dt] = None
                continue
            stop = pos + i
            if stop > end:
                raise ProtocolError("update: truncated dictionary entry")
            cid, pos = decode_varint(data, pos, stop)
            if not cid:
                raise ProtocolError("update: dictionary id 0")
            cache = dict_cache if dict_cache is not None else {}
            if pos < stop:
                vlen, pos = decode_varint(data, pos, stop)
                if pos + vlen > stop:
                    raise ProtocolError("update: truncated dictionary value")
                cache[cid] = data[pos:pos + vlen].decode("latin-1")
            u.values[dt] = cache.get(cid)
            pos = stop
        elif info.std == STD_SINT:
            u.values[dt] = i - (1 << 64) if i >= 1 << 63 else (i - (1 << 32) if i >= 1 << 31 else i)
        else:
            u.values[dt] = i
    return u


# ------------------------------------------------------------------------------------------
# values <-> the store's {name: int}
# ------------------------------------------------------------------------------------------
def values_to_data(d: TableDef, values: dict[int, Value]) -> dict[str, int]:
    """The store's view: rates read as haproxy reads them; an array element ``gpc[1]`` is
    ``gpc1`` (``gpc_rate[1]`` is ``gpc1_rate``), as haproxy's gpc0/gpc1 fetches read them;
    server_key (a string) and the local-only conn_cur are left out."""
    out: dict[str, int] = {}
    for dt, v in values.items():
        info = DATA_TYPES[dt]
        if info.is_local or info.std == STD_DICT:
            continue
        if isinstance(v, list):
            for idx, item in enumerate(v):
                name = f"gpc{idx}_rate" if info.name == "gpc_rate" else f"{info.name}{idx}"
                out[name] = item.rate(d.period(dt)) if isinstance(item, FreqCtr) else _as_int(item)
        elif isinstance(v, FreqCtr):
            out[info.name] = v.rate(d.period(dt))
        elif isinstance(v, int):
            out[info.name] = v
    return out


def data_to_values(d: TableDef, data: dict[str, int]) -> dict[int, Value]:
    out: dict[int, Value] = {}
    for dt in d.data_types:
        info = DATA_TYPES[dt]
        if info.is_array:
            n = d.nbelem(dt)
            if info.name == "gpc_rate":
                out[dt] = [FreqCtr.of_rate(data.get(f"gpc{i}_rate", 0)) for i in range(n)]
            else:
                out[dt] = [data.get(f"{info.name}{i}", 0) for i in range(n)]
        elif info.std == STD_FRQP:
            out[dt] = FreqCtr.of_rate(data.get(info.name, 0))
        elif info.std == STD_DICT:
            out[dt] = None
        else:
            out[dt] = data.get(info.name, 0)
    return out

