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

    backend = ThreadBackend(run, per_queue=1)
    for queue, job in (("cpu", "a1"), ("cpu", "a2"), ("cpu", "a3"), ("cuda", "b1")):
        backend.start(queue, job)
    assert started["a1"].wait(30) and started["b1"].wait(30)  # one job of each queue at once
    assert not started["a2"].is_set()
    assert backend.stop("a2") and not backend.stop("a1") and not backend.stop("nothing")
    for job in ("b1", "a1", "a3"):
        gates[job].set()
    workers = backend.workers()
    for w in workers:
        w.join(30)
    assert sorted(ran) == ["a1", "a3", "b1"] and ran.index("a1") < ran.index("a3") and not started["a2"].is_set()
    assert backend.workers() == [] and not any(w.is_alive() for w in workers)
    backend.close()


def test_a_cap_of_two_runs_two_jobs_of_a_queue_at_once_and_counts_the_line(monkeypatch):
    monkeypatch.setenv("MNIST_LAB_RUNS_PER_DEVICE", "2")
    gates = {name: threading.Event() for name in ("a1", "a2", "a3", "a4", "e1", "e2")}
    started = {name: threading.Event() for name in gates}

    def run(job: str) -> None:
        started[job].set()
        gates[job].wait(30)

    backend = ThreadBackend(run)
    assert backend.per_queue == 2 and "2 runs at a time" in backend.describe()
    for queue, job in (
        ("cpu", "a1"),
        ("cpu", "a2"),
        ("cpu", "a3"),
        ("cpu", "a4"),
        ("evaluate", "e1"),
        ("evaluate", "e2"),
    ):
        backend.start(queue, job)
    assert started["a1"].wait(30) and started["a2"].wait(30) and started["e1"].wait(30)
    assert backend.position("a3") == 1 and backend.position("a4") == 2 and backend.position("a1") is None
    assert not started["e2"].wait(0.5)  # measurements stay one at a time
    gates["a1"].set()
    assert started["a3"].wait(30) and backend.position("a4") == 1 and not started["a4"].wait(0.5)
    for g in gates.values():
        g.set()
    for w in backend.workers():
        w.join(30)
    assert all(e.is_set() for e in started.values()) and backend.workers() == []


def test_the_cap_ignores_a_setting_that_is_not_a_positive_whole_number(monkeypatch):
    from mnist_core.jobs import devices_cap

    for raw in ("0", "-3", "two", "1.5", "", "\u00b2"):
        monkeypatch.setenv("MNIST_LAB_RUNS_PER_DEVICE", raw)
        assert devices_cap() == 1


class Owned:
    """A job as the backend sees it: only its owner's key counts (Job.owner_key)."""

    def __init__(self, name: str, owner_key: str):
        self.name, self.owner_key = name, owner_key

    def __repr__(self) -> str:
        return self.name


def test_a_queue_takes_its_jobs_in_turn_by_owner_so_one_visitor_never_starves_another():
    """Visitor a queues 5 runs, then b and c one each: b's run is next (a was just served), c's after it,
    then a's in their order; the positions the backend reports are that order, and a job taken back
    leaves the others' turn as it was."""
    gate, ran, started = threading.Event(), [], threading.Event()

    def run(job: Owned) -> None:
        ran.append(job.name)
        started.set()
        gate.wait(30)

    backend = ThreadBackend(run, per_queue=1)
    a = [Owned(f"a{i}", "key-a") for i in range(1, 6)]
    b1, c1 = Owned("b1", "key-b"), Owned("c1", "key-c")
    backend.start("cpu", a[0])
    assert started.wait(30)  # a1 trains; a2..a5 wait
    for job in (*a[1:], b1, c1):
        backend.start("cpu", job)
    assert backend.position(b1) == 1 and backend.position(c1) == 2  # at most (owners waiting) in line
    assert [backend.position(j) for j in a[1:]] == [3, 4, 5, 6] and backend.position(a[0]) is None
    assert backend.stop(a[2]) and backend.position(a[3]) == 4 and backend.position(c1) == 2
    gate.set()
    for w in backend.workers():
        w.join(30)
    assert ran == ["a1", "b1", "c1", "a2", "a4", "a5"]


def test_a_newcomer_goes_before_owners_already_served_and_the_holders_jobs_take_turns_too():
    gate, ran, started = threading.Event(), [], threading.Event()

    def run(job) -> None:
        ran.append(str(job))
        started.set()
        gate.wait(30)

    backend = ThreadBackend(run, per_queue=1)
    jobs = [Owned("a1", "key-a"), Owned("a2", "key-a"), "holder-1", "holder-2", Owned("b1", "key-b")]
    backend.start("cpu", jobs[0])
    assert started.wait(30)
    for job in jobs[1:]:  # the holder's jobs (no owner_key) are one owner, ""
        backend.start("cpu", job)
    assert [backend.position(j) for j in jobs] == [None, 3, 1, 4, 2]
    gate.set()
    for w in backend.workers():
        w.join(30)
    assert ran == ["a1", "holder-1", "b1", "a2", "holder-2"]
