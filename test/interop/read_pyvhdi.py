#!/usr/bin/python3
"""Reads every layer of a VHD chain with libvhdi (pyvhdi) and prints, per
file, its media size and the sha256 of the whole disk as libvhdi sees it.

usage: read_pyvhdi.py BLOCK_SIZE BASE [CHILD ...]   (files ordered base first)
Output: one JSON object per line: {"path", "size", "sha256"}.
Reads are block-sized and block-aligned (libvhdi 20210425 returns wrong data
for some multi-block reads).
"""
import hashlib
import json
import sys

import pyvhdi


def main() -> None:
    block = int(sys.argv[1])
    paths = sys.argv[2:]
    files = []
    for i, p in enumerate(paths):
        f = pyvhdi.file()
        f.open(p)
        if i > 0:
            f.set_parent(files[i - 1])  # libvhdi ignores locators; link explicitly
        files.append(f)
    for p, f in zip(paths, files):
        size = f.get_media_size()
        h = hashlib.sha256()
        off = 0
        while off < size:
            n = min(block - off % block, size - off)
            data = f.read_buffer_at_offset(n, off)
            if data is None or len(data) != n:
                raise SystemExit(f"{p}: short read at {off} ({0 if data is None else len(data)} of {n})")
            h.update(data)
            off += n
        print(json.dumps({"path": p, "size": size, "sha256": h.hexdigest()}))
    for f in reversed(files):
        f.close()


if __name__ == "__main__":
    main()
