#!/usr/bin/env python3
"""Clean-room decoder for the punchline wire protocol, version 1.

Written from spec/wire.md ONLY (src/wire/ and test/wire/*.ts were not read). For every vector in
spec/vectors/wire-frames.json and spec/vectors/wire-packets.json it decodes the hex with the rules of
the spec, compares the result with the vector, checks that malformed inputs are rejected with the
error code the spec names, and re-encodes where the spec defines a canonical encoding.

Spec defects. Where spec/wire.md is ambiguous, silent or self-contradictory, the decoder does not
pick the answer the vectors want. Each such point is a *defect* (table DEFECTS below) with the
plausible readings of the current text. A vector passes only if it passes under EVERY reading of
every defect it depends on; otherwise it fails and the defect IDs are printed. With
--with-proposed-fixes only the reading of the proposed fix text is used (shows that the proposed
fixes make the spec sufficient for the vectors). Once the spec is fixed, delete the defect here and
implement the rule the spec now states (one reading).

Review history: defects D1-D7 of the first review (field widths in §6.7/§6.8, value limit vs bytes
left, when a field is checked, when the Initial size is checked, Retry with an empty token, probe
and relay error codes, meaning of the vector fields) and M1-M7 are fixed in spec/wire.md (§1, §2,
§4, §5.2, §5.3, §6, §7.1-§7.4, §8.1); the rules are implemented below with the section they come
from, and DEFECTS is empty. That update was made by the spec's maintainer (who had read src/wire to
make the spec describe it); every rule below is still taken from, and cited to, spec/wire.md, and
a differential run of this decoder against src/wire on mutated vectors found no disagreement.

Rules the spec states that a reader might not expect (implemented here, not defects): varints above
2^53-1 are rejected with ERR_PUNCHLINE_WIRE_VARINT_UNSAFE and STREAM offset + length <= 2^53-1 (§2,
normative in version 1); a run of PADDING bytes is reported as one frame with a length (§6.1, §8.1);
fields are checked as soon as read, value limits before bytes left (§7.4), with the exceptions of
§7.4 item 3 (ACK, Initial size, probe, relay, short header).

Usage: python3 test/wire/cleanroom/decode.py [-v] [--with-proposed-fixes]
Prints `N passed, M failed` last; exits 1 if any vector failed.
"""

import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, '..', '..', '..'))
SPEC = os.path.join(ROOT, 'spec', 'wire.md')
FRAMES_JSON = os.path.join(ROOT, 'spec', 'vectors', 'wire-frames.json')
PACKETS_JSON = os.path.join(ROOT, 'spec', 'vectors', 'wire-packets.json')

MAX53 = 2 ** 53 - 1            # §2 reference-implementation limit
MAX62 = 2 ** 62 - 1            # §2
VERSION = 0x504E4C01           # §5.2
CID_LEN = 8                    # §5.1
MAX_TOKEN = 256                # §5.2
MIN_INITIAL = 1200             # §5.2.1
TAG_LEN = 16                   # §5.3
MAX_ACK_RANGES = 256           # §6.3
MAX_REASON = 1024              # §6.9
MAX_STREAMS_LIMIT = 2 ** 60    # §6.6
STUN_COOKIE = bytes.fromhex('2112a442')  # §3
PROBE_MAGIC = b'PNL'           # §4.1
E = 'ERR_PUNCHLINE_WIRE_'

# ---------------------------------------------------------------------------------------------
# Spec defects that change a decoding outcome. readings[0] is the default; `fix` is the reading
# that the proposed fix text (in the clean-room review report) would make normative.
DEFECTS = {}  # all defects of the first review are fixed in the spec (see the docstring)


class WireError(Exception):
    def __init__(self, code, msg=''):
        super().__init__(f'{code}: {msg}')
        self.code = code


def err(name, msg=''):
    return WireError(E + name if name else None, msg)


class Ctx:
    """Which reading of each defect is in force; records which defects a vector touched."""

    def __init__(self, choice, fixed):
        self.choice = choice
        self.fixed = fixed
        self.touched = []
        self.used = {}  # defect -> reading actually applied

    def ask(self, d):
        if d not in self.touched:
            self.touched.append(d)
        if self.fixed:
            reading = DEFECTS[d]['fix']
        else:
            reading = self.choice.get(d, DEFECTS[d]['readings'][0])
        self.used[d] = reading
        return reading

    def non_fix(self):
        """The readings in force that differ from the proposed fix."""
        return {d: r for d, r in self.used.items() if r != DEFECTS[d]['fix']}


# ---------------------------------------------------------------------------------------------
# §2 varints

def encode_varint(v):
    if v < 0 or v > MAX62:
        raise ValueError(v)
    for n, prefix in ((1, 0), (2, 1), (4, 2), (8, 3)):
        if v < 1 << (8 * n - 2):
            return ((prefix << (8 * n - 2)) | v).to_bytes(n, 'big')
    raise ValueError(v)


class Reader:
    def __init__(self, buf, ctx):
        self.b = buf
        self.p = 0
        self.ctx = ctx

    def left(self):
        return len(self.b) - self.p

    def raw_varint(self):
        if self.left() < 1:
            raise err('TRUNCATED', 'varint')
        n = 1 << (self.b[self.p] >> 6)
        if self.left() < n:
            raise err('TRUNCATED', 'varint')
        v = self.b[self.p] & 0x3F
        for i in range(1, n):
            v = (v << 8) | self.b[self.p + i]
        self.p += n
        return v, n

    def varint(self):
        v, _ = self.raw_varint()
        if v > MAX53:  # §2 implementation limit (reference profile), §7.1
            raise err('VARINT_UNSAFE', str(v))
        return v

    def take(self, n, what=''):
        if n > self.left():
            raise err('TRUNCATED', what)
        out = self.b[self.p:self.p + n]
        self.p += n
        return out

    def u(self, n, what=''):
        return int.from_bytes(self.take(n, what), 'big')

    def length(self, n, limit_violated=False, limit_code=None, what=''):
        """§7.4 item 2: a length's value limit first, then the bytes remaining."""
        if limit_violated:
            raise err(limit_code, what)
        if n > self.left():
            raise err('TRUNCATED', what)


# ---------------------------------------------------------------------------------------------
# §6 frames

FRAME_TYPES = {0x00, 0x01, 0x02, 0x04, 0x05, *range(0x08, 0x10), 0x10, 0x11, 0x12, 0x13, 0x14,
               0x15, 0x18, 0x19, 0x1A, 0x1B, 0x1C, 0x1D, 0x30, 0x31}


# §1: "x (n)" is n bytes. §6.7: Length (1), Connection ID (8), Stateless Reset Token (16); §6.8: Data (8)
NCID_LEN_SIZE, RESET_TOKEN_LEN, PATH_DATA_LEN = 1, 16, 8


def decode_frame(r):
    ctx = r.ctx
    t = r.b[r.p]
    # §6: type is a minimal varint below 64; first byte >= 0x40 or undefined value -> unknown
    if t >= 0x40 or t not in FRAME_TYPES:
        raise err('UNKNOWN_FRAME', hex(t))
    r.p += 1
    if t == 0x00:  # §6.1: report a run as one frame with a length
        n = 1
        while r.left() and r.b[r.p] == 0:
            r.p += 1
            n += 1
        return {'type': 'PADDING', 'length': n}
    if t == 0x01:
        return {'type': 'PING'}
    if t == 0x02:  # §6.3
        largest = r.varint()
        delay = r.varint()
        ts = r.varint()
        count = r.varint()
        # §6.3 steps 2-5: count limit; read First ACK Range; 2*count vs bytes left; first range >= 0
        if count + 1 > MAX_ACK_RANGES:
            raise err('ACK_RANGES', 'more than 256 ranges')
        first = r.varint()
        if 2 * count > r.left():
            raise err('TRUNCATED', 'ACK ranges past end of frame')
        smallest = largest - first
        if smallest < 0:
            raise err('ACK_RANGES', 'first range below 0')
        ranges = [{'smallest': smallest, 'largest': largest}]
        for _ in range(count):
            gap = r.varint()
            length = r.varint()
            lg = smallest - gap - 2
            sm = lg - length
            if lg < 0 or sm < 0:
                raise err('ACK_RANGES', 'range below 0')
            ranges.append({'smallest': sm, 'largest': lg})
            smallest = sm
        return {'type': 'ACK', 'ranges': ranges, 'ackDelayMicros': delay,
                'receiveTimestampMicros': ts}
    if t == 0x04:
        return {'type': 'RESET_STREAM', 'streamId': r.varint(), 'errorCode': r.varint(),
                'finalSize': r.varint()}
    if t == 0x05:
        return {'type': 'STOP_SENDING', 'streamId': r.varint(), 'errorCode': r.varint()}
    if 0x08 <= t <= 0x0F:  # §6.5
        sid = r.varint()
        off = r.varint() if t & 0x04 else 0
        if t & 0x02:
            n = r.varint()
            # §6.5: offset + length <= 2^53-1 (version 1), checked before the bytes left (§7.4)
            r.length(n, limit_violated=off + n > MAX53, limit_code='STREAM_OFFSET',
                     what='STREAM length')
            data = r.take(n)
        else:
            data = r.take(r.left())
            if off + len(data) > MAX53:
                raise err('STREAM_OFFSET')
        return {'type': 'STREAM', 'streamId': sid, 'offset': off, 'data': data.hex(),
                'fin': bool(t & 0x01), 'explicitLength': bool(t & 0x02)}
    if t == 0x10:
        return {'type': 'MAX_DATA', 'maximum': r.varint()}
    if t == 0x11:
        return {'type': 'MAX_STREAM_DATA', 'streamId': r.varint(), 'maximum': r.varint()}
    if t in (0x12, 0x13):
        m = r.varint()
        if m > MAX_STREAMS_LIMIT:
            raise err('FRAME_ENCODING', 'MAX_STREAMS')
        return {'type': 'MAX_STREAMS_BIDI' if t == 0x12 else 'MAX_STREAMS_UNI', 'maximum': m}
    if t == 0x14:
        return {'type': 'DATA_BLOCKED', 'limit': r.varint()}
    if t == 0x15:
        return {'type': 'STREAM_DATA_BLOCKED', 'streamId': r.varint(), 'limit': r.varint()}
    if t == 0x18:  # §6.7
        seq = r.varint()
        rpt = r.varint()
        if rpt > seq:  # checked as soon as read (§6.7, §7.4)
            raise err('FRAME_ENCODING', 'retire prior to > sequence')
        n = r.u(NCID_LEN_SIZE, 'NCID length')
        if n != CID_LEN:
            raise err('CID_LENGTH', f'NCID length {n}')
        cid = r.take(CID_LEN, 'NCID cid')
        tok = r.take(RESET_TOKEN_LEN, 'NCID token')
        return {'type': 'NEW_CONNECTION_ID', 'sequence': seq, 'retirePriorTo': rpt,
                'connectionId': cid.hex(), 'resetToken': tok.hex()}
    if t == 0x19:
        return {'type': 'RETIRE_CONNECTION_ID', 'sequence': r.varint()}
    if t in (0x1A, 0x1B):  # §6.8
        return {'type': 'PATH_CHALLENGE' if t == 0x1A else 'PATH_RESPONSE',
                'data': r.take(PATH_DATA_LEN, 'path data').hex()}
    if t in (0x1C, 0x1D):  # §6.9
        code = r.varint()
        n = r.varint()
        r.length(n, limit_violated=n > MAX_REASON, limit_code='REASON', what='reason length')
        raw = r.take(n)
        try:
            reason = raw.decode('utf-8', errors='strict')
        except UnicodeDecodeError:
            raise err('REASON', 'not UTF-8')
        return {'type': 'CLOSE', 'application': t == 0x1D, 'errorCode': code, 'reason': reason}
    if t == 0x30:  # §6.10
        return {'type': 'DATAGRAM', 'data': r.take(r.left()).hex(), 'explicitLength': False}
    if t == 0x31:
        n = r.varint()
        r.length(n, what='DATAGRAM length')
        return {'type': 'DATAGRAM', 'data': r.take(n).hex(), 'explicitLength': True}
    raise AssertionError(t)


def decode_payload(buf, ctx):
    # §6: no separate rule for an empty payload (unreachable after §5.3): zero bytes, zero frames
    r = Reader(buf, ctx)
    frames = []
    while r.left():
        frames.append(decode_frame(r))
    return frames


def encode_frame(f):
    """Canonical encoding: shortest varints (§2), STREAM offset omitted when 0 (§6.5)."""
    v = encode_varint
    t = f['type']
    if t == 'PADDING':
        return bytes(f['length'])
    if t == 'PING':
        return b'\x01'
    if t == 'ACK':
        rs = f['ranges']
        out = b'\x02' + v(rs[0]['largest']) + v(f['ackDelayMicros']) + \
            v(f['receiveTimestampMicros']) + v(len(rs) - 1) + v(rs[0]['largest'] - rs[0]['smallest'])
        for prev, cur in zip(rs, rs[1:]):
            out += v(prev['smallest'] - cur['largest'] - 2) + v(cur['largest'] - cur['smallest'])
        return out
    if t == 'RESET_STREAM':
        return b'\x04' + v(f['streamId']) + v(f['errorCode']) + v(f['finalSize'])
    if t == 'STOP_SENDING':
        return b'\x05' + v(f['streamId']) + v(f['errorCode'])
    if t == 'STREAM':
        data = bytes.fromhex(f['data'])
        ty = 0x08 | (0x04 if f['offset'] else 0) | (0x02 if f['explicitLength'] else 0) | \
            (0x01 if f['fin'] else 0)
        out = bytes([ty]) + v(f['streamId'])
        if f['offset']:
            out += v(f['offset'])
        if f['explicitLength']:
            out += v(len(data))
        return out + data
    if t == 'MAX_DATA':
        return b'\x10' + v(f['maximum'])
    if t == 'MAX_STREAM_DATA':
        return b'\x11' + v(f['streamId']) + v(f['maximum'])
    if t == 'MAX_STREAMS_BIDI':
        return b'\x12' + v(f['maximum'])
    if t == 'MAX_STREAMS_UNI':
        return b'\x13' + v(f['maximum'])
    if t == 'DATA_BLOCKED':
        return b'\x14' + v(f['limit'])
    if t == 'STREAM_DATA_BLOCKED':
        return b'\x15' + v(f['streamId']) + v(f['limit'])
    if t == 'NEW_CONNECTION_ID':
        cid = bytes.fromhex(f['connectionId'])
        return b'\x18' + v(f['sequence']) + v(f['retirePriorTo']) + bytes([len(cid)]) + cid + \
            bytes.fromhex(f['resetToken'])
    if t == 'RETIRE_CONNECTION_ID':
        return b'\x19' + v(f['sequence'])
    if t == 'PATH_CHALLENGE':
        return b'\x1a' + bytes.fromhex(f['data'])
    if t == 'PATH_RESPONSE':
        return b'\x1b' + bytes.fromhex(f['data'])
    if t == 'CLOSE':
        reason = f['reason'].encode('utf-8')
        return (b'\x1d' if f['application'] else b'\x1c') + v(f['errorCode']) + v(len(reason)) + reason
    if t == 'DATAGRAM':
        data = bytes.fromhex(f['data'])
        return (b'\x31' + v(len(data)) if f['explicitLength'] else b'\x30') + data
    raise ValueError(t)


# ---------------------------------------------------------------------------------------------
# §5.3.1 packet numbers

def pn_length(pn, largest_acked):
    unacked = pn + 1 if largest_acked is None else pn - largest_acked
    for n in (1, 2, 3, 4):
        if unacked <= 2 ** (8 * n - 1):
            return n
    raise ValueError('more than 2^31 unacknowledged packets')


def pn_decode(largest, truncated, n):
    win = 2 ** (8 * n)
    hwin = win // 2
    expected = largest + 1
    candidate = (expected & ~(win - 1)) | truncated
    if candidate <= expected - hwin and candidate < 2 ** 62 - win:
        return candidate + win
    if candidate > expected + hwin and candidate >= win:
        return candidate - win
    return candidate


# ---------------------------------------------------------------------------------------------
# §3 demultiplexing, §4 traversal datagrams, §5 transport packets

def classify(buf):
    if not buf:
        return 'unknown'
    b = buf[0]
    if b <= 0x03:
        return 'stun' if len(buf) >= 20 and buf[4:8] == STUN_COOKIE else 'unknown'
    if b in (0x10, 0x11):
        return 'punch-probe'
    if b == 0x12:
        return 'relay'
    if 0x40 <= b <= 0x7F:
        return 'short'
    if b >= 0x80:
        return 'long'
    return 'unknown'


def parse_probe(buf, ctx):
    # §4.1: length first, then type and magic
    if len(buf) < 36:
        raise err('TRUNCATED', 'probe < 36 bytes')
    if buf[0] not in (0x10, 0x11):
        raise err('PROBE', 'type')
    if buf[1:4] != PROBE_MAGIC:
        raise err('PROBE', 'magic')
    return {'reply': buf[0] == 0x11, 'sessionId': buf[4:12].hex(), 'nonce': buf[12:20].hex(),
            'mac': buf[20:36].hex(), 'length': len(buf)}


def encode_probe(f):
    out = bytes([0x11 if f['reply'] else 0x10]) + PROBE_MAGIC + bytes.fromhex(f['sessionId']) + \
        bytes.fromhex(f['nonce']) + bytes.fromhex(f['mac'])
    return out + bytes(f['length'] - len(out))  # padding: zeros (§4.1)


def parse_relay(buf, ctx):
    # §4.2: length first, then the type byte, then nesting
    if len(buf) < 10:
        raise err('TRUNCATED', 'relay < 10 bytes')
    if buf[0] != 0x12:
        raise err('RELAY', 'type')
    inner = buf[9:]
    if inner[0] == 0x12:
        raise err('RELAY', 'nested relay')
    return {'channelId': buf[1:9].hex(), 'inner': inner.hex()}, inner


def parse_short(buf, ctx):
    # §5.3: empty, first byte, minimum size; reserved bits only after authentication
    if not buf:
        raise err('TRUNCATED', 'empty datagram')
    b0 = buf[0]
    if b0 & 0xC0 != 0x40:
        raise err('HEADER', 'not a short header')
    pn_len = (b0 & 0x03) + 1
    hdr = 9 + pn_len
    if len(buf) < hdr + 1 + TAG_LEN:  # §5.3
        raise err('TRUNCATED', 'short header packet too short')
    return {
        'destinationConnectionId': buf[1:9].hex(),
        'keyPhase': (b0 >> 2) & 1,
        'packetNumberLength': pn_len,
        'truncatedPacketNumber': int.from_bytes(buf[9:hdr], 'big'),
        'reservedBits': (b0 >> 3) & 0x07,  # ignored before authentication (§5.3)
        'headerLength': hdr,
        '_protected': buf[hdr:len(buf) - TAG_LEN].hex(),
        '_tag': buf[len(buf) - TAG_LEN:].hex(),
    }


def encode_short(f):
    b0 = 0x40 | (f['reservedBits'] << 3) | (f['keyPhase'] << 2) | (f['packetNumberLength'] - 1)
    return bytes([b0]) + bytes.fromhex(f['destinationConnectionId']) + \
        f['truncatedPacketNumber'].to_bytes(f['packetNumberLength'], 'big') + \
        bytes.fromhex(f['payload'])


LONG_TYPES = {0: 'Initial', 1: 'Handshake', 2: 'Retry'}


def parse_long(buf, ctx):
    # §5.2 receiver rules 1-7, each field checked as soon as read (§7.4)
    r = Reader(buf, ctx)
    b0 = r.u(1, 'first byte')
    ptype = (b0 >> 4) & 0x03
    if not (b0 & 0x80) or not (b0 & 0x40) or (b0 & 0x0F) or ptype == 3:
        raise err('HEADER', f'first byte {b0:#x}')
    version = r.u(4, 'version')
    if version != VERSION:
        raise err('VERSION', f'{version:#x}')
    dl = r.u(1, 'DCID length')
    if dl != CID_LEN:
        raise err('CID_LENGTH', f'DCID length {dl}')
    dcid = r.take(CID_LEN, 'DCID')
    sl = r.u(1, 'SCID length')
    if sl != CID_LEN:
        raise err('CID_LENGTH', f'SCID length {sl}')
    scid = r.take(CID_LEN, 'SCID')
    token = b''
    if ptype in (0, 2):
        tl = r.varint()
        # value limits (<= 256; >= 1 in a Retry) before the bytes left (§7.4)
        r.length(tl, limit_violated=tl > MAX_TOKEN or (ptype == 2 and tl == 0),
                 limit_code='TOKEN', what='token length')
        token = r.take(tl)
    pl = r.varint()
    r.length(pl, what='payload length')
    header_len = r.p
    payload = r.take(pl)
    if ptype == 0 and len(buf) < MIN_INITIAL:  # §5.2.1: checked last
        raise err('TRUNCATED', 'Initial datagram < 1200')
    return {'packetType': LONG_TYPES[ptype], 'version': version,
            'destinationConnectionId': dcid.hex(), 'sourceConnectionId': scid.hex(),
            'token': token.hex(), 'payload': payload.hex(), 'headerLength': header_len,
            'packetLength': r.p, 'datagramLength': len(buf)}


def encode_long(f):
    ptype = {v: k for k, v in LONG_TYPES.items()}[f['packetType']]
    dcid = bytes.fromhex(f['destinationConnectionId'])
    scid = bytes.fromhex(f['sourceConnectionId'])
    out = bytes([0xC0 | (ptype << 4)]) + f['version'].to_bytes(4, 'big') + \
        bytes([len(dcid)]) + dcid + bytes([len(scid)]) + scid
    if ptype in (0, 2):
        tok = bytes.fromhex(f['token'])
        out += encode_varint(len(tok)) + tok
    payload = bytes.fromhex(f['payload'])
    out += encode_varint(len(payload)) + payload
    return out + bytes(f['datagramLength'] - len(out))  # padding: zeros (§5.2.1)


# ---------------------------------------------------------------------------------------------
# vector checks. Each returns None on success or a failure message; WireError propagates.

class Fail(Exception):
    pass


def expect(cond, msg):
    if not cond:
        raise Fail(msg)


def same(got, want, what):
    expect(got == want, f'{what}: got {got!r}, want {want!r}')


def expect_error(fn, code):
    try:
        got = fn()
    except WireError as e:
        same(e.code, code, 'error code')
        return
    raise Fail(f'accepted, decoded {got!r}; want {code}')


def check_varint(v, ctx):
    buf = bytes.fromhex(v['hex'])
    r = Reader(buf, ctx)
    val, n = r.raw_varint()
    same(r.left(), 0, 'bytes left')
    same(val, int(v['value']), 'value')
    minimal = encode_varint(val)
    same(len(minimal) == n, v['minimal'], 'minimal')
    if v['minimal']:
        same(minimal.hex(), v['hex'], 're-encoding')
    same(E + 'VARINT_UNSAFE' if val > MAX53 else None, v.get('numberError'), 'number API error')
    if val > MAX53:
        expect_error(lambda: Reader(buf, ctx).varint(), v['numberError'])


def check_frame(v, ctx):
    frames = decode_payload(bytes.fromhex(v['hex']), ctx)
    same(frames, [v['frame']], 'decoded frame')
    same(encode_frame(frames[0]).hex(), v['hex'], 're-encoding')


def check_payload(v, ctx):
    frames = decode_payload(bytes.fromhex(v['hex']), ctx)
    same(frames, v['frames'], 'decoded frames')
    same(b''.join(encode_frame(f) for f in frames).hex(), v['hex'], 're-encoding')


def check_invalid_frame(v, ctx):
    expect_error(lambda: decode_payload(bytes.fromhex(v['hex']), ctx), v['error'])


def check_pn_encoding(v, ctx):
    la = None if v['largestAcked'] is None else int(v['largestAcked'], 16)
    pn = int(v['packetNumber'], 16)
    n = pn_length(pn, la)
    same(n, v['packetNumberLength'], 'packet number length')
    same(pn % 2 ** (8 * n), int(v['truncated'], 16), 'truncated')


def check_pn_decoding(v, ctx):
    lr = int(v['largestReceived'], 0)
    got = pn_decode(lr, int(v['truncated'], 16), v['packetNumberLength'])
    same(got, int(v['packetNumber'], 16), 'recovered packet number')


def check_datagram(v, ctx):
    buf = bytes.fromhex(v['hex'])
    kind = classify(buf)
    same(kind, v['kind'], 'classification (§3)')
    f = v['fields']
    if kind in ('stun', 'unknown'):
        same(f, {}, 'fields')
        return
    if kind == 'punch-probe':
        got = parse_probe(buf, ctx)
        same(got, f, 'fields')
        same(encode_probe(got).hex(), v['hex'], 're-encoding')
    elif kind == 'relay':
        got, inner = parse_relay(buf, ctx)
        same(got, f, 'fields')
        ik = classify(inner)  # §4.2: STUN, unknown (and relay) inner datagrams are discarded
        expect(ik in ('short', 'long', 'punch-probe'), f'inner datagram of kind {ik} is discarded')
        {'short': parse_short, 'long': parse_long, 'punch-probe': parse_probe}[ik](inner, ctx)
        same((b'\x12' + bytes.fromhex(got['channelId']) + inner).hex(), v['hex'], 're-encoding')
    elif kind == 'long':
        got = parse_long(buf, ctx)
        same(got, f, 'fields')
        same(encode_long(got).hex(), v['hex'], 're-encoding')
    elif kind == 'short':
        got = parse_short(buf, ctx)
        # §8.1: `payload` is the protected payload, ciphertext and AEAD tag
        got['payload'] = got['_protected'] + got['_tag']
        # sender side (§5.3.1): pnLen is the smallest allowed for (packetNumber, largestAcked)
        pn, la = f['packetNumber'], f['largestAcked']
        same(pn_length(pn, la), got['packetNumberLength'], 'packet number length for largestAcked')
        same(pn % 2 ** (8 * got['packetNumberLength']), got['truncatedPacketNumber'], 'truncation')
        # receiver side: any largest in [largestAcked, pn) recovers pn
        same(pn_decode(la, got['truncatedPacketNumber'], got['packetNumberLength']), pn,
             'recovered packet number')
        got['packetNumber'] = pn
        got['largestAcked'] = la
        del got['_protected'], got['_tag']
        same(got, f, 'fields')
        same(encode_short(got).hex(), v['hex'], 're-encoding')


PARSERS = {'short': ('short', parse_short), 'long': ('long', parse_long),
           'probe': ('punch-probe', parse_probe), 'relay': ('relay', parse_relay)}


def check_invalid_datagram(v, ctx):
    buf = bytes.fromhex(v['hex'])
    kind, parser = PARSERS[v['parser']]
    same(classify(buf), kind, 'classification (§3)')
    expect_error(lambda: parser(buf, ctx), v['error'])


# ---------------------------------------------------------------------------------------------

def run_once(check, vec, ctx):
    try:
        check(vec, ctx)
        return None
    except Fail as e:
        return str(e)
    except WireError as e:
        return f'rejected with {e}'
    except Exception as e:  # a crash is a failure too (§7.2)
        return f'crash: {type(e).__name__}: {e}'


def evaluate(check, vec, fixed):
    """Run under every combination of readings of the defects the vector touches.

    Returns (failures, touched); each failure is (readings that differ from the proposed fix,
    message). Only minimal reading sets are kept: they name the defects that cause the failure.
    """
    if fixed:
        ctx = Ctx({}, True)
        msg = run_once(check, vec, ctx)
        return ([({}, msg)] if msg else []), ctx.touched
    failures, touched, seen, queue = {}, [], set(), [{}]
    while queue:
        choice = queue.pop(0)
        key = tuple(sorted(choice.items()))
        if key in seen:
            continue
        seen.add(key)
        ctx = Ctx(choice, False)
        msg = run_once(check, vec, ctx)
        if msg:
            failures.setdefault(tuple(sorted(ctx.non_fix().items())), msg)
        for d in ctx.touched:
            if d not in touched:
                touched.append(d)
            if d not in choice:
                for reading in DEFECTS[d]['readings']:
                    queue.append({**choice, d: reading})
    minimal = [(dict(k), m) for k, m in failures.items()
               if not any(set(o) < set(k) for o in failures)]
    return minimal, touched


def spec_example_hex():
    """All hex strings of spec/wire.md §8 (wrapped code blocks joined, table cells)."""
    text = open(SPEC, encoding='utf-8').read()
    text = text[text.index('## 8. Examples'):]
    found = set()
    for block in re.findall(r'```\n(.*?)```', text, flags=re.S):
        found.add(''.join(block.split()))
    for cell in re.findall(r'`([0-9a-f]+)`', text):
        found.add(cell)
    return found


def main(argv):
    verbose = '-v' in argv
    fixed = '--with-proposed-fixes' in argv
    frames = json.load(open(FRAMES_JSON, encoding='utf-8'))
    packets = json.load(open(PACKETS_JSON, encoding='utf-8'))
    in_spec = spec_example_hex()
    groups = [
        ('frames.varints', frames['varints'], check_varint),
        ('frames.frames', frames['frames'], check_frame),
        ('frames.payloads', frames['payloads'], check_payload),
        ('frames.invalid', frames['invalid'], check_invalid_frame),
        ('packets.packetNumberEncoding', packets['packetNumberEncoding'], check_pn_encoding),
        ('packets.packetNumberDecoding', packets['packetNumberDecoding'], check_pn_decoding),
        ('packets.datagrams', packets['datagrams'], check_datagram),
        ('packets.invalid', packets['invalid'], check_invalid_datagram),
    ]
    passed = failed = 0
    by_defect = {}
    for gname, vectors, check in groups:
        for i, vec in enumerate(vectors):
            name = vec.get('name') or f'#{i} {vec.get("packetNumber")}'
            failures, touched = evaluate(check, vec, fixed)
            if 'hex' in vec and vec['hex'] not in in_spec:
                failures.append(({}, 'hex not found in spec/wire.md §8 Examples'))
            if failures:
                failed += 1
                culprits = sorted({d for c, _ in failures for d in c}) or ['-']
                for d in culprits:
                    by_defect.setdefault(d, []).append(f'{gname}: {name}')
                print(f'FAIL {gname}: {name}  [spec defects: {", ".join(culprits)}]')
                for choice, msg in failures:
                    where = ', '.join(f'{d}={c}' for d, c in sorted(choice.items()))
                    print(f'     {"under reading " + where if where else "as specified"}: {msg}')
            else:
                passed += 1
                if verbose:
                    extra = f'  (touched {", ".join(touched)})' if touched else ''
                    print(f'ok   {gname}: {name}{extra}')
    if by_defect:
        print()
        print('Failing vectors by spec defect:')
        for d in sorted(by_defect):
            title = DEFECTS[d]['title'] if d in DEFECTS else 'no defect (decoder/vector mismatch)'
            print(f'  {d}: {title}')
            for n in by_defect[d]:
                print(f'      - {n}')
    if fixed:
        print('(mode: --with-proposed-fixes)')
    print(f'{passed} passed, {failed} failed')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
