"""Training on a Ray cluster of more than one machine, shown on this one (ray.cluster_utils.Cluster: two nodes of
one CPU each, later a third with one GPU that Ray only counts): the pool puts a warm worker on each node, runs
land on both and each node's runs finish; a cuda run asks Ray for a GPU (its worker holds one, on the GPU
node). Skipped where Ray is not installed; CI installs it."""

from __future__ import annotations

import json

import pytest
import torch
from helpers import wait_until

from mnist_core import devices, jobs, owners
from mnist_core.config import TrainConfig
from mnist_core.events import RunStatus

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install -r requirements-ray.txt)")
cluster_utils = pytest.importorskip("ray.cluster_utils")


@pytest.fixture(scope="module")
def cluster():
    """A head and a second node, one CPU each: the runs' CPUs are on two nodes."""
    if ray.is_initialized():
        ray.shutdown()
    c = cluster_utils.Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    c.add_node(num_cpus=1)
    c.wait_for_nodes()
    yield c
    ray.shutdown()
    c.shutdown()


@pytest.fixture
def runner(cluster, runs_dir):
    r = jobs.JobRunner(runs_dir, download=False, ray_address=cluster.address)  # connects as an app does
    yield r
    for job in r.active():
        r.stop(job.id, owners.ANYONE)
    assert r.wait_all(120), "a Ray run did not end after its stop"
    r.close()


def nodes_of(runner) -> dict[str, str]:
    """Each worker's node, by the worker's name."""
    return {w["name"]: w["node"] for w in runner.backend.workers() if w.get("node")}


def test_runs_land_on_both_nodes_and_each_nodes_runs_finish(runner, cluster, small_data_dir, runs_dir):
    assert runner.backend.wait_warm(240)
    nodes = nodes_of(runner)
    alive = {n["NodeID"] for n in ray.nodes() if n["Alive"]}
    assert len(nodes) == 2 and set(nodes.values()) == alive  # one warm worker on each node
    cfg = TrainConfig(arch="mlp_128_64", epochs=1, batch_size=64, log_every=5, device="cpu")
    submitted = [runner.submit(cfg, f"spread-{i}", data_root=small_data_dir, owner=f"s{i}") for i in range(6)]
    assert all(job.wait(240) for job in submitted), [j.snapshot()["status"] for j in submitted]
    placed = ray.get(ray.get_actor("mnist-lab-pool", namespace="mnist_lab").runs_on.remote())
    on = {job.name: nodes[placed[job.worker]] for job in submitted}
    assert set(on.values()) == alive, on  # both nodes trained some of them
    for job in submitted:  # and each node's runs finished, with their checkpoints in the one runs folder
        assert job.status == RunStatus.FINISHED, (job.name, on[job.name], job.message)
        assert json.loads((runs_dir / f"{job.name}.json").read_text())["status"] == "finished"
        assert (runs_dir / f"{job.name}.pt").is_file()


def test_a_cuda_run_asks_ray_for_a_gpu(runner, cluster, small_data_dir, monkeypatch):
    gpu_node = cluster.add_node(num_cpus=1, num_gpus=1)  # a GPU that Ray counts: no real one is needed
    cluster.wait_for_nodes()
    # this app machine has no CUDA: let it hand a cuda run over, as an app beside a GPU cluster would
    monkeypatch.setattr(devices, "resolve_device", lambda name=None: torch.device(name or "cpu"))
    cfg = TrainConfig(arch="mlp_128_64", epochs=1, batch_size=64, device="cuda")
    job = runner.submit(cfg, "on-a-gpu", data_root=small_data_dir, owner="s")
    assert job.wait(240), "the cuda run was left queued or running"

    def cuda_worker():
        return next((w for w in runner.backend.workers() if w["shape"] == "cuda" and w["state"] != "warming"), None)

    w = wait_until(cuda_worker, 120, "the pool's cuda worker")
    assert w["resources"].get("GPU") == 1.0 and w["resources"].get("CPU") == 1.0  # what Ray reserved for it
    assert w["node"] == gpu_node.node_id
    placed = ray.get(ray.get_actor("mnist-lab-pool", namespace="mnist_lab").runs_on.remote())
    assert placed[job.worker] == w["name"]  # the cuda run went to the worker that holds the GPU
    # there is no real GPU here: the run fails, and says why, rather than train on the CPU
    assert job.status == RunStatus.FAILED and "cuda" in job.message.lower(), job.message
