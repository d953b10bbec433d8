"""What each command of `python -m mnist_core` does (its parser is mnist_core.cli; `archs`, which needs no
torch, is there too). Imported by mnist_core.__main__ only once the arguments ask for one of these."""

from __future__ import annotations

import json
import shlex
import sqlite3
import sys
import time
from pathlib import Path

from . import (
    checkpoints,
    cli,
    data,
    drawings,
    evaluation,
    inference,
    measure,
    owners,
    public,
    recipes,
    settings,
    shipping,
)
from .config import TrainConfig
from .drawings import label_name
from .events import Event, EventKind, RunStatus
from .models import ARCHS
from .training import train


def _progress(json_mode: bool):
    """A one-line progress bar on a terminal; nothing when piped or in --json mode."""
    tty = sys.stderr.isatty() and not json_mode

    def on_event(e: Event) -> None:
        if e["type"] == EventKind.STEP and tty:
            done = e["step"] / e["total_steps"]
            bar = "#" * int(done * 30)
            sys.stderr.write(
                f"\r[{bar:<30}] {e['step']}/{e['total_steps']} loss {e['loss']:.4f} {e['images_per_sec']:.0f} img/s"
            )
        elif e["type"] == EventKind.EPOCH and not json_mode:
            sys.stderr.write(("\n" if tty else "") + _epoch_line(e))

    return on_event


def _epoch_line(e: dict) -> str:
    """One evaluation (an epoch event, or a row of a run's epochs), as the command line prints it."""
    return (
        f"epoch {e['epoch']:g}: train acc {e['train_accuracy']:.4f}  test loss {e['test_loss']:.4f}  "
        f"test acc {e['test_accuracy']:.4f}  {e['seconds']:.1f} s\n"
    )


def _check_data_dir(args) -> None:
    """An explicit --data-dir that does not exist is a typo: fail before anything creates it."""
    if args.data_dir and not Path(args.data_dir).is_dir():
        dataset = getattr(args, "dataset", None) or "mnist"
        try:
            data.load(dataset, train=True, root=args.data_dir, download=False)
        except data.DataUnavailable as exc:
            raise data.DataUnavailable(
                f"--data-dir {args.data_dir} does not exist (create it to download there). {exc}"
            ) from None


def cmd_train(args) -> int:
    cfg = cli.config_from_args(args)
    _check_data_dir(args)
    name = args.name or f"{cfg.arch}-{time.strftime('%Y%m%d-%H%M%S')}"
    if args.ray:
        args.ray = cli.ray_address(args.ray)
        return _train_on_ray(cfg, args, name)
    out = Path(args.out) if args.out else checkpoints.path_in(inference.runs_dir(), name)
    result = train(cfg, data_root=args.data_dir, on_event=_progress(args.json))
    saved = None
    if result.usable:
        command = shlex.join(["python", "-m", "mnist_core", *sys.argv[1:]])
        saved = result.save(out, name=name, extra={"command": command})
    evaluated = result.history.get("epochs") or [{}]
    return _train_summary(
        args,
        cfg,
        result.status,
        result.message,
        result.test_accuracy,
        result.train_seconds,
        evaluated[-1].get("epoch", 0.0),
        (result.history.get("steps") or [[0]])[-1][0],
        result.device,
        saved,
    )


def _train_summary(args, cfg, status, message, accuracy, seconds, epochs, steps, device, saved) -> int:
    summary = {
        "arch": cfg.arch,
        "status": status,
        "message": message,
        "test_accuracy": accuracy,
        "train_seconds": round(seconds, 2),
        "epochs": epochs,  # what ran (a fraction after --max-steps)
        "epochs_planned": cfg.epochs,
        "steps": steps,
        "device": device,
        "path": str(saved) if saved else None,
    }
    if args.json:
        print(json.dumps(summary))
    else:
        acc = f"{accuracy:.4f}" if accuracy is not None else "n/a"
        said = f"; saved to {saved}" if saved else f" ({message})"
        print(f"{status}: test accuracy {acc} in {seconds:.1f} s{said}")
    return 0 if status == RunStatus.FINISHED else 1


def _train_on_ray(cfg: TrainConfig, args, name: str) -> int:
    """train --ray: the run goes to the Ray cluster as the app's runs do (into the runs folder, or --out's
    folder under --out's name), and this command follows it to its end; Ctrl-C stops it."""
    from . import jobs

    out = Path(args.out) if args.out else None
    runner = jobs.JobRunner(out.parent if out else None, ray_address=args.ray)
    if runner.backend_warning:
        runner.close()
        raise SystemExit(f"error: {runner.backend_warning.split(': ', 1)[-1]}")
    job = runner.submit(cfg, out.stem if out else name, data_root=args.data_dir)
    print(f"queued on {runner.describe_backend()} as {job.name}", file=sys.stderr)
    shown = 0
    try:
        while not job.wait(1.0):
            shown = _print_epochs(job.snapshot()["epochs"], shown, args.json)
    except KeyboardInterrupt:
        runner.stop(job.id, owners.ANYONE)
        job.wait(120)
    s = job.snapshot()
    _print_epochs(s["epochs"], shown, args.json)
    runner.close()
    last = s["epochs"][-1] if s["epochs"] else {}
    return _train_summary(
        args,
        cfg,
        s["status"],
        s["message"],
        s["test_accuracy"],
        last.get("seconds", s["elapsed"]),
        last.get("epoch", 0.0),
        s["step"],
        s["device"],
        s["checkpoint"],
    )


def _print_epochs(epochs: list[dict], shown: int, json_mode: bool) -> int:
    for e in epochs[shown:]:
        if not json_mode:
            sys.stderr.write(_epoch_line(e))
    return len(epochs)


def cmd_evaluate(args) -> int:
    _check_data_dir(args)
    """The test accuracy of the network read once (what training stores and Compare shows) and, for a model
    the Draw page reads in several views (inference.TTA_VIEWS), the accuracy of those views averaged."""
    predictor = inference.load_model(args.model)
    split = data.load(predictor.meta.get("dataset", "mnist"), train=False, root=args.data_dir)
    once = inference.Predictor(predictor.model, predictor.meta, predictor.name, predictor.path, tta=False)
    accuracy = evaluation.evaluate(once, split.images, split.labels)["accuracy"]
    views = evaluation.evaluate(predictor, split.images, split.labels)["accuracy"] if predictor.tta else None
    out = {
        "model": str(args.model),
        "arch": predictor.arch,
        "test_accuracy": accuracy,  # the network read once
        "test_accuracy_views": views,  # the Draw page's views averaged (None for a model read once there too)
        "stored_test_accuracy": predictor.test_accuracy,
    }
    said = f"{predictor.arch}: test accuracy {accuracy:.4f}, the network read once (as Compare and training report it)"
    if views is not None:
        said += f"; {views:.4f} with the {len(inference.TTA_VIEWS)} views the Draw page averages"
    print(json.dumps(out) if args.json else said)
    return 0


def keep(path: Path, data_dir) -> None:
    """Keep a shipped checkpoint's measurements beside it (Compare shows them without measuring), or say why not."""
    try:
        print(f"kept {measure.keep_measurements(path, data_dir).name}", flush=True)
    except (data.DataUnavailable, OSError) as exc:
        print(f"{path.stem}'s measurements not kept (Compare measures it when first shown): {exc}", file=sys.stderr)


def cmd_pretrain(args) -> int:
    _check_data_dir(args)
    out_dir = Path(args.out_dir or settings.SHIPPED_DIR)
    if args.measurements_only:
        try:
            written = measure.keep_shipped(
                out_dir,
                args.data_dir,
                on_progress=lambda i, n, name: print(f"measuring {name} ({i + 1} of {n})", flush=True),
            )
        except (data.DataUnavailable, checkpoints.CheckpointError, OSError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"kept the measurements of {len(written)} model(s) in {out_dir}")
        return 0
    archs = args.arch or list(ARCHS)
    print("| architecture | epochs | seconds | test accuracy | tutorial reported |")
    print("|---|---|---|---|---|")
    ok = True
    for arch in archs:
        cfg, result, path = shipping.pretrain_one(arch, args.data_dir, out_dir, _progress(True))
        ok &= path is not None
        if path is not None:
            keep(path, args.data_dir)
        acc = f"{100 * result.test_accuracy:.2f}%" if result.test_accuracy is not None else result.status
        print(f"| {arch} | {cfg.epochs} | {result.train_seconds:.0f} | {acc} | {ARCHS[arch].reported} |", flush=True)
    return 0 if ok else 1


def store_fault(exc: BaseException) -> int:
    """A drawings database that cannot be used (damaged, read-only, a full disk): said in words, exit 1."""
    where = settings.runs_dir() / drawings.DB_NAME
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    low = text.lower()
    if isinstance(exc, OSError):
        said = public.disk_problem(exc, f"the drawings database's folder ({where.parent})", folder=where.parent)
    elif "readonly" in low or "read-only" in low:
        said = f"the drawings database {where} is read-only (or its folder is): nothing was changed"
    elif "disk is full" in low or "disk full" in low:
        said = f"{public.FULL}: the drawings database {where} could not be written, nothing was changed"
    elif isinstance(exc, drawings.StoreError):
        said = text
    else:
        said = f"the drawings database {where} cannot be used ({text})"
    print(f"error: {said}", file=sys.stderr)
    return 1


def cmd_collection(args) -> int:
    """collection list | export NAME [FILE] | import NAME FILE: the user's kept drawings. A database that
    cannot be opened or written (damaged, read-only, a full disk) is said in words, exit code 1."""
    try:
        store = drawings.DrawingStore()
    except (drawings.StoreError, sqlite3.Error, OSError) as exc:
        return store_fault(exc)
    try:
        return _collection(args, store)
    except sqlite3.Error as exc:
        return store_fault(exc)


def _collection(args, store) -> int:
    if args.action == "list":
        found = store.collections()
        for name, n in found.items():
            counts = store.counts(name)
            print(f"{name}: {n} drawings (" + ", ".join(f"{label_name(d)}: {k}" for d, k in counts.items()) + ")")
        if not found:
            print(f"no collections yet in {store.path}")
        return 0
    if not args.name:
        raise ValueError(f"collection {args.action} needs the collection's name")
    if args.action == "export":
        out = Path(args.file or f"{args.name}.zip")
        if args.name not in store.collections():
            raise ValueError(f"there is no collection {args.name!r} in {store.path}")
        out.write_bytes(store.export_zip(args.name))
        print(f"exported {args.name} to {out}")
        return 0
    if not args.file:
        raise ValueError("collection import needs the ZIP file: collection import NAME FILE")
    print(f"imported {store.import_zip(args.name, Path(args.file).read_bytes())} drawings into {args.name}")
    return 0


def cmd_finetune(args) -> int:
    """Fine-tune a model on a collection: a new checkpoint "MODEL + COLLECTION" in the runs folder."""
    _check_data_dir(args)
    start = inference.resolve(args.start)
    arch = checkpoints.read(start)["arch"]
    steps = {"max_steps": args.max_steps} if args.max_steps else {}
    cfg = recipes.finetune(str(start), arch, args.collection, **steps)
    try:
        result = train(cfg, data_root=args.data_dir, on_event=_progress(args.json))
    except (drawings.StoreError, sqlite3.Error) as exc:  # the collection's database cannot be read
        return store_fault(exc)
    name = base = checkpoints.safe_name(f"{Path(args.start).stem} + {args.collection}")
    for k in range(2, 1000):  # a new model: never over an existing run or the model it started from
        if not checkpoints.path_in(inference.runs_dir(), name).exists():
            break
        name = f"{base}-{k}"
    saved = (
        result.save(
            Path(args.out) if args.out else checkpoints.path_in(inference.runs_dir(), name),
            name=name,
            extra={"command": shlex.join(["python", "-m", "mnist_core", *sys.argv[1:]])},
        )
        if result.usable
        else None
    )
    seen = result.data_seen.get("collection", {})
    summary = {
        "from": args.start,
        "collection": args.collection,
        "status": result.status,
        "message": result.message,
        "test_accuracy": result.test_accuracy,
        "test_accuracy_before": seen.get("mnist_before"),
        "held_out_accuracy": seen.get("held_out_after"),
        "held_out_accuracy_before": seen.get("held_out_before"),
        "held_out": seen.get("held_out"),
        "train_seconds": round(result.train_seconds, 2),
        "path": str(saved) if saved else None,
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(
            f"{result.status}: held-out {summary['held_out_accuracy_before']} -> {summary['held_out_accuracy']}, "
            f"MNIST test {summary['test_accuracy_before']} -> {result.test_accuracy}"
            + (f"; saved to {saved}" if saved else f" ({result.message})")
        )
    return 0 if result.status == RunStatus.FINISHED else 1


def cmd_bench(args) -> int:
    print(f"{'model':<24} {'arch':<15} {'latency ms':>10}")
    for name in inference.list_models():
        try:
            p = inference.load_model(name)
        except (checkpoints.CheckpointError, ValueError) as exc:
            print(f"{name:<24} skipped: {exc}")
            continue
        print(f"{name:<24} {p.arch:<15} {p.latency_ms():>10.3f}")
    return 0


COMMANDS = {
    "train": cmd_train,
    "evaluate": cmd_evaluate,
    "pretrain": cmd_pretrain,
    "bench": cmd_bench,
    "collection": cmd_collection,
    "finetune": cmd_finetune,
}


def run(args) -> int:
    """Run the parsed command: an error the user can act on is one line and exit code 2."""
    try:
        return COMMANDS[args.command](args)
    except (data.DataUnavailable, checkpoints.CheckpointError, drawings.StoreError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
