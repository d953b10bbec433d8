"""A bounded soak of training on Ray: runs through the pool's warm workers while workers are killed at random.

    MNIST_DATA_DIR=../shared/data python bench/ray_soak.py [--runs 200] [--kills 20] [--cpus 2] [--memory-runs 50]

On a local Ray started for it (`--cpus` CPUs: as many warm workers), through `jobs.JobRunner` as the app:
  1. memory: `--memory-runs` runs one after another, each once the last one's worker is idle again (so they
     go to one worker); each worker's resident memory warm, and after its runs 1-10, 20, 30, ... (the worker's
     own figure, taken after it gave memory back);
  2. the soak: `--runs` runs from 30 visitors, at most `--in-flight` queued or running at once, every 7th
     stopped at a random moment, while a random busy worker's process is SIGKILLed `--kills` times at random
     moments (as an out-of-memory kill would).
Then it checks that no run is lost or stuck: every run has ended in the app, its status file ends the same
way, each failed one failed because its worker went away, and the pool is back to its strength, warm. Exit
status 1 when one of these does not hold. Bounded: `--deadline` seconds for the soak at most.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mnist_core.config import TrainConfig  # noqa: E402

MB = 2**20


def memory(runner, data_dir: str, runs: int) -> None:
    cfg = TrainConfig(arch="mlp", epochs=1, train_limit=2000, device="cpu")
    t0 = time.time()
    for i in range(runs):
        job = runner.submit(cfg, f"memory{i:03d}", data_root=data_dir)
        job.wait(300)
        assert str(job.status) == "finished", job.message
        while any(w["state"] == "busy" for w in runner.backend.workers()):  # its worker is idle again: the
            time.sleep(0.01)  # next run goes to the same one, so one worker's memory is followed over them all
    print(f"memory: {runs} runs one after another in {time.time() - t0:.1f} s", flush=True)
    for w in runner.backend.workers(fresh=True):
        after = ", ".join(f"{n}: {rss / MB:.0f}" for n, rss in w["rss_runs"]) or "none"
        print(
            f"  worker {w['name']} (pid {w['pid']}): warm {w['rss_start'] / MB:.0f} MB; after its runs {after} (MB);"
            f" {w['runs']} runs in all",
            flush=True,
        )


def killer(runner, kills: int, done: threading.Event, rng: random.Random, killed: list) -> None:
    """SIGKILL a random busy worker's process `kills` times, at random moments (0.5-4 s apart)."""
    while len(killed) < kills and not done.wait(rng.uniform(0.5, 4.0)):
        busy = [w for w in runner.backend.workers() if w["state"] == "busy" and w.get("pid")]
        if busy:
            w = rng.choice(busy)
            try:
                os.kill(w["pid"], signal.SIGKILL)
                killed.append(w["name"])
            except ProcessLookupError:
                pass


def soak(runner, data_dir: str, args) -> list:
    from mnist_core import owners

    rng = random.Random(args.seed)
    cfg = TrainConfig(arch="mlp", epochs=1, train_limit=2000, device="cpu")
    submitted, killed, done = [], [], threading.Event()
    threading.Thread(target=killer, args=(runner, args.kills, done, rng, killed), daemon=True).start()
    t0 = deadline = time.monotonic()
    deadline += args.deadline
    while len(submitted) < args.runs and time.monotonic() < deadline:
        if sum(j.active for j in submitted) >= args.in_flight:
            time.sleep(0.02)
            continue
        i = len(submitted)
        job = runner.submit(cfg, f"soak{i:03d}", data_root=data_dir, owner=f"student-{i % 30}")
        submitted.append(job)
        if i % 7 == 3:  # stopped at a random moment: queued, starting, or training
            threading.Timer(rng.uniform(0.0, 1.5), runner.stop, args=(job.id, owners.ANYONE)).start()
    for job in submitted:
        job.wait(max(0.0, deadline - time.monotonic()))
    done.set()
    print(
        f"soak: {len(submitted)} runs in {time.monotonic() - t0:.1f} s, {len(killed)} workers killed",
        flush=True,
    )
    return submitted


def check(runner, submitted: list, runs_dir: Path, cpus: int) -> bool:
    statuses = Counter(str(j.status) for j in submitted)
    stuck = [j.name for j in submitted if j.active]
    lost, wrong = [], []
    for job in submitted:
        try:
            recorded = json.loads((runs_dir / f"{job.name}.json").read_text())["status"]
        except (OSError, ValueError, KeyError):
            recorded = None
        if recorded != str(job.status):
            lost.append((job.name, str(job.status), recorded))
        if str(job.status) == "failed" and "went away" not in job.message:
            wrong.append((job.name, job.message))
    t0 = time.monotonic()
    warm = runner.backend.wait_warm(300)
    rows = runner.backend.workers()
    print(f"  statuses: {dict(statuses)}", flush=True)
    print(f"  stuck as queued or running: {len(stuck)} {stuck[:5]}", flush=True)
    print(f"  lost (the app and the status file disagree, or no status file): {len(lost)} {lost[:5]}", flush=True)
    print(f"  failed for another reason than their worker going away: {len(wrong)} {wrong[:3]}", flush=True)
    print(
        f"  pool: {len(rows)} workers, {'all warm' if warm else 'NOT warm'} "
        f"({time.monotonic() - t0:.1f} s after the last run ended)",
        flush=True,
    )
    for w in rows:
        print(f"  worker {w['name']} (pid {w['pid']}): warm {w['rss_start'] / MB:.0f} MB", flush=True)
    return not stuck and not lost and not wrong and warm and len(rows) == cpus


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--cpus", type=int, default=2)
    ap.add_argument("--memory-runs", type=int, default=50)
    ap.add_argument("--in-flight", type=int, default=12, help="runs queued or running at once, at most")
    ap.add_argument("--deadline", type=float, default=900.0, help="seconds the soak may take, at most")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-dir", default=os.environ.get("MNIST_DATA_DIR", "data"))
    args = ap.parse_args()
    data_dir = str(Path(args.data_dir).resolve())
    os.environ.setdefault("MNIST_LAB_THREADS", "1")
    import ray
    import torch

    from mnist_core import jobs
    from mnist_core.jobs import ray as ray_jobs

    torch.set_num_threads(1)
    ray.init(
        address="local", num_cpus=args.cpus, include_dashboard=False, log_to_driver=False, namespace=ray_jobs.NAMESPACE
    )
    runs_dir = Path(tempfile.mkdtemp(prefix="ray-soak-runs-"))
    t0 = time.time()
    runner = jobs.JobRunner(runs_dir, download=False, ray_address=ray.get_runtime_context().gcs_address)
    assert runner.backend.wait_warm(300), "the pool did not warm up"
    print(f"pool of {args.cpus} warm workers in {time.time() - t0:.1f} s", flush=True)
    if args.memory_runs:
        memory(runner, data_dir, args.memory_runs)
    submitted = soak(runner, data_dir, args)
    ok = check(runner, submitted, runs_dir, args.cpus)
    print(f"  app peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB", flush=True)
    print("no run lost or stuck" if ok else "FAILED: see above", flush=True)
    runner.close()
    ray.shutdown()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
