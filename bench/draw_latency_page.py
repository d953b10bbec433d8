"""The browser side of bench/draw_latency.py: a pen digit drawn on a page's canvas at a person's pace,
and the page watched from inside (its WebSocket messages, and on every frame the Prediction metric or the
prompt it shows), one page in its own browser context (Target)."""

from __future__ import annotations

import base64
import time

import numpy as np
from helpers import APP_IDLE, open_canvas

STROKE_MS = (250, 600)  # a stroke's duration, by its length on the canvas
PAUSE_MS = (250, 450)  # pen up between strokes
DIGIT_SIDE = 0.62  # the digit's longer side, as a fraction of the canvas
# Every message from the server is a ForwardMsg (streamlit/proto/ForwardMsg.proto): its type is the first
# top-level field after hash (1) and metadata (2). Each script run starts with a new_session (4) and sends
# its elements as deltas (5); script_finished (6) ends it.
NEW_SESSION, DELTA, SCRIPT_FINISHED = 4, 5, 6
# The page watched from inside: the messages (arrival time, type, whether a delta is the Prediction metric),
# and, on every animation frame while armed, the Prediction metric on screen: its value, whether Streamlit
# shows it as stale, and the script run that rendered it (the element's node in React's props: the
# frontend's own record, which the DOM does not show); without a metric, whether the prompt ("Draw a
# digit...") is on screen, not stale. Only changes are kept.
INSTRUMENT = """(() => {
  const lat = window.__lat = {armed: false, ups: [], sends: [], msgs: [], frames: []};
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (d) { window.__lat.sends.push(performance.now()); return send.call(this, d); };
  const enc = new TextEncoder();
  const find = (a, s) => {
    const n = enc.encode(s);
    outer: for (let i = 0; i <= a.length - n.length; i++) {
      for (let j = 0; j < n.length; j++) if (a[i + j] !== n[j]) continue outer;
      return true;
    }
    return false;
  };
  const varint = (a, i) => {
    let v = 0, s = 1, b;
    do { b = a[i++]; v += (b & 0x7f) * s; s *= 128; } while (b & 0x80 && i < a.length);
    return [v, i];
  };
  const kind = (a) => {  // the ForwardMsg's type: its first top-level field past hash and metadata
    let i = 0;
    while (i < a.length) {
      let key, n;
      [key, i] = varint(a, i);
      const field = Math.floor(key / 8), wire = key % 8;
      if (field > 2) return field;
      if (wire === 2) { [n, i] = varint(a, i); i += n; } else if (wire === 0) [, i] = varint(a, i); else return null;
    }
    return null;
  };
  const metric = () => Array.from(document.querySelectorAll('[data-testid="stMetric"]'))
    .find(m => m.querySelector('[data-testid="stMetricLabel"]')?.innerText.trim() === 'Prediction');
  const value = () => {
    const m = metric();
    return m ? m.querySelector('[data-testid="stMetricValue"]').innerText.trim() : null;
  };
  const runOf = (el) => {  // the script run whose delta React rendered into this element
    const k = Object.keys(el).find(k => k.startsWith('__reactFiber$'));
    for (let f = k && el[k]; f; f = f.return) {
      const node = f.memoizedProps && f.memoizedProps.node;
      if (node && node.scriptRunId !== undefined) return node.scriptRunId;
    }
    return '?';
  };
  const stale = (el) => el.closest('[data-stale]')?.getAttribute('data-stale') === 'true';
  const prompt = () => Array.from(document.querySelectorAll('[data-testid="stAlert"]'))
    .some(a => a.innerText.includes('Draw a digit') && !stale(a));
  const frame = () => {
    if (lat.armed) {
      const m = metric();
      const now = m ? [value(), runOf(m), stale(m), false] : [null, null, false, prompt()];
      const last = lat.frames[lat.frames.length - 1];
      if (!last || last.value !== now[0] || last.run !== now[1] || last.stale !== now[2] || last.prompt !== now[3])
        lat.frames.push({t: performance.now(), value: now[0], run: now[1], stale: now[2], prompt: now[3]});
    }
    requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
  const seen = (msg, buf) => {
    const a = new Uint8Array(buf);
    msg.kind = kind(a);
    // the metric's delta: its label, and not the Every-model table (which has a Prediction column too)
    msg.prediction = msg.kind === __DELTA__ && find(a, 'Prediction') && !find(a, 'Confidence');
  };
  window.WebSocket = class extends window.WebSocket {
    constructor(...a) {
      super(...a);
      this.addEventListener('message', (e) => {
        const msg = {t: performance.now(), kind: null, prediction: false};
        window.__lat.msgs.push(msg);  // in arrival order, whatever the data's type
        if (e.data instanceof ArrayBuffer) seen(msg, e.data);
        else if (e.data instanceof Blob) e.data.arrayBuffer().then(b => seen(msg, b));
      });
    }
  };
  window.addEventListener('mouseup', () => { window.__lat.ups.push(performance.now()); }, true);
})()""".replace("__DELTA__", str(DELTA))
RESET = "() => Object.assign(window.__lat, {armed: true, ups: [], sends: [], msgs: [], frames: []})"
# Done: the final stroke was sent, a run started after that send, the page is idle (the browser marks a
# rerun it asked for until the server starts it), and the last run to start has sent its Prediction, or
# ended without one (a drawing read as blank).
SETTLED = (
    """up => {
  const l = window.__lat, s = l.sends.find(t => t >= up);
  const runs = l.msgs.filter(m => m.kind === __NEW__ && m.t >= s);
  if (s === undefined || !runs.length || document.querySelector("__IDLE__") === null) return false;
  const last = runs[runs.length - 1];
  return l.msgs.some(m => m.t >= last.t && (m.prediction || m.kind === __FINISHED__));
}""".replace("__NEW__", str(NEW_SESSION))
    .replace("__FINISHED__", str(SCRIPT_FINISHED))
    .replace("__IDLE__", APP_IDLE)
)
METRIC = "[data-testid='stMetric']"


def canvas_strokes(digit, box: dict) -> list[np.ndarray]:
    """The digit's strokes in page pixels: its longer side DIGIT_SIDE of the canvas, centred."""
    pts = np.concatenate(digit.strokes)
    lo, hi = pts.min(0), pts.max(0)
    side = box["width"] * DIGIT_SIDE
    scale = side / max(float(max(hi - lo)), 1e-6)
    centre = np.array([box["x"] + box["width"] / 2, box["y"] + box["height"] / 2])
    return [(s - (lo + hi) / 2) * scale + centre for s in digit.strokes]


def draw_like_a_person(page, canvas, digit, rng) -> None:
    """Each stroke along the pen's own points in a few hundred ms, a pause between strokes."""
    strokes = canvas_strokes(digit, canvas.bounding_box())
    for k, s in enumerate(strokes):
        if k:
            time.sleep(rng.uniform(*PAUSE_MS) / 1000)
        length = float(np.linalg.norm(np.diff(s, axis=0), axis=1).sum()) if len(s) > 1 else 0.0
        duration = np.clip(STROKE_MS[0] + length, *STROKE_MS) / 1000  # about 1 ms per pixel of ink
        points = s[:: max(1, len(s) // 40)]  # at most about 40 moves: a mouse's event rate
        page.mouse.move(*points[0])
        page.mouse.down()
        for p in points[1:]:
            time.sleep(duration / max(1, len(points) - 1))
            page.mouse.move(*p)
        page.mouse.up()


class Target:
    """One page under test in its own browser context (one session; a reload starts a new one)."""

    def __init__(self, browser, name: str, url: str, edits: bool = False):
        self.name, self.url, self.rows = name, url, []
        self.edits = [] if edits else None  # the page's Undo and Clear, timed (the Draw page's)
        self.context = browser.new_context(viewport={"width": 1400, "height": 1000})
        self.context.add_init_script(INSTRUMENT)
        self.page = self.context.new_page()
        self.load()

    def load(self) -> None:
        self.canvas = open_canvas(self.page, self.url, timeout=120)

    def clear(self) -> None:
        """The page's Clear (the bare page: its canvas's bin button), then wait for the blank prompt and an
        idle script."""
        if self.page.locator(METRIC).count():
            self.page.get_by_role(
                "button", name="✕ Clear" if self.edits is not None else "Reset canvas & history"
            ).click()
            self.page.locator(METRIC).first.wait_for(state="detached", timeout=60_000)
        self.page.wait_for_selector(APP_IDLE, timeout=60_000)

    def final_drawing(self) -> bytes:
        url = self.page.locator("canvas.dc-canvas.lower-canvas").first.evaluate("c => c.toDataURL('image/png')")
        return base64.b64decode(url.split(",", 1)[1])

    def measure(self, digit, fresh: bool, expect, rng, record: bool = True) -> None:
        self.page.bring_to_front()
        self.load() if fresh else self.clear()
        time.sleep(0.3)  # a person looks at the canvas before drawing
        self.page.evaluate(RESET)
        draw_like_a_person(self.page, self.canvas, digit, rng)
        wall = time.time()
        up = self.page.evaluate("window.__lat.ups[window.__lat.ups.length - 1]")
        self.page.wait_for_function(SETTLED, arg=up, timeout=60_000)
        time.sleep(0.3)  # a rerun the canvas may still send; and a few frames for the last one to show
        self.page.wait_for_function(SETTLED, arg=up, timeout=60_000)
        lat = self.page.evaluate("window.__lat.armed = false, window.__lat")
        if not record:
            return
        self.record(digit, fresh, expect, wall, up, lat)
        if self.edits is not None:
            self.edit("↶ Undo", expect)
            if len(digit.strokes) > 1:
                self.edit("✕ Clear", expect)

    def edit(self, button: str, expect) -> None:
        """Press the page's Undo or Clear: the time from the click to the first frame showing the edited
        drawing's reading (a script run started after the click: its Prediction, not stale), or the prompt."""
        time.sleep(0.3)  # a person looks at the reading before taking a stroke back
        self.page.evaluate(RESET)
        self.page.wait_for_function("window.__lat.frames.length > 0")  # what the page shows before the click
        self.page.get_by_role("button", name=button).click()
        up = self.page.evaluate("window.__lat.ups[window.__lat.ups.length - 1]")
        self.page.wait_for_function(SETTLED, arg=up, timeout=60_000)
        time.sleep(0.5)  # the canvas redraws the edited drawing and sends it back: its run too
        self.page.wait_for_function(SETTLED, arg=up, timeout=60_000)
        lat = self.page.evaluate("window.__lat.armed = false, window.__lat")
        want = expect(self.final_drawing())  # None: an empty canvas, the prompt
        before, final = lat["frames"][0]["run"], lat["frames"][-1]
        shown = next(
            (
                f
                for f in lat["frames"]
                if f["t"] >= up
                and (f["prompt"] if want is None else f["value"] == want and not f["stale"] and f["run"] != before)
            ),
            None,
        )
        self.edits.append(
            {
                "edit": button.split()[-1],
                "want": want,
                "final": final["value"],
                "ms": shown["t"] - up if shown else float("nan"),
                # where the time went: the click's run starting and ending, and how many runs (the canvas's
                # echo of the edited drawing starts one more)
                "run_ms": next((m["t"] - up for m in lat["msgs"] if m["kind"] == NEW_SESSION and m["t"] >= up), None),
                "end_ms": next(
                    (m["t"] - up for m in lat["msgs"] if m["kind"] == SCRIPT_FINISHED and m["t"] >= up), None
                ),
                "runs": sum(m["kind"] == NEW_SESSION and m["t"] >= up for m in lat["msgs"]),
                "stale": shown is None or final["value"] != want or (want is None and not final["prompt"]),
            }
        )

    def record(self, digit, fresh: bool, expect, wall: float, up: float, lat: dict) -> None:
        send = next(t for t in lat["sends"] if t >= up)
        final_run = [m["t"] for m in lat["msgs"] if m["kind"] == NEW_SESSION and m["t"] >= send][-1]
        delta = next((m["t"] for m in lat["msgs"] if m["prediction"] and m["t"] >= final_run), None)
        frames = [f for f in lat["frames"] if f["t"] >= up]
        # the page ends on the last run's elements: that run read the final drawing (it started after its send)
        final = lat["frames"][-1] if lat["frames"] else {"value": None, "run": None}
        shown = (
            next((f for f in frames if f["value"] is not None and f["run"] == final["run"] and not f["stale"]), None)
            if delta is not None and final["value"] is not None
            else None
        )
        want = expect(self.final_drawing())
        self.rows.append(
            {
                "label": digit.label,
                "strokes": len(digit.strokes),
                "fresh": fresh,
                "want": want,
                "final": final["value"],
                "wall": wall,
                "ms": shown["t"] - up if shown else float("nan"),
                # where the time went: the canvas sending the stroke, the server starting the run that reads it
                # and sending its Prediction, the browser drawing it
                "send_ms": send - up,
                "run_ms": final_run - up,
                "delta_ms": delta - up if delta else float("nan"),
                "runs": sum(m["kind"] == NEW_SESSION and m["t"] >= up for m in lat["msgs"]),
                # an earlier stroke's reading, from a run still in flight, shown after the last stroke
                "flashes": [
                    f["value"]
                    for f in frames
                    if f["value"] not in (None, want) and not f["stale"] and f["run"] != final["run"]
                ],
                "seq": [f["value"] for f in frames if f["value"] is not None and not f["stale"]],
                "stale": shown is None or final["value"] != want or final["run"] == "?",
            }
        )
