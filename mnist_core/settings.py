"""Every environment variable the lab reads: its name, default, range and meaning, in one place.

Each is read when a function here is called, never at import, so a test or an operator that sets one
before the next call is obeyed. The README's settings table is made from `SETTINGS` (a test checks
that they agree). Code elsewhere never reads `os.environ` for these: it calls the function here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
SHIPPED_DIR = PROJECT / "models"  # the shipped checkpoints, as the repository holds them


@dataclass(frozen=True)
class Setting:
    name: str
    default: str  # in words, as the README's table shows it
    accepts: str  # what a value may be; anything else is ignored (the default holds)
    meaning: str


DEFAULT_SESSION_RUNS = 12  # room for "Train every architecture" (9) and a few more
DEFAULT_UPLOADS_MB = 256
DEFAULT_RUNS_PER_DEVICE = 1
DEFAULT_SERVER_RUNS = 60  # a class of 30, two runs each
DEFAULT_VISITOR_UPLOADS_MB = 32

SETTINGS = (
    Setting(
        "MNIST_DATA_DIR",
        "`./data`",
        "a folder",
        "Where MNIST (and FashionMNIST, UNIPEN) are read from, "
        "in torchvision's layout (`DIR/MNIST/raw/`); `--data-dir` wins over it.",
    ),
    Setting("MNIST_MODELS_DIR", "`models/`", "a folder", "The shipped checkpoints the app offers."),
    Setting("MNIST_RUNS_DIR", "`./runs`", "a folder", "Where a user's own runs, uploads and kept drawings are saved."),
    Setting(
        "MNIST_CACHE_DIR",
        "see meaning",
        "a folder",
        "The parent of the caches: `compare/` (the "
        "models' measurements; default inside the runs folder) and `pen/` (rendered pen digits; "
        "default `~/.cache/mnist_lab`). Deleting it only costs recomputation.",
    ),
    Setting(
        "MNIST_UPLOADS_MAX_MB",
        str(DEFAULT_UPLOADS_MB),
        "a positive number",
        "All uploaded checkpoints kept together, in MB (each one may be 16 MB).",
    ),
    Setting(
        "MNIST_LAB_RUNS_PER_SESSION",
        str(DEFAULT_SESSION_RUNS),
        "a positive whole number",
        "Runs one visitor (a browser) may have queued or running at once.",
    ),
    Setting(
        "MNIST_UPLOADS_PER_VISITOR_MB",
        str(DEFAULT_VISITOR_UPLOADS_MB),
        "a positive number",
        "One visitor's share of `MNIST_UPLOADS_MAX_MB`, in MB.",
    ),
    Setting(
        "MNIST_LAB_RUNS_PER_SERVER",
        str(DEFAULT_SERVER_RUNS),
        "a positive whole number",
        "Runs queued or running on this server at once, every visitor's together; each device's queue "
        "takes them in turn by visitor.",
    ),
    Setting(
        "MNIST_LAB_OPERATOR_KEY",
        "unset: no operator in the browser",
        "any text (a password)",
        "A visitor who enters it on the Home page may rename, delete or stop anyone's runs and collections.",
    ),
    Setting(
        "MNIST_LAB_RUNS_PER_DEVICE",
        str(DEFAULT_RUNS_PER_DEVICE),
        "a positive whole number",
        "Runs that train at once on each device of this server (each takes `MNIST_LAB_THREADS` cores).",
    ),
    Setting(
        "MNIST_LAB_THREADS",
        "half the cores",
        "a positive whole number",
        "PyTorch's threads in the server, the command line and the benches.",
    ),
    Setting(
        "MNIST_LAB_RAY_ADDRESS",
        "unset: train here",
        "`auto`, `local`, `ray://HOST:PORT`",
        "Train on a Ray cluster instead of this server's own threads.",
    ),
    Setting(
        "MNIST_LAB_SCREENSHOTS",
        "unset",
        "`1`",
        "The browser tests also save the README's screenshots to `docs/screenshots/`.",
    ),
)
NAMES = tuple(s.name for s in SETTINGS)


def _text(name: str) -> str:
    return os.environ.get(name, "").strip()


def _count(name: str, default: int) -> int:
    """A positive whole number from `name`, else `default` (unset, or anything else)."""
    try:
        value = int(_text(name))
    except ValueError:
        return default
    return value if value > 0 else default


def data_dir(explicit: str | os.PathLike | None = None) -> Path:
    """`--data-dir`, else $MNIST_DATA_DIR, else ./data (DESIGN.md's data location)."""
    return Path(explicit or _text("MNIST_DATA_DIR") or "data").expanduser()


def models_dir(explicit: str | os.PathLike | None = None) -> Path:
    """The shipped checkpoints: `explicit`, else $MNIST_MODELS_DIR, else the project's models/."""
    return Path(explicit or _text("MNIST_MODELS_DIR") or PROJECT / "models").expanduser()


def runs_dir(explicit: str | os.PathLike | None = None) -> Path:
    """Where a user's own runs are saved: `explicit`, else $MNIST_RUNS_DIR, else ./runs (never models/)."""
    return Path(explicit or _text("MNIST_RUNS_DIR") or "runs").expanduser()


def cache_dir(kind: str) -> Path:
    """One cache's folder: $MNIST_CACHE_DIR/`kind`; unset, the measurements ("compare") sit in the runs
    folder's .cache (always writable where runs are) and everything else in ~/.cache/mnist_lab."""
    root = _text("MNIST_CACHE_DIR")
    if root:
        return Path(root).expanduser() / kind
    if kind == "compare":
        return runs_dir() / ".cache" / kind
    return Path.home() / ".cache" / "mnist_lab" / kind


def _megabytes(name: str, default: float) -> int:
    """Bytes from a positive number of megabytes in `name`, else `default` megabytes."""
    try:
        mb = float(_text(name) or default)
    except ValueError:
        mb = default
    return int((mb if mb > 0 else default) * 2**20)


def uploads_max_bytes() -> int:
    """All uploaded checkpoints together: $MNIST_UPLOADS_MAX_MB megabytes, else 256."""
    return _megabytes("MNIST_UPLOADS_MAX_MB", DEFAULT_UPLOADS_MB)


def runs_per_session() -> int:
    """How many runs one session may have queued or running at once (a teacher sets it for a class)."""
    return _count("MNIST_LAB_RUNS_PER_SESSION", DEFAULT_SESSION_RUNS)


def runs_per_server() -> int:
    """How many runs may be queued or running on this server at once, every visitor's together."""
    return _count("MNIST_LAB_RUNS_PER_SERVER", DEFAULT_SERVER_RUNS)


def visitor_uploads_max_bytes() -> int:
    """One visitor's share of the uploads kept: $MNIST_UPLOADS_PER_VISITOR_MB megabytes, else 32 (never
    more than uploads_max_bytes())."""
    return min(_megabytes("MNIST_UPLOADS_PER_VISITOR_MB", DEFAULT_VISITOR_UPLOADS_MB), uploads_max_bytes())


def operator_key() -> str:
    """The operator's key ("" when none is set: then no browser session is the operator)."""
    return _text("MNIST_LAB_OPERATOR_KEY")


def runs_per_device() -> int:
    """How many runs train at once on one device of this server."""
    return _count("MNIST_LAB_RUNS_PER_DEVICE", DEFAULT_RUNS_PER_DEVICE)


def torch_threads(cores: int | None = None) -> int:
    """Torch's intra-op threads for the app's server and for the benches that time what it does:
    $MNIST_LAB_THREADS, else half the cores (one on a 2-core laptop). The server trains and reads every
    session's drawings in one process, beside the browser and whatever else the machine runs; when all
    cores are in torch's pool, a core taken by anything else stalls each operation at the pool's
    barrier. Measured on a 2-core machine with other work on it (load 3-4): a cnn training step 500 ms
    on 2 threads against 20 ms on one; one drawing's reading 136 ms against 0.9 ms."""
    return _count("MNIST_LAB_THREADS", max(1, (cores or os.cpu_count() or 1) // 2))


def ray_address(explicit: str | None = None) -> str:
    """The Ray cluster runs train on ("" for this server's own threads)."""
    return (explicit or _text("MNIST_LAB_RAY_ADDRESS")).strip()


def screenshots() -> bool:
    """Whether the browser tests also save the README's screenshots."""
    return _text("MNIST_LAB_SCREENSHOTS") == "1"


def for_workers() -> dict[str, str]:
    """The settings a worker process elsewhere (a Ray worker) needs to find the same data and folders:
    every one set here, less the Ray address itself."""
    return {
        n: os.environ[n]
        for n in NAMES
        if n in os.environ and n not in ("MNIST_LAB_RAY_ADDRESS", "MNIST_LAB_OPERATOR_KEY")
    }


def operator_malloc_threshold() -> bool:
    """Whether the operator set glibc's own MALLOC_MMAP_THRESHOLD_ (then the app leaves it alone)."""
    return bool(_text("MALLOC_MMAP_THRESHOLD_"))
