"""Lending-risk pipeline: DVC stages, the params schema and the `mlops` CLI."""

import os

# How numpy and pyarrow take memory from Linux, read as they start: set here, before either is imported, so every
# process of ours (the command, its stages, the stage server) has it; a value in the environment is kept. By
# default both back large allocations with transparent huge pages (numpy asks for them on every large array,
# pyarrow's own pool, mimalloc, gets them too), and where a huge-page fault is dear, as on a virtual machine, that
# costs more than it saves: measured here, 5 to 15 ms of kernel time per 2 MB page, and a full run at a million
# loans took 24.9 s against 14.5 s with small pages and the system allocator (the one numpy and pandas use).
MEMORY_DEFAULTS = {"NUMPY_MADVISE_HUGEPAGE": "0", "ARROW_DEFAULT_MEMORY_POOL": "system"}
for name, value in MEMORY_DEFAULTS.items():
    os.environ.setdefault(name, value)
