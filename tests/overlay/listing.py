#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Prints one line per entry under ROOT (ROOT itself excluded), sorted:
path, type, permission bits, uid:gid, mtime, then the size and SHA-256 of a
file or the target of a symlink; then the groups of paths that are one
inode (hard links). Two trees with equal listings are equal for an
overlay. --no-dir-times leaves out directories' mtimes (a commit that
renames files into an existing directory changes its mtime)."""
import hashlib
import os
import stat
import sys

dir_times = "--no-dir-times" not in sys.argv[1:]
root = [a for a in sys.argv[1:] if not a.startswith("--")][0]
inodes = {}
lines = []
for dirpath, dirnames, filenames in os.walk(root):
    dirnames.sort()
    for name in sorted(dirnames + filenames):
        p = os.path.join(dirpath, name)
        rel = os.path.relpath(p, root)
        st = os.lstat(p)
        kind = {stat.S_IFDIR: "dir", stat.S_IFREG: "file", stat.S_IFLNK: "link"}.get(stat.S_IFMT(st.st_mode), "other")
        what = ""
        if kind == "file":
            with open(p, "rb") as f:
                what = "%d %s" % (st.st_size, hashlib.sha256(f.read()).hexdigest())
            if st.st_nlink > 1:
                inodes.setdefault((st.st_dev, st.st_ino), []).append(rel)
        elif kind == "link":
            what = "-> " + os.readlink(p)
        mode = "-" if kind == "link" else "%04o" % stat.S_IMODE(st.st_mode)
        mtime = str(int(st.st_mtime)) if kind != "dir" or dir_times else "-"
        lines.append("%s %s %s %d:%d %s %s" % (rel, kind, mode, st.st_uid, st.st_gid, mtime, what))
for line in sorted(lines):
    print(line)
for group in sorted(sorted(g) for g in inodes.values() if len(g) > 1):
    print("same inode: " + " ".join(group))
