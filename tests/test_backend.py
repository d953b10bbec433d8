"""mnist_core.jobs.ThreadBackend on its own: each queue runs its jobs in order, one at a time, queues side
by side; a queued job taken back by stop never runs; a queue's thread ends when its queue is empty."""

from __future__ import annotations

import threading

from mnist_core.jobs import ThreadBackend


def test_queues_run_in_order_side_by_side_and_a_queued_job_can_be_taken_back():
    gates = {name: threading.Event() for name in ("a1", "a2", "a3", "b1")}
    started, ran = {name: threading.Event() for name in gates}, []

    def run(job: str) -> None:
        started[job].set()
        gates[job].wait(30)
        ran.append(job)

    backend = ThreadBackend(run)
    for queue, job in (("cpu", "a1"), ("cpu", "a2"), ("cpu", "a3"), ("cuda", "b1")):
        backend.start(queue, job)
    assert started["a1"].wait(30) and started["b1"].wait(30)  # one job of each queue at once
    assert not started["a2"].is_set()
    assert backend.stop("a2") and not backend.stop("a1") and not backend.stop("nothing")
    for job in ("b1", "a1", "a3"):
        gates[job].set()
    workers = list(backend._workers.values())
    for w in workers:
        w.join(30)
    assert sorted(ran) == ["a1", "a3", "b1"] and ran.index("a1") < ran.index("a3") and not started["a2"].is_set()
    assert backend._workers == {} and not any(w.is_alive() for w in workers)
    backend.close()
