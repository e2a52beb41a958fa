"""Mapped snapshot files backed by 2 MB pages where the kernel can (Linux).

Why: a graph walk reads ~20 000 scattered vectors of the mapped graph, and with 4 KB
pages nearly each one is also a TLB miss, which a virtual machine pays twice (the
guest's page tables, then the host's). At 1M photos on the project's VM the same walk
took 4.3-4.5 ms with the graph mapped by 2 MB pages against 5.3-5.7 ms by 4 KB ones
(docs/benchmarks.md, seventeenth session).

The kernel maps a file by huge pages only where its page cache holds huge folios
(XFS since Linux 5.18, ext4 since 6.16). A fresh build's pages are cached as written,
mostly huge; but pages the kernel evicts (memory pressure) are read back in at the
size the faulting mapping asks for: 4 KB for a search's scattered reads, unless the
mapping is marked `MADV_HUGEPAGE`. So every process marks its mappings before
searching; where the kernel has no transparent huge pages, nothing changes.
"""

import ctypes
import logging
import mmap
import os
from pathlib import Path

logger = logging.getLogger(__name__)


def prefer_huge_pages(paths) -> int:
    """Mark this process's mappings of `paths` for huge pages, before a search touches
    them (a page read in small stays small; FAISS has read the graph's neighbour lists
    as it opened the file, so those stay as they are); returns the bytes marked."""
    advice = getattr(mmap, "MADV_HUGEPAGE", None)  # Linux only
    wanted = {os.path.realpath(path) for path in paths}
    ranges = [(start, end) for start, end, path in mappings() if path in wanted]
    if advice is None or not ranges:
        logger.debug("no mapping of %s to mark for huge pages", sorted(wanted))
        return 0
    madvise = ctypes.CDLL(None, use_errno=True).madvise
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    marked = 0
    for start, end in ranges:
        if madvise(start, end - start, advice) == 0:
            marked += end - start
        else:  # no transparent huge pages in this kernel, or unmapped since read
            logger.debug("madvise(MADV_HUGEPAGE): %s", os.strerror(ctypes.get_errno()))
    return marked


def mappings() -> list[tuple[int, int, str]]:
    """(start, end, file) of this process's file mappings (Linux's /proc/self/maps)."""
    try:
        lines = Path("/proc/self/maps").read_text().splitlines()
    except OSError:  # not Linux
        return []
    found = []
    for line in lines:
        fields = line.split(maxsplit=5)
        if len(fields) == 6 and fields[5].startswith("/"):
            start, end = (int(address, 16) for address in fields[0].split("-"))
            found.append((start, end, fields[5]))
    return found


def smaps(path) -> dict:
    """This process's mappings of `path` as Linux's /proc/self/smaps describes them: each
    size in kB summed over them ("Rss", "FilePmdMapped": the part on 2 MB pages, ...)
    and their "VmFlags" ("hg": marked `MADV_HUGEPAGE`); empty when not mapped."""
    wanted, found, current = os.path.realpath(path), {}, False
    try:
        lines = Path("/proc/self/smaps").read_text().splitlines()
    except OSError:  # not Linux
        return found
    for line in lines:
        fields = line.split(maxsplit=5)
        if "-" in fields[0] and ":" not in fields[0]:  # a mapping's first line
            current = len(fields) == 6 and fields[5] == wanted
        elif current and fields[0] == "VmFlags:":
            found.setdefault("VmFlags", set()).update(line.split()[1:])
        elif current and len(fields) == 3 and fields[2] == "kB":
            found[fields[0][:-1]] = found.get(fields[0][:-1], 0) + int(fields[1])
    return found
