#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Byte surgery on a sealed overlay, for the tampering tests:
  tamper.py cut FILE N OUT              the first N bytes
  tamper.py flip FILE OFFSET OUT        one bit of byte OFFSET (negative: from the end)
  tamper.py swap FILE I J OUT           chunk records I and J exchanged
  tamper.py graft FILE OTHER I OUT      chunk record I taken from OTHER
  tamper.py append FILE TEXT OUT        TEXT after the last chunk
Chunk records are found from the header (header_len at offset 12,
chunk_size at 48, both big-endian); I and J must be full-size chunks."""
import struct
import sys


def records(data):
    header_len = struct.unpack(">I", data[12:16])[0]
    chunk = struct.unpack(">I", data[48:52])[0]
    return header_len, chunk + 16


op, path = sys.argv[1], sys.argv[2]
data = bytearray(open(path, "rb").read())
if op == "cut":
    data = data[: int(sys.argv[3])]
elif op == "flip":
    data[int(sys.argv[3])] ^= 0x04
elif op in ("swap", "graft"):
    h, rec = records(data)
    i = int(sys.argv[4])
    a = slice(h + i * rec, h + (i + 1) * rec)
    if op == "swap":
        j = int(sys.argv[3])
        b = slice(h + j * rec, h + (j + 1) * rec)
        data[a], data[b] = data[b], data[a]
    else:
        other = open(sys.argv[3], "rb").read()
        data[a] = other[h + i * rec : h + (i + 1) * rec]
elif op == "append":
    data += sys.argv[3].encode()
else:
    sys.exit("unknown operation " + op)
open(sys.argv[-1], "wb").write(data)
