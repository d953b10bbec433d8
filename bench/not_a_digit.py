"""Not a digit: how well a model's own scores tell drawn digits from drawn non-digits, today, with no
retraining; and whether its confidence means what it says.

    python bench/not_a_digit.py [--model cnn] [--method msp|energy|mahalanobis|output|probe ...] [--per-kind 300]
                                [--fit-digits 3000] [--mnist-fit 20000] [--seed 0] [--data-dir DIR] [--tiny]

Digits, read as the app reads them (each drawing on the 280x280 canvas, `preprocess`, the model's
views averaged): UNIPEN's benchmark writers (never trained on) and the MNIST test set (the network's
own input). Non-digits: `mnist_core.negatives`, per kind, split="bench" (the held-out kinds are
never trained on; the train kinds' bench drawings are fresh renders, from the benchmark writers
where they hold digits).

Each METHOD scores how much a drawing looks like a digit (higher: more):
- msp: the largest of the probabilities the app shows (views averaged);
- energy: logsumexp of the logits (the negative free energy), averaged over views;
- mahalanobis: minus the smallest Mahalanobis distance from the features the last layer reads
  (averaged over views) to a class mean, with one covariance shared by the classes, fitted on
  MNIST training digits and half of UNIPEN's training writers (by writer).
- probe (an experiment, only when asked): a logistic regression on those features, trained with the
  train kinds as non-digits: what a detector trained on them can reach without new features.
- output (what the app ships, for a model with the 11th "not a digit" output; the default for one):
  the digit score the app reads (Predictor.scores_batch: one minus that output's probability among
  the eleven, averaged over the views) at the model's own threshold (fitted after training on UNIPEN
  training writers held out of it, to keep 99% of their digits: fit_reading.KEEP).
For the other methods the threshold keeps 99% of the digits of UNIPEN's other training writers (never
the benchmark writers); a drawing scoring below it is refused. The digits' figures count a blank read
as neither kept nor right; accuracy is the digit the app shows, whatever the verdict.
Prints per kind the share refused by each method, then the totals (last among them, the held-out kinds refused
at the threshold that keeps exactly the targets' 99% of the benchmark writers' and 99.5% of MNIST's digits,
chosen on those digits: a bound on what the score can refuse, to compare scores and models by, never what the
app does), then the calibration: expected calibration error (15 bins) of the app's probabilities on the
benchmark writers, before and after temperature scaling fitted on the training writers (and before and after
the model's own fitted temperature), then the accuracy as the app reads them.
"""

from __future__ import annotations

import argparse
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import mnist_core  # noqa: E402
from mnist_core import calibration, data, inference, negatives, pen  # noqa: E402
from mnist_core.preprocess import preprocess  # noqa: E402

METHODS = ("msp", "energy", "mahalanobis")
SHIPPED = "output"  # the 11th output's digit score at the model's own threshold
EXPERIMENTS = ("probe",)  # trained on the train kinds: run only when asked
KEEP = 0.99  # share of the threshold digits kept
# the targets' shares of real digits kept (UNIPEN's benchmark writers, MNIST's test set): the bound row's threshold
TARGET_KEPT = (0.99, 0.995)


def outputs(predictor, x: np.ndarray, batch: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """(N, 28, 28) inputs -> the logits of each view (N, V, C: 10, or 11 with the "not a digit" output) and
    the features the last linear layer reads, averaged over the views (N, D). A hook on that layer, removed
    after."""
    linear = [m for m in predictor.model.modules() if isinstance(m, torch.nn.Linear)][-1]
    seen: list[torch.Tensor] = []
    hook = linear.register_forward_pre_hook(lambda _m, args: seen.append(args[0].flatten(1)))
    logits, feats = [], []
    try:
        with torch.inference_mode():
            for i in range(0, len(x), batch):
                xb = torch.as_tensor(np.asarray(x[i : i + batch], np.float32)).reshape(-1, 1, 28, 28)
                views = inference.tta_views(xb) if predictor.tta else xb
                seen.clear()
                z = predictor.model((views - data.MEAN) / data.STD)
                v = len(views) // len(xb)
                logits.append(z.reshape(v, len(xb), -1).transpose(0, 1).numpy())
                feats.append(seen[0].reshape(v, len(xb), -1).mean(0).numpy())
    finally:
        hook.remove()
    return np.concatenate(logits), np.concatenate(feats)


class Mahalanobis:
    """Class means and one shared covariance of features; score = -(smallest squared distance)."""

    def __init__(self, feats: np.ndarray, labels: np.ndarray):
        f = feats.astype(np.float64)
        self.means = np.stack([f[labels == c].mean(0) for c in range(10)])
        centred = f - self.means[labels]
        cov = centred.T @ centred / len(f)
        cov += np.eye(len(cov)) * 1e-3 * np.trace(cov) / len(cov)  # a little shrinkage: always invertible
        self.whiten = np.linalg.cholesky(np.linalg.inv(cov))

    def score(self, feats: np.ndarray) -> np.ndarray:
        w = feats.astype(np.float64) @ self.whiten
        m = self.means @ self.whiten
        d2 = (w**2).sum(1)[:, None] - 2 * w @ m.T + (m**2).sum(1)[None]
        return -d2.min(1)


class Probe:
    """An experiment, not a method that needs no training: logistic regression of digit against
    non-digit on the frozen network's features (the same as `Mahalanobis` reads), the train kinds'
    split="train" drawings as the non-digits, each side weighted as much. A lower bound of what an
    11th output trained with those negatives could do (that would train the features too)."""

    def __init__(self, digits: np.ndarray, non_digits: np.ndarray, l2: float = 1e-3, steps: int = 300):
        x = np.concatenate([digits, non_digits]).astype(np.float64)
        self.mean, self.std = x.mean(0), x.std(0) + 1e-6
        xt = torch.from_numpy((x - self.mean) / self.std)
        y = torch.cat([torch.ones(len(digits)), torch.zeros(len(non_digits))]).double()
        weight = torch.where(y > 0, 0.5 / len(digits), 0.5 / len(non_digits)).double()
        w = torch.zeros(x.shape[1] + 1, dtype=torch.float64, requires_grad=True)
        opt = torch.optim.LBFGS([w], max_iter=steps, line_search_fn="strong_wolfe")

        def loss():
            opt.zero_grad()
            z = xt @ w[:-1] + w[-1]
            out = (weight * torch.nn.functional.binary_cross_entropy_with_logits(z, y, reduction="none")).sum()
            out = out + l2 * (w[:-1] ** 2).sum()
            out.backward()
            return out

        opt.step(loss)
        self.w = w.detach().numpy()

    def score(self, feats: np.ndarray) -> np.ndarray:
        return ((feats - self.mean) / self.std) @ self.w[:-1] + self.w[-1]


def scores(method: str, logits: np.ndarray, feats: np.ndarray, maha: Mahalanobis | None, probe=None) -> np.ndarray:
    if method == "msp":
        return calibration.softmax(logits[..., :10]).max(1)
    if method == SHIPPED:
        return 1.0 - calibration.softmax(logits)[:, inference.NOT_A_DIGIT]  # the views' probabilities averaged
    if method == "energy":
        z = logits[..., :10].astype(np.float64)
        top = z.max(-1, keepdims=True)
        return (top[..., 0] + np.log(np.exp(z - top).sum(-1))).mean(1)
    if method == "mahalanobis":
        return maha.score(feats)
    if method == "probe":
        return probe.score(feats)
    raise ValueError(f"no method {method!r}; methods: {', '.join(METHODS + (SHIPPED,) + EXPERIMENTS)}")


def render(digits, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """UNIPEN digits drawn on the canvas (pen.render) and read by `preprocess`: x, labels, blank."""
    rng = np.random.default_rng(seed)
    xs, blank = [], []
    for d in digits:
        x = preprocess(pen.render(d, rng))
        blank.append(x is None)
        xs.append(np.zeros((28, 28), np.float32) if x is None else x)
    return np.stack(xs), np.array([d.label for d in digits], np.int64), np.array(blank)


def training_writers(root, n: int, seed: int):
    """UNIPEN's training writers split in two by writer: (threshold digits, fit digits), n of each
    at most (a seeded sample), as the app reads them."""
    train, _ = pen.split(pen.load(root))
    halves = [[d for d in train if zlib.crc32(f"{d.lab}/{d.writer}".encode()) % 2 == k] for k in (0, 1)]
    rng = np.random.default_rng(seed)
    out = []
    for k, half in enumerate(halves):
        pick = rng.choice(len(half), size=min(n, len(half)), replace=False)
        out.append(render([half[i] for i in sorted(pick)], seed + 1 + k))
    return out


def benchmark_writers(root, limit: int):
    """The benchmark writers' drawings as bench/real_handwriting.py reads them (all, or the first `limit`)."""
    if not limit:
        b = pen.benchmark_inputs(root)
        return b["x"], b["labels"], b["blank"]
    samples = []
    for i, (d, _) in enumerate(pen.benchmark_samples(root)):
        if i >= limit:
            break
        samples.append(d)
    return render(samples, pen.BENCH_SEED)


def mnist(train: bool, root, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    split = data.load("mnist", train=train, root=root)
    idx = (
        np.arange(len(split))
        if not n or n >= len(split)
        else np.sort(np.random.default_rng(seed).choice(len(split), n, replace=False))
    )
    return split.images.numpy()[idx].astype(np.float32) / 255.0, split.labels.numpy()[idx]


def pct(a) -> str:
    return f"{100 * float(np.mean(a)):5.1f}%" if len(a) else "    -"


def measure(args) -> dict:
    """Everything the report prints: per set, its scores per method, and the calibration figures."""
    predictor = mnist_core.load_model(args.model)
    args.method = args.method or list(METHODS) + ([SHIPPED] if predictor.has_detector else [])
    if SHIPPED in args.method and not predictor.has_detector:
        raise ValueError(f"{args.model} has no 'not a digit' output: method {SHIPPED} needs one")
    t0 = time.perf_counter()
    (thr_x, thr_y, thr_blank), (fit_x, fit_y, fit_blank) = training_writers(args.data_dir, args.fit_digits, args.seed)
    bench_x, bench_y, bench_blank = benchmark_writers(args.data_dir, args.bench_limit)
    test_x, test_y = mnist(False, args.data_dir, args.mnist_test, args.seed)
    mfit_x, mfit_y = mnist(True, args.data_dir, args.mnist_fit, args.seed)
    sets = {"threshold": thr_x, "bench": bench_x, "mnist_test": test_x}
    for kind in negatives.kinds():
        sets[kind] = np.stack(negatives.make(kind, args.per_kind, args.seed, "bench", args.data_dir))
    t1 = time.perf_counter()
    out = {k: outputs(predictor, x) for k, x in sets.items()}
    fit_logits, fit_feats = outputs(predictor, np.concatenate([mfit_x, fit_x[~fit_blank]]))
    maha = Mahalanobis(fit_feats, np.concatenate([mfit_y, fit_y[~fit_blank]]))
    probe = None
    if "probe" in args.method:
        neg = [negatives.make(k, args.probe_per_kind, args.seed, "train", args.data_dir) for k in negatives.TRAIN_KINDS]
        probe = Probe(fit_feats, outputs(predictor, np.concatenate(neg))[1])
    res = {k: {m: scores(m, *out[k], maha, probe) for m in args.method} for k in sets}
    res["blank"] = {"threshold": thr_blank, "bench": bench_blank}
    res["own_threshold"] = predictor.reading["threshold"]
    ok = ~thr_blank
    digits = {k: out[k][0][..., :10] for k in ("threshold", "bench", "mnist_test")}  # the ten digits' logits
    temp = calibration.fit_temperature(digits["threshold"][ok], thr_y[ok])
    bl, by = digits["bench"][~bench_blank], bench_y[~bench_blank]
    own = predictor.reading["temperature"]
    res["calibration"] = {
        "T": temp,
        "before": calibration.ece(calibration.softmax(bl), by),
        "after": calibration.ece(calibration.softmax(bl, temp), by),
        "fit_before": calibration.ece(calibration.softmax(digits["threshold"][ok]), thr_y[ok]),
        "own_T": own,
        "own_after": calibration.ece(calibration.softmax(bl, own), by),
    }
    shown = {k: calibration.softmax(digits[k], own).argmax(1) for k in ("bench", "mnist_test")}  # what the app shows
    res["accuracy"] = {
        "bench": float(((shown["bench"] == bench_y) & ~bench_blank).mean()),
        "mnist_test": float((shown["mnist_test"] == test_y).mean()),
    }
    res["timing"] = (t1 - t0, time.perf_counter() - t1)
    res["sizes"] = {k: len(x) for k, x in sets.items()} | {"fit": len(fit_logits)}
    return res


def _bound(res: dict, method: str) -> float:
    """The threshold that keeps exactly the targets' shares (TARGET_KEPT) of the measured digits themselves:
    chosen on the very digits it is measured on, so no fitted threshold does better; what refusing could reach
    with this score if the threshold were perfect."""
    bench = res["bench"][method][~res["blank"]["bench"]]
    return min(
        float(np.quantile(bench, 1 - TARGET_KEPT[0], method="lower")),
        float(np.quantile(res["mnist_test"][method], 1 - TARGET_KEPT[1], method="lower")),
    )


def report(args, res: dict) -> None:
    methods = args.method
    thr = {m: np.quantile(res["threshold"][m][~res["blank"]["threshold"]], 1 - KEEP) for m in methods}
    if SHIPPED in methods:
        thr[SHIPPED] = res["own_threshold"]  # the model's own, fitted on held-out training writers
    refused = {k: {m: res[k][m] < thr[m] for m in methods} for k in negatives.kinds()}
    head = "".join(f"{m:>13}" for m in methods)
    print(f"{'kind':16}{'split':>10}{'n':>6}{head}   (share refused at each method's threshold)")
    for kind in negatives.kinds():
        split = "train" if kind in negatives.TRAIN_KINDS else "held-out"
        cells = "".join(f"{pct(refused[kind][m]):>13}" for m in methods)
        print(f"{kind:16}{split:>10}{res['sizes'][kind]:>6}{cells}")
    print()
    print(f"{'totals':42}{head}")
    print(f"{'threshold (99% of training writers; own)':42}" + "".join(f"{thr[m]:13.4g}" for m in methods))
    bench_kept = {m: (res["bench"][m] >= thr[m]) & ~res["blank"]["bench"] for m in methods}
    rows = [
        ("digits kept: UNIPEN benchmark writers", lambda m: pct(bench_kept[m])),
        ("digits kept: MNIST test", lambda m: pct(res["mnist_test"][m] >= thr[m])),
        ("non-digits refused: train kinds", lambda m: pct(_all(refused, negatives.TRAIN_KINDS, m))),
        ("non-digits refused: held-out kinds", lambda m: pct(_all(refused, negatives.HELD_OUT_KINDS, m))),
        ("non-digits refused: all kinds", lambda m: pct(_all(refused, negatives.kinds(), m))),
    ]
    for label, cell in rows:
        print(f"{label:42}" + "".join(f"{cell(m):>13}" for m in methods))
    bound = {m: _bound(res, m) for m in methods}
    at_bound = {k: {m: res[k][m] < bound[m] for m in methods} for k in negatives.HELD_OUT_KINDS}
    cells = "".join(f"{pct(_all(at_bound, negatives.HELD_OUT_KINDS, m)):>13}" for m in methods)
    print(f"{'held-out refused at the targets (a bound)':42}" + cells)
    c = res["calibration"]
    print(
        f"calibration: ECE (15 bins) on UNIPEN benchmark writers {100 * c['before']:.2f}% before, "
        f"{100 * c['after']:.2f}% after temperature scaling (T = {c['T']:.3f}, fitted on UNIPEN training writers; "
        f"their ECE before: {100 * c['fit_before']:.2f}%)"
    )
    print(
        f"calibration with the model's own temperature (T = {c['own_T']:.3f}, fitted on UNIPEN training writers "
        f"held out of its training; 1.0 for a model without one): ECE {100 * c['before']:.2f}% before, "
        f"{100 * c['own_after']:.2f}% after"
    )
    a = res["accuracy"]
    print(
        f"accuracy as the app reads them (its views, its temperature; a blank read counts as wrong): "
        f"UNIPEN benchmark writers {100 * a['bench']:.2f}%, MNIST test {100 * a['mnist_test']:.2f}%"
    )
    s = res["sizes"]
    print(
        f"sizes: {s['bench']} benchmark-writer digits, {s['mnist_test']} MNIST test, {s['threshold']} threshold "
        f"digits, {s['fit']} feature-fit digits; {args.per_kind} per kind. Drawing {res['timing'][0]:.0f} s, "
        f"reading {res['timing'][1]:.0f} s"
    )


def _all(refused: dict, kinds, m: str) -> np.ndarray:
    return np.concatenate([refused[k][m] for k in kinds])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="cnn", help="model name or checkpoint (default: the shipped cnn)")
    ap.add_argument(
        "--method",
        action="append",
        choices=METHODS + (SHIPPED,) + EXPERIMENTS,
        help="score(s) to compare (default: msp, energy, mahalanobis, and output for a model that has one)",
    )
    ap.add_argument("--probe-per-kind", type=int, default=600, help="the probe's non-digits per train kind")
    ap.add_argument("--per-kind", type=int, default=300, help="non-digits per kind")
    ap.add_argument("--fit-digits", type=int, default=3000, help="training-writer digits in each half")
    ap.add_argument("--mnist-fit", type=int, default=20000, help="MNIST training digits for the feature fit")
    ap.add_argument("--mnist-test", type=int, default=0, help="MNIST test digits (0: all 10,000)")
    ap.add_argument("--bench-limit", type=int, default=0, help="only the first N benchmark-writer digits")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-dir")
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    ap.add_argument("--tiny", action="store_true", help="a few of everything: checks that it runs")
    args = ap.parse_args(argv)
    if args.tiny:
        args.per_kind, args.fit_digits, args.mnist_fit, args.probe_per_kind = 3, 30, 200, 3
        args.mnist_test, args.bench_limit = 100, 40
    torch.set_num_threads(args.threads)
    methods = ", ".join(args.method or ["default"])
    print(f"not a digit: model {args.model}, methods {methods}, seed {args.seed}", flush=True)
    try:
        res = measure(args)
    except (data.DataUnavailable, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report(args, res)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
