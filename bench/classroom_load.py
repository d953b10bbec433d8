"""A class presses Start at once: 30 students each submit a short run, on each backend.

    MNIST_DATA_DIR=../shared/data python bench/classroom_load.py [--students 30] [--only NAME]

Each simulated student (its own session token) submits `mlp` on the first 2,000 MNIST images for one
epoch, at a seeded random moment within the first 3 seconds, through `jobs.JobRunner.submit`, as the
Train page does. Four set-ups, each in a fresh process so that its memory is its own:
  - local-1: this process's threads, one run at a time per device (the default);
  - local-2: the same with MNIST_LAB_RUNS_PER_DEVICE=2;
  - ray-1, ray-2: a local Ray started for the run with 1 and 2 CPUs (`ray.init(num_cpus=N)`): the runs go to
    the cluster's pool of warm workers (one per CPU), which the app warms when it connects, before the class;
  - ray-2n (with --two-nodes): Ray on two nodes of one CPU each (ray.cluster_utils.Cluster, on this machine),
    which the app joins by address as it joins a remote cluster.
For each it prints the time from the first submit to the last result, the median and the longest wait in
the queue (submit to start), the median time one run takes from start to end, every run's status, the
app process's peak memory and, on Ray, the workers' peak memory together. Then the per-run overhead, from
`--overhead-runs` more runs submitted one at a time (so a worker is free for each): submit to start, and
the run's end to the app seeing it, median and p95; on Ray, how long the pool took to warm and each warm
worker's memory (warm, and after its last run). Last, each set-up's time to the last result against local-1's
and local-2's, measured in this same invocation.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mnist_core.config import TrainConfig  # noqa: E402

SETUPS = {"local-1": ("local", 1), "local-2": ("local", 2), "ray-1": ("ray", 1), "ray-2": ("ray", 2)}
TWO_NODES = {"ray-2n": ("ray", 2)}  # --two-nodes: two Ray nodes of one CPU each, on this machine


def _workers_rss() -> int:
    """Bytes resident in this machine's Ray workers (their processes are titled ray::WarmWorker)."""
    total = 0
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            if b"WarmWorker" not in (p / "cmdline").read_bytes():
                continue
            rss_pages = int((p / "statm").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
        total += rss_pages * os.sysconf("SC_PAGE_SIZE")
    return total


def _quantiles(xs: list[float]) -> tuple[float, float]:
    """Median and p95 (nearest rank) of `xs`; nan for none."""
    if not xs:
        return float("nan"), float("nan")
    xs = sorted(xs)
    return statistics.median(xs), xs[min(len(xs) - 1, max(0, round(0.95 * len(xs)) - 1))]


def _watch(job, seen: dict) -> None:
    """Record when this app sees the job end (its wait returns), in a thread of its own."""

    def wait() -> None:
        job.wait()
        seen[job.id] = time.time()

    threading.Thread(target=wait, daemon=True).start()


def _overhead(runner, cfg, data_dir: str, runs: int) -> dict:
    """`runs` runs one after another (a worker is free for each): submit to start, and end to the app seeing it."""
    to_start, to_seen = [], []
    for i in range(runs):
        seen: dict = {}
        job = runner.submit(cfg, f"alone{i:02d}", data_root=data_dir, owner="teacher")
        _watch(job, seen)
        job.wait(300)
        while job.id not in seen:
            time.sleep(0.001)
        s = job.snapshot()
        if s["started"] and s["ended"]:
            to_start.append(s["started"] - s["created"])
            to_seen.append(seen[job.id] - s["ended"])
    (sm, sp), (em, ep) = _quantiles(to_start), _quantiles(to_seen)
    return {"start_median_s": sm, "start_p95_s": sp, "seen_median_s": em, "seen_p95_s": ep, "runs": len(to_start)}


def _idle_workers(runner) -> list[dict]:
    """The pool's workers, asked once none is busy (each has given back its last run's memory)."""
    deadline = time.monotonic() + 30
    while any(w["state"] == "busy" for w in runner.backend.workers()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return runner.backend.workers(fresh=True)


def _connect(name: str, kind: str, n: int) -> tuple[str | None, object]:
    """The Ray address for a Ray set-up (None for a local one), and the cluster to shut down after, if any."""
    if kind != "ray":
        return None, None
    import ray

    from mnist_core.jobs import ray as ray_jobs

    if name in TWO_NODES:  # a head and a second node, n/2 CPUs each: the runs' CPUs on two nodes
        from ray.cluster_utils import Cluster

        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": n // 2, "include_dashboard": False})
        cluster.add_node(num_cpus=n - n // 2)
        cluster.wait_for_nodes()
        return cluster.address, cluster  # the app connects as it would to a remote cluster
    ray.init(address="local", num_cpus=n, include_dashboard=False, log_to_driver=False, namespace=ray_jobs.NAMESPACE)
    return ray.get_runtime_context().gcs_address, None


def run_setup(name: str, students: int, data_dir: str, overhead_runs: int) -> dict:
    kind, n = {**SETUPS, **TWO_NODES}[name]
    os.environ["MNIST_LAB_RUNS_PER_DEVICE"] = str(n)
    os.environ.setdefault("MNIST_LAB_THREADS", "1")
    import torch

    from mnist_core import jobs

    torch.set_num_threads(1)  # one core per run, as Ray gives each worker (num_cpus=1)
    address, cluster = _connect(name, kind, n)
    runs = tempfile.mkdtemp(prefix="classroom-runs-")
    t_warm = time.time()
    runner = jobs.JobRunner(runs, download=False, ray_address=address)
    warm_s = None
    if kind == "ray":  # the app warms the pool when it connects, long before a class presses Start
        assert runner.backend.wait_warm(300), "the pool's workers did not warm up"
        warm_s = time.time() - t_warm
    cfg = TrainConfig(arch="mlp", epochs=1, train_limit=2000, device="cpu")
    rng = random.Random(0)
    moments = sorted(rng.uniform(0, 3.0) for _ in range(students))
    peak = {"workers": 0}
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.5):
            peak["workers"] = max(peak["workers"], _workers_rss())

    threading.Thread(target=sample, daemon=True).start()
    t0 = time.time()
    submitted, seen = [], {}
    for i, at in enumerate(moments):
        time.sleep(max(0.0, t0 + at - time.time()))
        submitted.append(runner.submit(cfg, f"student{i:02d}", data_root=data_dir, owner=f"student-{i}"))
        _watch(submitted[-1], seen)
    deadline = time.monotonic() + 1800
    ok = all(job.wait(max(deadline - time.monotonic(), 0)) for job in submitted)
    last = time.time()
    snaps = [job.snapshot() for job in submitted]
    waits = [s["started"] - s["created"] for s in snaps if s["started"]]
    runs_s = [s["ended"] - s["started"] for s in snaps if s["started"] and s["ended"]]
    statuses: dict[str, int] = {}
    for s in snaps:
        statuses[str(s["status"])] = statuses.get(str(s["status"]), 0) + 1
    over = _overhead(runner, cfg, data_dir, overhead_runs)
    done.set()
    workers = _idle_workers(runner) if kind == "ray" else []
    runner.close()
    if cluster is not None:
        import ray

        ray.shutdown()
        cluster.shutdown()
    return {
        "setup": name,
        "all_ended": ok,
        "last_result_s": last - t0,
        "median_wait_s": statistics.median(waits) if waits else float("nan"),
        "max_wait_s": max(waits, default=0.0),
        "median_run_s": statistics.median(runs_s) if runs_s else float("nan"),
        "statuses": statuses,
        "app_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "workers_peak_mb": peak["workers"] / 2**20,
        "overhead": over,
        "warm_s": warm_s,
        "workers": [
            {k: w.get(k) for k in ("name", "pid", "warm_s", "rss_start", "rss_last", "runs", "rss_runs")}
            for w in workers
        ],
    }


def _print_row(r: dict) -> None:
    print(
        f"{r['setup']:8s} last result {r['last_result_s']:6.1f} s · wait median {r['median_wait_s']:5.1f} s, "
        f"longest {r['max_wait_s']:5.1f} s · one run {r['median_run_s']:4.1f} s · app {r['app_peak_mb']:5.0f} MB"
        f" · Ray workers {r['workers_peak_mb']:5.0f} MB · {r['statuses']}",
        flush=True,
    )
    o = r["overhead"]
    print(
        f"{'':8s} per-run overhead ({o['runs']} runs alone): submit to start median {o['start_median_s']:.3f} s,"
        f" p95 {o['start_p95_s']:.3f} s · end to the app seeing it median {o['seen_median_s']:.3f} s,"
        f" p95 {o['seen_p95_s']:.3f} s",
        flush=True,
    )
    if r["warm_s"] is not None:
        print(f"{'':8s} pool warm {r['warm_s']:.1f} s after the app connected (before the class)", flush=True)
    for w in r["workers"]:
        n, rss = w["rss_last"] or (0, 0)
        print(
            f"{'':8s} worker {w['name']} (pid {w['pid']}, warm in {w['warm_s']} s): {w['rss_start'] / 2**20:.0f} MB"
            f" warm, {rss / 2**20:.0f} MB after its run {n} (memory given back)",
            flush=True,
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--students", type=int, default=30)
    ap.add_argument("--data-dir", default=os.environ.get("MNIST_DATA_DIR", "data"))
    ap.add_argument("--only", choices=[*SETUPS, *TWO_NODES], help="run one set-up, in this process; print it as JSON")
    ap.add_argument("--two-nodes", action="store_true", help="also ray-2n: Ray on two nodes of one CPU each")
    ap.add_argument("--overhead-runs", type=int, default=20, help="runs one at a time, for the per-run overhead")
    args = ap.parse_args()
    data_dir = str(Path(args.data_dir).resolve())
    if args.only:
        print(json.dumps(run_setup(args.only, args.students, data_dir, args.overhead_runs)))
        return
    rows = []
    for name in [*SETUPS, *(TWO_NODES if args.two_nodes else ())]:
        try:
            import ray  # noqa: F401
        except ImportError:
            if name.startswith("ray"):
                print(f"{name}: skipped, Ray is not installed (pip install -r requirements-ray.txt)")
                continue
        out = subprocess.run(
            [sys.executable, __file__, "--only", name, "--students", str(args.students), "--data-dir", data_dir]
            + ["--overhead-runs", str(args.overhead_runs)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=2400,
        )
        if out.returncode != 0:
            print(f"{name}: failed\n{out.stderr[-2000:]}")
            continue
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        _print_row(rows[-1])
    ref = next((r for r in rows if r["setup"] == "local-1"), None)
    if ref:
        print(
            "time to the last result against local-1: "
            + ", ".join(f"{r['setup']} {r['last_result_s'] / ref['last_result_s']:.2f}x" for r in rows)
        )
    ref2 = next((r for r in rows if r["setup"] == "local-2"), None)
    if ref2:
        print(
            "time to the last result against local-2: "
            + ", ".join(f"{r['setup']} {r['last_result_s'] / ref2['last_result_s']:.2f}x" for r in rows)
        )


if __name__ == "__main__":
    main()
