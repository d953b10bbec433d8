"""Compare: every model side by side; curves, confusion matrices, mistakes; download and upload.

All measuring happens in mnist_core.measure and mnist_core.evaluation, once per checkpoint, cached on disk.
"""

from pathlib import Path

import streamlit as st

import lab_ui
from lab_ui import comparison
from mnist_core import checkpoints, compare, inference, jobs, measure, runs, uploads

st.title("Compare models")
st.caption("Which architecture is best, and why: accuracy, speed, and the digits each one gets wrong.")


def manage_ui(rows: list[dict]) -> None:
    """Rename or delete one of the visitor's runs (never a shipped model, another visitor's run, or a queued or
    running job); the operator may change any run."""
    runner, by = lab_ui.job_runner(), lab_ui.acting_as()
    changeable = {j.name for j in runner.jobs() if not j.active and runner.may_change(j, by)}
    mine = {r["name"]: r for r in rows if r["source"] == "run" and Path(r["path"]).stem in changeable}
    flash = st.session_state.pop("cmp_flash", None)
    if mine or flash:
        st.subheader("Your runs: rename or delete")
    if flash:
        (st.success if flash[0] else st.error)(flash[1])
    if not mine:
        return
    name = st.selectbox(
        "Run",
        list(mine),
        key="cmp_manage_run",
        help="Your finished runs (shipped models, other visitors' runs and runs still queued or running are "
        "not offered)",
    )
    st.caption(f"{lab_ui.name_md(name)}: {compare.settings_text(mine[name])}")
    stem = Path(mine[name]["path"]).stem
    left, right = st.columns(2)
    left.text_input("New name", key="cmp_new_name", max_chars=runs.NAME_LEN)
    left.button("Rename", key="cmp_rename", on_click=_manage, args=("rename", name, stem))
    sure = right.checkbox("Delete it for good (its checkpoint and its record)", key=f"cmp_sure_{stem}")
    right.button("Delete", key="cmp_delete", disabled=not sure, on_click=_manage, args=("delete", name, stem))


def _manage(action: str, name: str, stem: str) -> None:
    """The Rename and Delete buttons' callback (runs before the page, so the table below shows the result)."""
    try:
        if action == "rename":
            new = (
                lab_ui.job_runner()
                .rename_run(stem, st.session_state.get("cmp_new_name", ""), by=lab_ui.acting_as())
                .stem
            )
            st.session_state["cmp_pick"] = [new if n == name else n for n in st.session_state.get("cmp_pick", [])]
            st.session_state["cmp_new_name"], st.session_state["cmp_manage_run"] = "", new
            st.session_state["cmp_flash"] = (True, f"Renamed {lab_ui.name_md(name)} to {lab_ui.name_md(new)}.")
        else:
            lab_ui.job_runner().delete_run(stem, by=lab_ui.acting_as())
            st.session_state.pop(f"cmp_sure_{stem}", None)
            st.session_state.pop("cmp_manage_run", None)
            st.session_state["cmp_flash"] = (True, f"Deleted {lab_ui.name_md(name)}.")
    except (ValueError, OSError) as exc:
        st.session_state["cmp_flash"] = (False, f"Not done: {lab_ui.problem(exc)}")


def files_ui(rows: list[dict]) -> None:
    left, right = st.columns(2)
    if rows:
        name = left.selectbox("Download a model", [r["name"] for r in rows], key="cmp_download_model")
        path = Path(next(r["path"] for r in rows if r["name"] == name))
        left.download_button(
            f"Download {path.name}",
            data=path.read_bytes,
            file_name=path.name,
            mime="application/octet-stream",
            on_click="ignore",
        )
    upload = right.file_uploader(
        "Upload a checkpoint made by MNIST Lab (.pt)",
        key="cmp_upload",
        help=f"Up to {uploads.UPLOAD_MAX_BYTES // 2**20} MB. Its accuracy is measured here on "
        "the test set, not taken from the file.",
    )
    done = st.session_state.setdefault("cmp_uploads", {})  # file_id -> (ok, message): each file once
    if upload is not None and upload.file_id not in done:
        shown = lab_ui.name_md(uploads.display_name(upload.name))
        try:
            saved = uploads.accept_upload(
                upload.name, upload.getvalue(), runner=lab_ui.job_runner(), owner=lab_ui.visitor_token()
            )
            job = next((j for j in lab_ui.job_runner().jobs() if j.path == saved), None)
            done[upload.file_id] = (
                True,
                f"{shown}: added as run {lab_ui.name_md(saved.stem)}; "
                + (
                    "its accuracy is being measured on the test set."
                    if job and job.active
                    else f"{lab_ui.plain(job.message) if job else 'its accuracy is only claimed'}."
                ),
            )
        except checkpoints.CheckpointError as exc:
            done[upload.file_id] = (False, f"Refused {lab_ui.problem(exc)}")
        except (OSError, ValueError) as exc:
            done[upload.file_id] = (False, f"{shown}: could not be saved ({lab_ui.problem(exc)})")
        if done[upload.file_id][0]:
            st.rerun()  # list the new model in the table above
    if upload is not None:
        ok, message = done[upload.file_id]
        (right.success if ok else right.error)(message)


entries = inference.model_entries()
progress = st.empty()  # a line while anything is measured (a new run; nothing of a shipped model but its latency)
rows, problems = measure.summaries(
    entries,
    on_progress=lambda k, n, name, what: progress.progress(
        (k - 1) / n, f"Measuring {lab_ui.name_md(name)} ({what}), once per checkpoint… {k} of {n}"
    ),
)
progress.empty()
for message in problems:
    file, _, why = message.partition(": ")
    st.warning(f"Not listed: {lab_ui.plain(file)}: unreadable: {lab_ui.plain(why)}")
if not rows:
    st.info("No models yet: train one on the Train page, or upload a checkpoint below.")
else:
    comparison.table_ui(rows)
    names = [r["name"] for r in rows]
    kept = [n for n in st.session_state.get("cmp_pick", []) if n in names]
    st.session_state["cmp_pick"] = kept if "cmp_pick" in st.session_state else comparison.first_picks(rows)
    chosen = st.multiselect("Models to compare", names, key="cmp_pick")
    picked = [r for r in rows if r["name"] in chosen]
    if picked:
        comparison.picked_ui(picked, comparison.colours(names))


def measuring_ui() -> None:
    """Progress of uploads being measured; one full rerun when the last ends (the table then shows it)."""
    active = [j for j in lab_ui.job_runner().active() if j.kind == jobs.EVALUATE]
    if not active and st.session_state.get("cmp_measuring"):
        st.session_state["cmp_measuring"] = False
        st.rerun()
    st.session_state["cmp_measuring"] = bool(active)
    for job in active:
        s = job.snapshot()
        st.progress(
            s["progress"],
            text=f"Measuring the upload **{s['name']}** on the test set "
            f"(batch {s['step']} / {s['total_steps'] or '?'})",
        )


measuring = any(j.kind == jobs.EVALUATE for j in lab_ui.job_runner().active())
st.fragment(measuring_ui, run_every=1.0 if measuring else None)()
manage_ui(rows)
st.subheader("Download and upload")
files_ui(rows)
