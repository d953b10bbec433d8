"""A class presses Start at once: 30 students each submit a short run, on each backend.

    MNIST_DATA_DIR=../shared/data python bench/classroom_load.py [--students 30] [--only NAME]

Each simulated student (its own session token) submits `mlp` on the first 2,000 MNIST images for one
epoch, at a seeded random moment within the first 3 seconds, through `jobs.JobRunner.submit`, as the
Train page does. Four set-ups, each in a fresh process so that its memory is its own:
  - local-1: this process's threads, one run at a time per device (the default);
  - local-2: the same with MNIST_LAB_RUNS_PER_DEVICE=2;
  - ray-1, ray-2: a local Ray started for the run with 1 and 2 CPUs (`ray.init(num_cpus=N)`): each run a
    Ray actor, queued by Ray.
For each it prints the time from the first submit to the last result, the median and the longest wait in
the queue (submit to start), the median time one run takes from start to end, every run's status, the
app process's peak memory and, on Ray, the workers' peak memory together. Last, each set-up's time to the
last result against local-1's, measured in this same invocation.
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

from mnist_core.config import TrainConfig  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SETUPS = {"local-1": ("local", 1), "local-2": ("local", 2), "ray-1": ("ray", 1), "ray-2": ("ray", 2)}


def _workers_rss() -> int:
    """Bytes resident in this machine's Ray run actors (their processes are titled ray::RunActor)."""
    total = 0
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            if b"RunActor" not in (p / "cmdline").read_bytes():
                continue
            rss_pages = int((p / "statm").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
        total += rss_pages * os.sysconf("SC_PAGE_SIZE")
    return total


def run_setup(name: str, students: int, data_dir: str) -> dict:
    kind, n = SETUPS[name]
    os.environ["MNIST_LAB_RUNS_PER_DEVICE"] = str(n)
    os.environ.setdefault("MNIST_LAB_THREADS", "1")
    import torch

    from mnist_core import jobs

    torch.set_num_threads(1)  # one core per run, as Ray gives each actor (num_cpus=1)
    address = None
    if kind == "ray":
        import ray

        from mnist_core.jobs import ray as ray_jobs

        ray.init(
            address="local", num_cpus=n, include_dashboard=False, log_to_driver=False, namespace=ray_jobs.NAMESPACE
        )
        address = ray.get_runtime_context().gcs_address
    runs = tempfile.mkdtemp(prefix="classroom-runs-")
    runner = jobs.JobRunner(runs, download=False, ray_address=address)
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
    submitted = []
    for i, at in enumerate(moments):
        time.sleep(max(0.0, t0 + at - time.time()))
        submitted.append(runner.submit(cfg, f"student{i:02d}", data_root=data_dir, owner=f"student-{i}"))
    deadline = time.monotonic() + 1800
    ok = all(job.wait(max(deadline - time.monotonic(), 0)) for job in submitted)
    last = time.time()
    done.set()
    snaps = [job.snapshot() for job in submitted]
    waits = [s["started"] - s["created"] for s in snaps if s["started"]]
    runs_s = [s["ended"] - s["started"] for s in snaps if s["started"] and s["ended"]]
    statuses: dict[str, int] = {}
    for s in snaps:
        statuses[str(s["status"])] = statuses.get(str(s["status"]), 0) + 1
    runner.close()
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
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--students", type=int, default=30)
    ap.add_argument("--data-dir", default=os.environ.get("MNIST_DATA_DIR", "data"))
    ap.add_argument("--only", choices=list(SETUPS), help="run one set-up, in this process; print it as JSON")
    args = ap.parse_args()
    data_dir = str(Path(args.data_dir).resolve())
    if args.only:
        print(json.dumps(run_setup(args.only, args.students, data_dir)))
        return
    rows = []
    for name in SETUPS:
        try:
            import ray  # noqa: F401
        except ImportError:
            if name.startswith("ray"):
                print(f"{name}: skipped, Ray is not installed (pip install -r requirements-ray.txt)")
                continue
        out = subprocess.run(
            [sys.executable, __file__, "--only", name, "--students", str(args.students), "--data-dir", data_dir],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=2400,
        )
        if out.returncode != 0:
            print(f"{name}: failed\n{out.stderr[-2000:]}")
            continue
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        r = rows[-1]
        print(
            f"{name:8s} last result {r['last_result_s']:6.1f} s · wait median {r['median_wait_s']:5.1f} s, "
            f"longest {r['max_wait_s']:5.1f} s · one run {r['median_run_s']:4.1f} s · app {r['app_peak_mb']:5.0f} MB"
            f" · Ray workers {r['workers_peak_mb']:5.0f} MB · {r['statuses']}",
            flush=True,
        )
    ref = next((r for r in rows if r["setup"] == "local-1"), None)
    if ref:
        print(
            "time to the last result against local-1: "
            + ", ".join(f"{r['setup']} {r['last_result_s'] / ref['last_result_s']:.2f}x" for r in rows)
        )


if __name__ == "__main__":
    main()
