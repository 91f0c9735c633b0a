"""What machine something ran on, named the same way by the lesson check and the bench.

Both write the processor and the GPU into files that pages are built from, so one name
for a device gives one row (and one file) per device.
"""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path


def processor() -> str:
    """The processor's model name ('AMD EPYC 7763', 'Apple M2 Max'), else the architecture."""
    fallback = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    try:
        if cpuinfo.is_file():
            names = [
                line.split(":", 1)[1].strip()
                for line in cpuinfo.read_text().splitlines()
                if line.startswith("model name")
            ]
            return names[0] if names else fallback
        if platform.system() == "Darwin":
            brand = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True)
            return brand.stdout.strip() or fallback
    except OSError:
        pass
    return fallback


def device_name(raw: str) -> str:
    """ComfyUI's device string without index and allocator.

    'cuda:0 NVIDIA H100 80GB HBM3 : cudaMallocAsync' -> 'NVIDIA H100 80GB HBM3'.
    """
    name = raw.split(" : ")[0]
    first, _, rest = name.partition(" ")
    return rest if rest and ":" in first else name
