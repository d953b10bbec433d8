"""Training runs as the pages show them: the process-wide runner, who started what, and a run's state."""

from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from lab_ui.charts import smooth
from lab_ui.text import name_md, plain, problem, shown_path
from lab_ui.visitors import acting_as, owner_label
from mnist_core import data, inference, jobs
from mnist_core.events import RunStatus

DATASET_LABELS = {"mnist": "MNIST (digits)", "fashion": "FashionMNIST (clothing)"}


_MADE: list[jobs.JobRunner] = []  # every runner this process made, to close when it exits


@st.cache_resource(show_spinner=False)
def _job_runner(runs: str) -> jobs.JobRunner:
    runner = jobs.JobRunner(runs)
    _MADE.append(runner)
    return runner


def job_runner() -> jobs.JobRunner:
    """The process-wide runner for the runs directory: every session sees the same jobs."""
    return _job_runner(str(inference.runs_dir().resolve()))


def clear_job_runners() -> None:
    """Forget the process's runners (without stopping their jobs): the next job_runner() builds a new one
    from the settings as they are then (a test that changes the Ray address, say)."""
    _job_runner.clear()


def close_job_runners(wait: float = 10.0) -> None:
    """Stop every run of this process's runners and write their status files (the server is stopping)."""
    for runner in _MADE:
        runner.close(wait)


def runner_ui() -> jobs.JobRunner:
    """The runner, refreshed from the runs folder, with what the page should say about it: a Ray address
    that cannot be used, each unreadable file (named, never fatal). Stops the page if the folder is unusable."""
    try:
        runner = job_runner()
        runner.refresh()
    except OSError as exc:
        st.error(
            f"The runs folder cannot be used ({problem(exc)}). Set MNIST_RUNS_DIR to a writable folder and restart."
        )
        st.stop()
    if runner.backend_warning:  # Ray was asked for ($MNIST_LAB_RAY_ADDRESS) but cannot be used
        st.warning(runner.backend_warning)
    for file, why in runner.unreadable.items():
        st.warning(f"Not listed: {plain(file)}: unreadable: {plain(why.split(': ', 1)[-1])}")
    return runner


def stop_run(job_id: str) -> None:
    """The Stop button's callback: stop that run if this visitor started it, or they are the operator (the
    runner checks)."""
    runner = job_runner()
    if runner.stop(job_id, owner=acting_as()):
        job = runner.get(job_id)
        if job is not None:
            job.wait(1.5)  # the loop sees the flag within a step; show the final status at once


def missing_data_help(dataset: str = "mnist") -> str:
    """What is missing and the ways to provide it, as Markdown."""
    folder = data.DATASETS[dataset][1]
    raw = shown_path(data.raw_dir(dataset), "the folder MNIST_DATA_DIR names")
    files = "\n".join(f"  - `{f}`" for f in data.RAW_FILES)
    return (
        f"**{folder} is not on this machine.** Looked for it in {raw}. To provide it, either\n"
        f"- set the environment variable `MNIST_DATA_DIR` to a folder that holds `{folder}/raw/` and restart "
        f"the app, or\n- place these four files (unzipped) in {raw}:\n{files}\n\n"
        "With an internet connection it is downloaded there automatically when a run starts; without one, "
        "the run fails with this message. Drawing and comparing the shipped models still work."
    )


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    return f"{seconds // 60}:{seconds % 60:02d}"


def run_status_ui(job: jobs.Job, s: dict, runner: jobs.JobRunner) -> None:
    """One line on where the run is (s: its snapshot): a progress bar while it trains or is measured, its
    place in the queue, or how it ended."""
    status, acc = s["status"], s["test_accuracy"]
    if status == RunStatus.RUNNING and s["kind"] == jobs.EVALUATE:
        st.progress(
            s["progress"],
            text=f"Measuring the uploaded model on the test set: batch {s['step']} / {s['total_steps'] or '?'}",
        )
    elif status == RunStatus.RUNNING and s["stop_requested"]:
        st.info("Stopping: the model is being measured on the test set, then saved.")
    elif status == RunStatus.RUNNING:
        eta = f"{duration(s['eta_seconds'])} left" if s["eta_seconds"] is not None else "starting"
        st.progress(
            s["progress"],
            text=f"epoch {s['epoch']:.2f} / {s['config']['epochs']} · step {s['step']} / "
            f"{s['total_steps'] or '?'} · {eta}",
        )
    elif status == RunStatus.QUEUED and s["kind"] == jobs.EVALUATE:
        st.info("Queued: the uploaded model waits for its turn to be measured on the test set.")
    elif status == RunStatus.QUEUED:
        pos = runner.queue_position(job)
        where = f"number {pos} in line" if pos else "waiting for its turn"
        st.info(f"Queued: {where} on {jobs.device_queue(job.config).upper()} ({runner.describe_backend()}).")
    elif status == RunStatus.FINISHED and (s["kind"] == jobs.EVALUATE or acc is None):
        (st.success if acc is not None else st.info)(f"Uploaded model: {plain(s['message'])}.")
    elif status == RunStatus.FINISHED:
        st.success(f"Finished: test accuracy **{acc:.2%}**. Saved as {name_md(s['name'])} in the runs folder.")
    elif status == RunStatus.STOPPED:
        st.info(f"Stopped: {plain(s['message'])}")
    elif status in (RunStatus.DIVERGED, RunStatus.FAILED):
        st.error(f"{status.capitalize()}: {plain(s['message'])}")
    else:
        st.warning(f"Interrupted: {plain(s['message'])}")


def run_metrics_ui(s: dict) -> None:
    """Speed, smoothed loss, test accuracy and time of a run (s: its snapshot)."""
    acc = s["test_accuracy"]
    m1, m2, m3, m4 = st.columns(4)
    m1.metric("Images / s", f"{s['images_per_sec']:,.0f}" if s["images_per_sec"] else "-")
    m2.metric("Loss (smoothed)", f"{smooth([p[2] for p in s['steps']])[-1]:.4f}" if s["steps"] else "-")
    m3.metric("Test accuracy", f"{acc:.2%}" if acc is not None else "-")
    m4.metric("Time", duration(s["elapsed"]))


def stop_ui(job: jobs.Job) -> None:
    """Stop, for the visitor who started the run (or the operator) only; others are told whose it is."""
    if job.active and not job.foreign and job.stoppable_by(acting_as()):
        # the callback stops the run whose id was fixed when this very button was drawn
        if st.button(
            "Stop",
            key=f"stop_{job.id}",
            type="primary",
            on_click=stop_run,
            args=(job.id,),
            help="Ends the run after the current step and keeps its model: as evaluated at the last "
            "epoch's end, or, before the first one ends, measured on the test set as it is and saved",
        ):
            st.rerun()
    elif job.active:
        st.caption("Started by another visitor: only they (or the lab's operator) can stop it.")


def runs_table(all_jobs: list[jobs.Job]) -> pd.DataFrame:
    """The runs table: name, architecture, dataset, status, accuracy, start and who started it."""
    rows = [j.summary() for j in all_jobs]
    return pd.DataFrame(
        [
            {
                "run": r["name"],
                "architecture": r["arch"],
                "dataset": r["dataset"],
                "status": r["status"],
                "test accuracy": f"{r['test_accuracy']:.2%}"
                if r["test_accuracy"] is not None
                else ("claimed" if r["uploaded"] else ""),
                "started": time.strftime("%Y-%m-%d %H:%M", time.localtime(r["started"] or r["created"])),
                "started by": owner_label(r["owner"]),
            }
            for r in rows
        ]
    )
