"""Draw latency: time from mouse-up to the updated prediction, the Draw page next to a bare page.

    python bench/draw_latency.py [--n 30] [--models-dir DIR] [--chromium PATH]

Starts two servers, `streamlit run app.py` (the Draw page, /Draw) and `streamlit run
bench/bare_canvas_app.py` (the same canvas and one metric, nothing else), opens both in one
headless Chromium and, n times, draws a digit with the mouse on each, alternating which page
goes first, clearing the canvas (its toolbar's bin button) before every drawing. The time is
taken inside the page: from the `mouseup` event to the first animation frame in which the
Prediction metric is in the DOM. The next drawing starts only when the page's script has
finished (the whole Draw page, not only its metric).

Prints, for each page, the median and p95 in ms and how many predictions were right, the
difference (Draw - bare), and where the time goes: mouse-up -> the rerun request leaves the
browser (the canvas waits 200 ms, then encodes its PNG), -> the server's first reply (the
rerun has started), -> the metric is shown (the script up to the metric, and rendering). Then
the server-side cost of each step of reading one new drawing, timed in this process.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from conftest import APP_IDLE, CHROMIUM_FLAGS, DIGIT_STROKES, AppServer, digit_image, draw_strokes  # noqa: E402

ONE_STROKE = [d for d, s in DIGIT_STROKES.items() if len(s) == 1]  # a second stroke would be sent on its own
INSTRUMENT = """(() => {
  const lat = window.__lat = {up: null, shown: null, value: null, sends: [], recvs: []};
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (d) { window.__lat.sends.push(performance.now()); return send.call(this, d); };
  window.WebSocket = class extends window.WebSocket {
    constructor(...a) {
      super(...a);
      this.addEventListener('message', () => window.__lat.recvs.push(performance.now()));
    }
  };
  window.addEventListener('mouseup', () => { window.__lat.up = performance.now(); }, true);
})()"""
ARM = """() => {
  const lat = window.__lat;
  Object.assign(lat, {up: null, shown: null, value: null, sends: [], recvs: []});
  const metric = () => Array.from(document.querySelectorAll('[data-testid="stMetric"]'))
    .find(m => m.querySelector('[data-testid="stMetricLabel"]')?.innerText.trim() === 'Prediction');
  const observer = new MutationObserver(() => {
    const m = metric();
    if (!m || lat.up === null) return;
    observer.disconnect();
    lat.value = m.querySelector('[data-testid="stMetricValue"]').innerText.trim();
    requestAnimationFrame(() => { lat.shown = performance.now(); });
  });
  observer.observe(document.body, {childList: true, subtree: true, characterData: true});
}"""
PROMPT_GONE_METRIC = "[data-testid='stMetric']"


class Target:
    """One page under test in its own browser context."""

    def __init__(self, browser, name: str, url: str):
        self.name, self.rows = name, []
        self.context = browser.new_context(viewport={"width": 1400, "height": 1000})
        self.context.add_init_script(INSTRUMENT)
        self.page = self.context.new_page()
        self.page.goto(url)
        self.canvas = self.page.locator("canvas.upper-canvas").first
        self.canvas.wait_for(timeout=90_000)
        self.page.wait_for_selector(APP_IDLE, timeout=90_000)

    def clear(self) -> None:
        """The canvas's reset button, then wait for the blank prompt and an idle script."""
        if self.page.locator(PROMPT_GONE_METRIC).count():
            self.page.get_by_role("button", name="Reset canvas & history").click()
            self.page.locator(PROMPT_GONE_METRIC).first.wait_for(state="detached", timeout=30_000)
        self.page.wait_for_selector(APP_IDLE, timeout=60_000)

    def measure(self, digit: int, record: bool = True) -> None:
        self.page.bring_to_front()
        self.clear()
        time.sleep(0.2)  # let the browser settle after the clearing rerun
        self.page.evaluate(ARM)
        draw_strokes(self.page, self.canvas, digit)
        self.page.wait_for_function("window.__lat.shown !== null", timeout=30_000)
        lat = self.page.evaluate("window.__lat")
        self.page.wait_for_selector(APP_IDLE, timeout=60_000)  # the rest of the page, before the next drawing
        if not record:
            return
        send = next((t for t in lat["sends"] if t >= lat["up"]), float("nan"))
        recv = next((t for t in lat["recvs"] if t >= send), float("nan"))
        self.rows.append({"digit": digit, "value": lat["value"], "total": lat["shown"] - lat["up"],
                          "to_send": send - lat["up"], "to_reply": recv - send, "to_shown": lat["shown"] - recv})


def stats(values) -> tuple[float, float]:
    a = np.asarray(values, dtype=float)
    return float(np.median(a)), float(np.percentile(a, 95))


def report(targets: list[Target]) -> None:
    print(f"\n{'page':<6} {'n':>3} {'median ms':>10} {'p95 ms':>8} {'right':>6}   breakdown (medians, ms): "
          "mouse-up -> request sent -> first reply -> metric shown")
    for t in targets:
        med, p95 = stats([r["total"] for r in t.rows])
        right = sum(r["value"] == str(r["digit"]) for r in t.rows)
        parts = [float(np.nanmedian([r[k] for r in t.rows])) for k in ("to_send", "to_reply", "to_shown")]
        print(f"{t.name:<6} {len(t.rows):>3} {med:>10.0f} {p95:>8.0f} {right:>3}/{len(t.rows):<3}   "
              f"{parts[0]:.0f} + {parts[1]:.0f} + {parts[2]:.0f}")
    (bm, bp), (dm, dp) = (stats([r["total"] for r in t.rows]) for t in targets)
    print(f"difference (Draw - bare): median {dm - bm:+.0f} ms, p95 {dp - bp:+.0f} ms")


def server_side(n: int) -> None:
    """Each step of reading a new drawing on the Draw page, timed here (same functions, no server)."""
    import io

    from mnist_core import images, inference
    from mnist_core.preprocess import preprocess_steps

    names = inference.list_models()
    preds = {name: inference.load_model(name) for name in names}
    default = inference.default_model_name()
    import lab_ui  # the Draw page's figure builders (no st.* call happens here)

    times: dict[str, list] = {}

    def timed(label, fn):
        t = time.perf_counter()
        out = fn()
        times.setdefault(label, []).append(1000 * (time.perf_counter() - t))
        return out

    for i in range(n):
        buf = io.BytesIO()
        digit_image(ONE_STROKE[i % len(ONE_STROKE)]).save(buf, "PNG")
        png = buf.getvalue()
        pixels = timed("decode canvas PNG", lambda: images.decode(png).pixels)  # noqa: B023
        x = timed("preprocess (crop, scale, centre)", lambda: preprocess_steps(pixels)["centred"])  # noqa: B023
        probs = timed(f"probabilities ({default})", lambda: preds[default].proba_batch(x[None])[0])  # noqa: B023
        timed("probability chart (build + JSON)", lambda: lab_ui.proba_figure(probs).to_json())  # noqa: B023
        scores = timed(f"every model ({len(names)})", lambda: {k: p.proba_batch(x[None])[0] for k, p in preds.items()})  # noqa: B023
        timed("every-model chart (build + JSON)", lambda: lab_ui.models_figure(scores).to_json())  # noqa: B023
        timed(f"saliency ({default})", lambda: preds[default].saliency(x, int(probs.argmax())))  # noqa: B023
    print(f"\nserver-side work per new drawing, in this process (median ms of {n}):")
    for label, values in times.items():
        print(f"  {label:<36} {np.median(values):7.1f}")
    print("  (the prediction is sent after the first three; the rest follows it)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=30, help="drawings per page")
    ap.add_argument("--models-dir", help="checkpoints to serve (default: $MNIST_MODELS_DIR, else models/)")
    ap.add_argument("--chromium", default=shutil.which("chromium") or shutil.which("chromium-browser"))
    args = ap.parse_args()
    if args.models_dir:
        os.environ["MNIST_MODELS_DIR"] = str(Path(args.models_dir).resolve())
    from mnist_core import inference

    if inference.default_model_name() is None:
        print(f"no models in {inference.shipped_dir()} (or runs): nothing to draw with", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="draw_latency_"))
    env = {"MNIST_RUNS_DIR": os.environ.get("MNIST_RUNS_DIR", str(tmp / "runs"))}
    servers = [AppServer(env, tmp / "bare.log", ROOT / "bench" / "bare_canvas_app.py"), AppServer(env, tmp / "app.log")]
    print(f"models: {', '.join(inference.list_models())}; default {inference.default_model_name()}; "
          f"{args.n} drawings per page of the digits {ONE_STROKE}, alternating pages; logs in {tmp}")
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, args=CHROMIUM_FLAGS)
            targets = [Target(browser, "bare", servers[0].url), Target(browser, "Draw", f"{servers[1].url}/Draw")]
            for t in targets:  # warm-up: first drawing loads models, imports plotly, ...
                t.measure(ONE_STROKE[0], record=False)
            for i in range(args.n):
                order = targets if i % 2 == 0 else targets[::-1]
                for t in order:
                    t.measure(ONE_STROKE[i % len(ONE_STROKE)])
                print(".", end="", flush=True)
            browser.close()
        report(targets)
    finally:
        for server in servers:
            server.stop()
    server_side(args.n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
