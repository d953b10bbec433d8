"""Where training runs: the devices torch can use here, in words, and how busy this machine is."""

from __future__ import annotations

import os

import torch

from .catalog import DEVICES

NAMES = DEVICES


def _mps() -> bool:
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def resolve_device(name: str = "auto") -> torch.device:
    """A device name ("auto" picks CUDA, then Apple's MPS, then the CPU); ValueError for one not here."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if _mps() else torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but no CUDA GPU is available")
    if name == "mps" and not _mps():
        raise ValueError("device 'mps' was asked for but Apple's MPS is not available")
    return torch.device(name)


def describe_device(name: str = "auto") -> str:
    """What `name` trains on here, in words: "CPU", "GPU (NVIDIA H100 ...)" or "Apple GPU (MPS)"."""
    dev = resolve_device(name)
    if dev.type == "cuda":
        return f"GPU ({torch.cuda.get_device_name(dev)})"
    return "Apple GPU (MPS)" if dev.type == "mps" else "CPU"


def available() -> list[str]:
    """The device names usable on this machine ("auto" first)."""
    found = ["auto", "cpu"]
    for name in ("cuda", "mps"):
        try:
            resolve_device(name)
            found.append(name)
        except ValueError:
            pass
    return found


def machine_load(epochs: list[dict] | None = None) -> dict:
    """How busy this machine is now: the 1-minute load average (None where the platform has none)
    and the CPUs this process may use. Saved with a run, so a time measured on a busy machine says so:
    with the run's epoch records (`epochs`, each with the load at its end), also the highest load seen
    through the run (load_1min_max): the last minute's alone misses other work in a long run's first epochs."""
    try:
        load = round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):  # Windows has no load average
        load = None
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cpus = os.cpu_count()
    out = {"load_1min": load, "cpu_count": cpus}
    if epochs is not None:
        seen = [x for x in [*(e.get("load_1min") for e in epochs), load] if x is not None]
        out["load_1min_max"] = max(seen, default=None)
    return out
