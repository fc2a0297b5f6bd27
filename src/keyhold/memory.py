"""glibc malloc settings for a process that moves object bodies in 1-2 MiB blocks.

By default glibc serves allocations above 128 KiB with fresh mmap()s, raises that threshold only as such blocks are
freed, and gives heap memory back to the kernel once 256 KiB at its top are free. A server that allocates and
frees a few megabyte-sized buffers per block (the ciphertext read from disk, the plaintext decrypted from it)
then touches fresh pages every time: the page faults cost more than the AES-GCM itself (measured: 2 GB/s instead of
8 GB/s decrypting 2 MiB blocks). Serving such blocks from the heap, and keeping up to 64 MiB of freed heap instead
of trimming it, makes them reuse warm memory. The memory kept is bounded by the blocks in flight.
"""

import ctypes
import ctypes.util
import logging

log = logging.getLogger("keyhold")

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20  # glibc's maximum on 64-bit systems
TRIM_THRESHOLD = 64 << 20


def tune_malloc() -> bool:
    """Apply the settings if this is glibc; False (and nothing changed) elsewhere."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    applied = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    if not applied:
        log.warning("could not tune malloc; large object transfers will be slower")
    return applied
