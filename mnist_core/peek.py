"""What a checkpoint records about its network (architecture and builder arguments), read without torch,
so `python -m mnist_core archs` can say what the shipped models are before torch is imported.

A checkpoint (mnist_core.checkpoints) is a zip holding one pickle of plain data whose tensors refer to the
zip's other entries. Only that pickle is read (bounded in size before it is inflated), with an unpickler
that builds nothing: torch's tensor-rebuilding function and storage types become placeholders, the
weights' references stay unread, and every other global is refused. Whatever is unexpected gives None;
checkpoints.read remains the one full check of a file.
"""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path

from . import catalog

FORMAT = "mnist-lab-checkpoint"
MAX_BYTES = 32 * 2**20  # a file on disk; the largest model here is under 3 MB
MAX_PICKLE = 4 * 2**20  # the metadata's pickle, inflated (a long run's history is ~1 MB)


def _placeholder(*args) -> None:
    """Stands for a tensor (torch._utils._rebuild_tensor_v2): the weights are not read here."""


class _Storage:
    """Stands for a storage type (torch.FloatStorage, ...)."""


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _placeholder
        if module == "torch" and name.endswith("Storage"):
            return _Storage
        raise pickle.UnpicklingError(f"refused global {module}.{name}")

    def persistent_load(self, pid) -> None:
        return None


def recorded(path: str | os.PathLike) -> dict | None:
    """{"arch": name, "arch_args": builder arguments} as the checkpoint at `path` records them (both
    checked against the catalog), or None when it cannot be read this way."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_BYTES:
            return None
        with zipfile.ZipFile(path) as z:
            entry = next((e for e in z.infolist() if e.filename.endswith("/data.pkl")), None)
            if entry is None or entry.file_size > MAX_PICKLE:
                return None
            payload = _Unpickler(io.BytesIO(z.read(entry))).load()
        if not isinstance(payload, dict) or payload.get("format") != FORMAT:
            return None
        arch, args = payload.get("arch"), payload.get("arch_args") or {}
        if not isinstance(arch, str) or arch not in catalog.ARCHS or not isinstance(args, dict):
            return None
        return {"arch": arch, "arch_args": catalog.checked_args(arch, args)}
    except Exception:  # unreadable, damaged or hostile (a pickle fails in many ways): nothing to describe
        return None
