#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Writes a tar to stdout for the hostile-overlay tests: mktar.py KIND DIR,
where DIR holds the victim directory (DIR/victim, with DIR/victim/passwd)
that escaping entries aim at. Made with python3's tarfile (and by hand
where tarfile will not lie)."""
import io
import sys
import tarfile

kind, base = sys.argv[1], sys.argv[2]
victim = base + "/victim"
out = io.BytesIO()


def info(name, type_=tarfile.REGTYPE, size=0, link=""):
    t = tarfile.TarInfo(name)
    t.type, t.size, t.linkname, t.mode, t.mtime = type_, size, link, 0o644, 1600000000
    return t


def add(tar, name, data=b"x", **kw):
    tar.addfile(info(name, size=len(data), **kw), io.BytesIO(data))


def block(data):
    return data + b"\0" * (-len(data) % 512)


if kind in ("larger", "smaller"):
    # the header says one size, the data that follows is another
    t = info("etc/lie", size=10 if kind == "larger" else 5000)
    out.write(t.tobuf(tarfile.USTAR_FORMAT))
    out.write(block(b"A" * (2000 if kind == "larger" else 100)))
    out.write(b"\0" * 1024)
else:
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        if kind == "absolute":
            add(tar, victim + "/passwd")
        elif kind == "dotdot":
            add(tar, "etc/../../victim/passwd")
        elif kind == "symlink-through":
            tar.addfile(info("a", tarfile.SYMTYPE, link=victim))
            add(tar, "a/passwd", b"root::0:0::/:/bin/sh\n")
        elif kind == "symlink-relative":
            tar.addfile(info("d", tarfile.DIRTYPE))
            tar.addfile(info("d/up", tarfile.SYMTYPE, link="../../victim"))
            add(tar, "d/up/passwd")
        elif kind == "hardlink-out":
            tar.addfile(info("h", tarfile.LNKTYPE, link=victim + "/passwd"))
        elif kind == "hardlink-dotdot":
            tar.addfile(info("h", tarfile.LNKTYPE, link="../victim/passwd"))
        elif kind == "hardlink-later":
            tar.addfile(info("early", tarfile.LNKTYPE, link="later"))
            add(tar, "later")
        elif kind == "device":
            add(tar, "etc/ok")
            t = info("dev/sda", tarfile.BLKTYPE)
            t.devmajor, t.devminor = 8, 0
            tar.addfile(t)
        elif kind == "fifo":
            tar.addfile(info("run/fifo", tarfile.FIFOTYPE))
        elif kind == "duplicate":
            add(tar, "etc/hosts", b"one")
            add(tar, "etc/hosts", b"two")
        elif kind == "good":
            tar.addfile(info("etc", tarfile.DIRTYPE))
            add(tar, "etc/one", b"1" * 3000)
            add(tar, "etc/two", b"2" * 3000)
        elif kind == "bomb":
            tar.addfile(info("zeros", size=20 << 20), io.BytesIO(bytes(20 << 20)))
        else:
            sys.exit("unknown kind " + kind)
sys.stdout.buffer.write(out.getvalue())
