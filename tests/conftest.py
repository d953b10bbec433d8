"""Shared fixtures: a small MNIST-format dataset made by the tests, the real one when present,
an isolated runs directory, and (for browser tests) the real app server plus Chromium."""

from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import ROOT, wait_healthy
from PIL import Image, ImageDraw, ImageFont

from mnist_core import settings  # (python -m pytest: the repository is on the path)

# The tests run torch on the threads the app's server uses (one on a 2-core machine): on a full pool,
# anything else on the machine stalls each operation (settings.torch_threads), and CI runs beside it.
torch.set_num_threads(settings.torch_threads())
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(autouse=True)
def _no_lab_settings_from_the_shell(monkeypatch):
    """A developer's own MNIST_LAB_RAY_ADDRESS or MNIST_LAB_RUNS_PER_DEVICE (the README's) never changes
    what a test runs on: the tests that want them set them."""
    for name in (
        "MNIST_LAB_RAY_ADDRESS",
        "MNIST_LAB_RUNS_PER_DEVICE",
        "MNIST_LAB_RUNS_PER_SESSION",
        "MNIST_UPLOADS_MAX_MB",
    ):
        monkeypatch.delenv(name, raising=False)


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array in the IDX format MNIST uses (magic 0x0000080N, big-endian dims)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">I", 0x0800 | array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.tobytes())


def synthetic_digits(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n 28x28 digits rendered from a font at random size, offset and stroke: learnable, not MNIST."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    images = np.zeros((n, 28, 28), np.uint8)
    for i, d in enumerate(labels):
        img = Image.new("L", (56, 56), 0)
        font = ImageFont.load_default(size=int(rng.integers(30, 44)))
        ImageDraw.Draw(img).text(
            (28 + rng.integers(-4, 5), 28 + rng.integers(-4, 5)),
            str(d),
            fill=255,
            font=font,
            anchor="mm",
            stroke_width=int(rng.integers(1, 3)),
            stroke_fill=255,
        )
        images[i] = np.asarray(img.resize((28, 28), Image.BILINEAR))
    return images, labels


def make_mnist_dir(root: Path, n_train: int = 1200, n_test: int = 300, folder: str = "MNIST") -> Path:
    raw = root / folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for prefix, n, seed in (("train", n_train, 1), ("t10k", n_test, 2)):
        images, labels = synthetic_digits(n, seed)
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
    return root


@pytest.fixture(scope="session")
def small_data_dir(tmp_path_factory) -> Path:
    """A data dir in torchvision's layout holding 1,200 + 300 synthetic digits (MNIST and Fashion)."""
    root = tmp_path_factory.mktemp("small_data")
    make_mnist_dir(root)
    make_mnist_dir(root, folder="FashionMNIST")
    return root


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """The real MNIST ($MNIST_DATA_DIR); tests that need it skip when it is absent."""
    d = os.environ.get("MNIST_DATA_DIR")
    if not d or not (Path(d) / "MNIST" / "raw" / "t10k-images-idx3-ubyte").is_file():
        pytest.skip("real MNIST not found: set MNIST_DATA_DIR to a folder holding MNIST/raw/")
    return Path(d)


@pytest.fixture
def runs_dir(tmp_path, monkeypatch) -> Path:
    """An empty runs directory for this test only ($MNIST_RUNS_DIR)."""
    d = tmp_path / "runs"
    d.mkdir()
    monkeypatch.setenv("MNIST_RUNS_DIR", str(d))
    return d


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AppServer:
    """`streamlit run app.py` (or another script) on a free loopback port, with its own environment."""

    def __init__(self, env: dict, log: Path, script: Path = ROOT / "app.py"):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(log, "w")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                str(script),
                "--server.port",
                str(self.port),
                "--server.address",
                "127.0.0.1",
                "--server.headless",
                "true",
                "--browser.gatherUsageStats",
                "false",
            ],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_healthy(self.url, self.proc, timeout=60, log=Path(log))
        except (AssertionError, RuntimeError):
            self.stop()
            raise

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


@pytest.fixture
def app_server(tmp_path):
    """Factory: app_server(env={...}) starts the real app; all are stopped after the test."""
    servers = []

    def start(env: dict | None = None) -> AppServer:
        server = AppServer(env or {}, tmp_path / f"streamlit-{len(servers)}.log")
        servers.append(server)
        return server

    yield start
    for s in servers:
        s.stop()


@pytest.fixture
def shipped_server(app_server, tmp_path):
    """The real app with the shipped models only (models/, or $MNIST_MODELS_DIR), no dataset and no
    runs; skipped without a trained models/cnn.pt (the Draw, Inside and theme tests read real digits)."""
    models = Path(os.environ.get("MNIST_MODELS_DIR") or ROOT / "models")
    if not (models / "cnn.pt").is_file():
        pytest.skip(f"no trained model at {models / 'cnn.pt'}: reading a drawn digit needs the shipped models")
    return app_server(
        env={
            "MNIST_MODELS_DIR": str(models),
            "MNIST_RUNS_DIR": str(tmp_path / "runs"),
            "MNIST_DATA_DIR": str(tmp_path / "no-data"),
        }
    )


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright; skipped with a reason where it is not installed."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        pytest.skip("Chromium is not installed (apt-get install chromium); browser tests skipped")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=CHROMIUM_FLAGS)
        yield b
        b.close()


# --- hand-drawn digits: pen strokes as a person would draw them (Draw page tests, bench/draw_latency.py) ---
def _arc(cx: float, cy: float, rx: float, ry: float, a0: float, a1: float, n: int = 16) -> list:
    t = np.radians(np.linspace(a0, a1, n + 1))
    return list(zip((cx + rx * np.cos(t)).tolist(), (cy + ry * np.sin(t)).tolist(), strict=True))


# digit -> strokes, each a polyline in a unit box (x right, y down). One stroke each except 4.
DIGIT_STROKES = {
    0: [_arc(0.5, 0.5, 0.28, 0.4, -90, 270, 24)],
    1: [[(0.42, 0.22), (0.55, 0.1), (0.55, 0.9)]],
    2: [_arc(0.5, 0.32, 0.25, 0.22, 200, 380, 12) + [(0.25, 0.88), (0.8, 0.88)]],
    3: [_arc(0.48, 0.3, 0.24, 0.2, 210, 450, 14) + _arc(0.48, 0.69, 0.27, 0.21, 270, 500, 14)],
    4: [[(0.6, 0.1), (0.22, 0.62), (0.82, 0.62)], [(0.63, 0.35), (0.63, 0.92)]],
    5: [[(0.75, 0.12), (0.32, 0.12), (0.28, 0.45)] + _arc(0.5, 0.65, 0.27, 0.24, 220, 500, 16)],
    6: [[(0.68, 0.1)] + _arc(0.5, 0.66, 0.25, 0.24, 200, 560, 22)],
    7: [[(0.22, 0.12), (0.78, 0.12), (0.42, 0.9)]],
    8: [_arc(0.5, 0.29, 0.21, 0.18, 90, 450, 18) + _arc(0.5, 0.7, 0.25, 0.21, -90, 270, 18)],
    9: [_arc(0.5, 0.32, 0.23, 0.2, 0, 360, 18) + [(0.72, 0.35), (0.68, 0.9)]],
}


def stroke_points(digit: int, left: float, top: float, size: float) -> list[list[tuple[float, float]]]:
    """DIGIT_STROKES[digit] placed in the square (left, top, size): pixel coordinates per stroke."""
    return [[(left + x * size, top + y * size) for x, y in s] for s in DIGIT_STROKES[digit]]


def draw_strokes(page, canvas, digit: int, margin: float = 0.15, steps: int = 4) -> None:
    """Draw a digit on a canvas element with the mouse (Playwright): down, moves, up per stroke."""
    box = canvas.bounding_box()
    side = min(box["width"], box["height"]) * (1 - 2 * margin)
    for stroke in stroke_points(digit, box["x"] + box["width"] * margin, box["y"] + box["height"] * margin, side):
        page.mouse.move(*stroke[0])
        page.mouse.down()
        for x, y in stroke[1:]:
            page.mouse.move(x, y, steps=steps)
        page.mouse.up()


def digit_image(
    digit: int, size: int = 280, width: int = 22, ink=(255, 255, 255, 255), paper=(0, 0, 0, 255), mode: str = "RGBA"
) -> Image.Image:
    """The digit's strokes rendered with a round pen, as the canvas draws them (PIL image)."""
    img = Image.new(mode, (size, size), paper)
    draw = ImageDraw.Draw(img)
    for pts in stroke_points(digit, 0.15 * size, 0.15 * size, 0.7 * size):
        draw.line(pts, fill=ink, width=width, joint="curve")
        for x, y in (pts[0], pts[-1]):
            draw.ellipse((x - width / 2, y - width / 2, x + width / 2, y + width / 2), fill=ink)
    return img
