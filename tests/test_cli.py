"""The command line, run as users run it: `python -m mnist_core ...` in a subprocess.

Each subprocess gets a clean environment: no $MNIST_DATA_DIR (so the real data is never used by
accident), its own runs and models folders, one torch thread, and proxies pointing at a closed
local port so that a download attempt fails at once instead of waiting on the network.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mnist_core import checkpoints, drawings, recipes, training
from mnist_core.__main__ import main
from mnist_core.cli import config_from_args, parser
from mnist_core.config import TrainConfig
from mnist_core.models import ARCHS, get_arch
from mnist_core.models import build as models_build

ROOT = Path(__file__).resolve().parent.parent
DESIGN_NAMES = ["softmax", "mlp", "mlp_128_64", "mlp_128_256", "convnet", "lenet", "lstm", "simple_convnet", "cnn"]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens here once the socket is closed


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    """The working directory of the subprocesses (./data and ./runs resolve inside it)."""
    return tmp_path_factory.mktemp("cli")


def cli(home: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("MNIST_DATA_DIR", "no_proxy", "NO_PROXY") and not k.startswith("MNIST_")
    }
    dead = f"http://127.0.0.1:{closed_port()}"
    env.update(
        PYTHONPATH=str(ROOT),
        OMP_NUM_THREADS="1",
        MNIST_RUNS_DIR=str(home / "runs"),
        MNIST_MODELS_DIR=str(home / "models"),
        http_proxy=dead,
        https_proxy=dead,
        HTTP_PROXY=dead,
        HTTPS_PROXY=dead,
    )
    return subprocess.run(
        [sys.executable, "-m", "mnist_core", *args], cwd=home, env=env, capture_output=True, text=True, timeout=timeout
    )


def assert_clean_error(proc: subprocess.CompletedProcess, *needles: str) -> str:
    """Exit code 2, each needle in stderr, and no traceback."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout, proc.stderr
    for needle in needles:
        assert needle in proc.stderr, (needle, proc.stderr)
    return proc.stderr


@pytest.fixture(scope="module")
def trained(home, small_data_dir) -> tuple[Path, dict, subprocess.CompletedProcess]:
    """`train --arch softmax --epochs 1 --json` on the small data: (checkpoint, summary, process)."""
    out = home / "out" / "soft.pt"
    proc = cli(
        home,
        "train",
        "--arch",
        "softmax",
        "--epochs",
        "1",
        "--data-dir",
        str(small_data_dir),
        "--out",
        str(out),
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    return out, summary, proc


def test_archs_lists_the_nine_architectures(home):
    proc = cli(home, "archs")
    assert proc.returncode == 0, proc.stderr
    rows = proc.stdout.strip().splitlines()
    assert rows[0].split()[:2] == ["name", "params"]
    assert [row.split()[0] for row in rows[1:]] == DESIGN_NAMES
    for row in rows[1:]:
        name, params = row.split()[:2]
        assert int(params.replace(",", "")) == get_arch(name).params


# The command line answers --help, a typo and `archs` before it imports torch (seconds on a busy machine):
# torch is made unimportable in the subprocess, so any import of it fails the command.
NO_TORCH = (
    "import runpy, sys\n"
    "sys.modules['torch'] = None  # `import torch` raises ImportError\n"
    "sys.argv = ['mnist_core', *sys.argv[1:]]\n"
    "runpy.run_module('mnist_core', run_name='__main__', alter_sys=True)\n"
)


def cli_without_torch(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MNIST_")}
    env.update(PYTHONPATH=str(ROOT), MNIST_MODELS_DIR=str(home / "models"), MNIST_RUNS_DIR=str(home / "runs"))
    return subprocess.run(
        [sys.executable, "-c", NO_TORCH, *args], cwd=home, env=env, capture_output=True, text=True, timeout=60
    )


def test_the_parser_imports_without_torch():
    code = "import sys; import mnist_core.cli as c; c.parser(); assert 'torch' not in sys.modules, 'torch'"
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize(
    "args, code, said",
    [
        (["--help"], 0, "archs"),
        (["train", "--help"], 0, "cnn"),
        (["tarin"], 2, "invalid choice: 'tarin'"),
        (["train", "--arch", "lenet5"], 2, "did you mean 'lenet'?"),
        (["archs"], 0, "simple_convnet"),
    ],
)
def test_help_a_typo_and_archs_answer_without_torch(home, args, code, said):
    proc = cli_without_torch(home, *args)
    assert proc.returncode == code and "Traceback" not in proc.stderr, proc.stderr
    assert said in proc.stdout + proc.stderr


def test_train_json_reports_accuracy_and_writes_the_checkpoint(trained, small_data_dir):
    out, summary, proc = trained
    assert proc.stdout.strip().splitlines() == [proc.stdout.strip()], "--json prints one JSON line only"
    assert isinstance(summary["test_accuracy"], float) and 0.0 <= summary["test_accuracy"] <= 1.0
    assert isinstance(summary["train_seconds"], (int, float)) and summary["train_seconds"] >= 0
    assert summary["status"] == "finished" and summary["arch"] == "softmax" and summary["epochs"] == 1
    assert summary["path"] == str(out) and out.is_file()
    model, meta = checkpoints.load(out)
    assert meta["arch"] == "softmax" and meta["config"]["epochs"] == 1
    assert meta["metrics"]["test_accuracy"] == summary["test_accuracy"]
    assert "train --arch softmax --epochs 1" in meta["extra"]["command"]
    runs = out.parent.parent / "runs"
    assert not runs.exists() or not list(runs.iterdir()), "--out was given: nothing goes to the runs folder"


def test_evaluate_reproduces_the_stored_accuracy(home, trained, small_data_dir):
    out, summary, _ = trained
    proc = cli(home, "evaluate", str(out), "--data-dir", str(small_data_dir), "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["arch"] == "softmax" and result["model"] == str(out)
    assert result["test_accuracy"] == result["stored_test_accuracy"] == summary["test_accuracy"]


def test_bad_architecture_is_a_clean_error(home, small_data_dir):
    proc = cli(home, "train", "--arch", "resnet50", "--epochs", "1", "--data-dir", str(small_data_dir))
    err = assert_clean_error(proc, "unknown architecture 'resnet50'", ", ".join(ARCHS))
    assert "did you mean" not in err and "usage:" not in err  # one line that says what is wrong


def test_a_near_miss_architecture_gets_the_nearest_name(home):
    proc = cli(home, "train", "--arch", "lenet5")
    assert_clean_error(proc, "unknown architecture 'lenet5'; did you mean 'lenet'?")
    assert "usage:" not in proc.stderr


@pytest.mark.parametrize("typed", ["CNN", "Cnn", " lenet "])
def test_architecture_names_are_case_insensitive(typed):
    assert parser().parse_args(["train", "--arch", typed]).arch == typed.strip().lower()
    assert parser().parse_args(["pretrain", "--arch", typed]).arch == [typed.strip().lower()]


def test_train_help_shows_every_default(home):
    proc = cli(home, "train", "--help")
    assert proc.returncode == 0, proc.stderr
    options = [
        a
        for a in parser()._subparsers._group_actions[0].choices["train"]._actions
        if a.option_strings and a.dest not in ("help", "json", "tutorial")
    ]
    text = " ".join(proc.stdout.split())
    for action in options:
        assert action.help and "default" in action.help, action.dest
    for name in ARCHS:  # the recipe each architecture's unset hyperparameters come from
        cfg = recipes.recommended(name)
        assert f"{name} epochs={cfg.epochs} optimizer={cfg.optimizer} lr={cfg.lr}" in text


def test_max_steps_json_reports_what_ran(home, small_data_dir, tmp_path):
    proc = cli(
        home,
        "train",
        "--arch",
        "softmax",
        "--max-steps",
        "4",
        "--data-dir",
        str(small_data_dir),
        "--out",
        str(tmp_path / "four.pt"),
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    steps_per_epoch = -(-1200 // recipes.recommended("softmax").batch_size)
    assert summary["steps"] == 4 and summary["epochs_planned"] == recipes.recommended("softmax").epochs
    assert summary["epochs"] == pytest.approx(4 / steps_per_epoch, abs=1e-3)


def test_a_mistyped_data_dir_creates_nothing(home, tmp_path):
    typo = tmp_path / "shraed" / "data"
    for args in (["train", "--arch", "softmax"], ["evaluate", "softmax"], ["pretrain", "--arch", "softmax"]):
        proc = cli(home, *args, "--data-dir", str(typo))
        assert_clean_error(proc, f"--data-dir {typo} does not exist", "MNIST_DATA_DIR")
        assert not (tmp_path / "shraed").exists(), args


def test_archs_table_is_aligned(home):
    rows = cli(home, "archs").stdout.rstrip("\n").splitlines()
    header = rows[0]
    for column in ("params", "tutorial reported", "description"):
        at = header.index(column)
        for row in rows[1:]:  # every cell starts (or, for params, ends) where its header does
            if column == "params":
                end = at + len(column)
                assert row[end - 1].isdigit() and row[end] == " ", row
            else:
                assert row[at - 2 : at] == "  " and row[at] != " ", (column, row)


def test_missing_data_dir_is_a_clean_error(home):
    nowhere = home / "no-such-data"
    proc = cli(home, "train", "--arch", "softmax", "--epochs", "1", "--data-dir", str(nowhere))
    err = assert_clean_error(proc, "MNIST is not available", str((nowhere / "MNIST" / "raw").resolve()))
    assert "MNIST_DATA_DIR" in err  # it says how to fix it
    assert not list(home.glob("runs/*.pt"))


def truncated_copy(small_data_dir: Path, tmp_path: Path, bad_file: str) -> Path:
    root = tmp_path / "data"
    shutil.copytree(small_data_dir / "MNIST", root / "MNIST")
    victim = root / "MNIST" / "raw" / bad_file
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 3])
    return root


def partner_of(idx_file: str) -> str:
    """The other file of an images/labels pair."""
    if "images" in idx_file:
        return idx_file.replace("images-idx3", "labels-idx1")
    return idx_file.replace("labels-idx1", "images-idx3")


def test_truncated_idx_file_is_a_clean_error_naming_it(home, small_data_dir, tmp_path):
    bad_file = "train-images-idx3-ubyte"
    root = truncated_copy(small_data_dir, tmp_path, bad_file)
    proc = cli(home, "train", "--arch", "softmax", "--epochs", "1", "--data-dir", str(root))
    err = assert_clean_error(proc, str(root / "MNIST" / "raw" / bad_file))
    assert partner_of(bad_file) not in err, "only the unreadable file is named"
    assert re.search(r"corrupt|truncated", err)


# The same error paths in-process: main() is what the subprocesses run, and these are quicker.


def run_main(capsys, *args: str) -> tuple[int, str, str]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        code = main(list(args))
    finally:
        torch.set_num_threads(before)
    out, err = capsys.readouterr()
    return code, out, err


def test_truncated_test_labels_are_named(small_data_dir, tmp_path, capsys):
    bad_file = "t10k-labels-idx1-ubyte"
    root = truncated_copy(small_data_dir, tmp_path, bad_file)
    code, _, err = run_main(capsys, "train", "--arch", "softmax", "--max-steps", "1", "--data-dir", str(root))
    assert code == 2 and err.startswith("error: ") and bad_file in err and partner_of(bad_file) not in err


@pytest.mark.parametrize(
    "flag, value, message",
    [
        ("--lr", "-1", "learning rate must be in (0, 10]"),
        ("--label-smoothing", "1", "label smoothing must be in [0, 1)"),
    ],
)
def test_bad_hyperparameter_is_a_clean_error(flag, value, message, small_data_dir, capsys):
    code, out, err = run_main(capsys, "train", "--arch", "softmax", flag, value, "--data-dir", str(small_data_dir))
    assert code == 2 and err == f"error: {message}\n" and out == ""


def test_train_flags_override_the_chosen_recipe():
    args = parser().parse_args(["train", "--arch", "cnn", "--tutorial", "--label-smoothing", "0.2", "--lr", "0.03"])
    assert config_from_args(args) == recipes.tutorial("cnn", label_smoothing=0.2, lr=0.03)
    assert config_from_args(parser().parse_args(["train"])) == recipes.recommended("cnn")


def test_corrupt_checkpoint_is_a_clean_error_naming_it(tmp_path, small_data_dir, capsys):
    bad = tmp_path / "broken-model.pt"
    bad.write_bytes(b"\x00" * 1000)
    code, _, err = run_main(capsys, "evaluate", str(bad), "--data-dir", str(small_data_dir))
    assert code == 2 and err.startswith("error: broken-model.pt: not a readable checkpoint")


def test_unknown_model_name_is_a_clean_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MNIST_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("MNIST_MODELS_DIR", str(tmp_path / "models"))
    code, _, err = run_main(capsys, "evaluate", "no-such-model")
    assert code == 2 and "no model named 'no-such-model'" in err


def test_a_label_of_200_in_the_operators_idx_files_is_a_clean_error(small_data_dir, tmp_path, capsys):
    from test_data import labels_of_200

    root, relative = labels_of_200(small_data_dir, tmp_path)
    code, _, err = run_main(capsys, "train", "--arch", "softmax", "--max-steps", "1", "--data-dir", str(root))
    assert code == 2 and err.startswith("error: ") and relative in err and "outside 0-9" in err


def assert_store_fault(code: int, out: str, err: str, *needles: str) -> None:
    """Exit code 1, one line that says what is wrong with the drawings database, no traceback."""
    assert code == 1 and err.startswith("error: ") and "Traceback" not in err + out, (code, out, err)
    for needle in needles:
        assert needle in err, (needle, err)


def test_a_malformed_drawings_database_is_a_clean_error_for_collection_and_finetune(runs_dir, small_data_dir, capsys):
    (runs_dir / drawings.DB_NAME).write_bytes(b"SQLite format 3\x00" + b"\xff" * 5000)  # a damaged file
    assert_store_fault(*run_main(capsys, "collection", "list"))
    assert_store_fault(*run_main(capsys, "collection", "import", "mine", str(runs_dir / "x.zip")))
    base = training.train(
        TrainConfig(arch="softmax", epochs=1, batch_size=100, max_steps=2, train_limit=200), data_root=small_data_dir
    ).save(runs_dir.parent / "base.pt")
    code, out, err = run_main(
        capsys,
        "finetune",
        "--from",
        str(base),
        "--collection",
        "mine",
        "--max-steps",
        "1",
        "--data-dir",
        str(small_data_dir),
    )
    assert_store_fault(code, out, err)


@pytest.mark.parametrize(
    "fault, said",
    [("attempt to write a readonly database", "is read-only"), ("database or disk is full", "the disk is full")],
)
def test_a_read_only_or_full_drawings_database_is_a_clean_error(runs_dir, tmp_path, capsys, monkeypatch, fault, said):
    from mnist_core.drawings import DrawingStore

    def refused(*args, **kwargs):
        raise sqlite3.OperationalError(fault)

    DrawingStore(runs_dir).collections()  # a healthy database...
    for method in ("collections", "import_zip", "export_zip"):
        monkeypatch.setattr(DrawingStore, method, refused)  # ...that cannot be written now
    assert_store_fault(*run_main(capsys, "collection", "list"), said)
    (tmp_path / "in.zip").write_bytes(b"PK")
    assert_store_fault(*run_main(capsys, "collection", "import", "mine", str(tmp_path / "in.zip")), said)


def test_pretrain_writes_a_shipped_checkpoint_and_prints_a_table(home, small_data_dir, tmp_path):
    out_dir = tmp_path / "shipped"
    proc = cli(home, "pretrain", "--arch", "softmax", "--out-dir", str(out_dir), "--data-dir", str(small_data_dir))
    assert proc.returncode == 0, proc.stderr
    path = out_dir / "softmax.pt"
    # and the figures Compare shows, kept beside it (UNIPEN's benchmark writers come with the project)
    assert sorted(p.name for p in out_dir.iterdir()) == ["softmax.measurements.json", "softmax.pt"]
    assert "kept softmax.measurements.json" in proc.stdout
    model, meta = checkpoints.load(path)
    assert meta["name"] == "softmax" and meta["arch"] == "softmax"
    assert meta["extra"]["command"] == "python -m mnist_core pretrain --arch softmax"
    assert meta["extra"]["seed"] == recipes.PRETRAIN_SEED == meta["config"]["seed"]
    assert meta["extra"]["shipped"] is True
    assert meta["extra"]["versions"] == checkpoints.versions() == meta["versions"]
    recipe = recipes.RECOMMENDED["softmax"]
    assert {k: meta["config"][k] for k in recipe} == recipe and meta["config"]["device"] == "cpu"

    lines = [line for line in proc.stdout.strip().splitlines() if line.startswith("|")]
    assert lines[0] == "| architecture | epochs | seconds | test accuracy | tutorial reported |"
    assert lines[1] == "|---|---|---|---|---|"
    cells = [c.strip() for c in lines[2].strip("|").split("|")]
    assert len(lines) == 3 and cells[0] == "softmax" and cells[1] == str(recipe["epochs"])
    assert cells[3] == f"{100 * meta['metrics']['test_accuracy']:.2f}%"
    assert cells[4] == ARCHS["softmax"].reported


def test_a_diverging_run_exits_1_and_saves_nothing(small_data_dir, tmp_path, capsys, monkeypatch):
    # in-process (the same main() the subprocesses run): a run that diverges is reported, not saved
    monkeypatch.setenv("MNIST_RUNS_DIR", str(tmp_path / "runs"))
    out = tmp_path / "diverged.pt"
    code, stdout, _ = run_main(
        capsys,
        "train",
        "--arch",
        "mlp",
        "--optimizer",
        "sgd_momentum",
        "--lr",
        "10",
        "--schedule",
        "constant",
        "--no-augment",
        "--batch-size",
        "64",
        "--epochs",
        "1",
        "--data-dir",
        str(small_data_dir),
        "--out",
        str(out),
        "--json",
    )
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert code == 1 and summary["status"] == "diverged" and summary["path"] is None
    assert re.search(r"at step \d+", summary["message"]) and summary["test_accuracy"] is None
    assert not out.exists() and not (tmp_path / "runs").exists()


# --- the user's drawings: collection list / export / import, finetune (issue 17) ------------------
def test_collection_list_export_import_and_a_bad_import(home, tmp_path):
    import numpy as np
    from conftest import digit_image

    from mnist_core import preprocess
    from mnist_core.drawings import DrawingStore

    assert "no collections yet" in cli(home, "collection", "list").stdout
    store = DrawingStore(home / "runs")
    for d in (1, 1, 7):
        store.add("mine", d, preprocess(np.asarray(digit_image(d))), by=None)
    listed = cli(home, "collection", "list")
    assert listed.returncode == 0 and "mine: 3 drawings (0: 0, 1: 2" in listed.stdout and "7: 1" in listed.stdout
    out = tmp_path / "mine.zip"
    assert cli(home, "collection", "export", "mine", str(out)).returncode == 0 and out.is_file()
    imported = cli(home, "collection", "import", "copy", str(out))
    assert imported.returncode == 0 and "imported 3 drawings into copy" in imported.stdout
    assert store.counts("copy") == store.counts("mine")
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip")
    assert_clean_error(cli(home, "collection", "import", "copy", str(junk)), "not a ZIP")
    assert_clean_error(cli(home, "collection", "export", "nope"), "no collection 'nope'")
    assert store.collections() == {"copy": 3, "mine": 3}


def test_finetune_json_reports_before_and_after_and_saves_a_new_model(home, small_data_dir, trained):
    import numpy as np
    from conftest import digit_image

    from mnist_core import preprocess
    from mnist_core.drawings import DrawingStore

    base, _, _ = trained
    few = cli(home, "finetune", "--from", str(base), "--collection", "empty", "--data-dir", str(small_data_dir))
    assert_clean_error(few, "no drawings yet")
    store = DrawingStore(home / "runs")
    for k in range(5):
        for d in range(10):
            store.add("hand", d, preprocess(np.asarray(digit_image(d, width=14 + 3 * k))), by=None)
    proc = cli(
        home,
        "finetune",
        "--from",
        str(base),
        "--collection",
        "hand",
        "--max-steps",
        "20",
        "--data-dir",
        str(small_data_dir),
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    s = json.loads(proc.stdout.strip().splitlines()[-1])
    assert s["status"] == "finished" and s["held_out"] == 10 and s["collection"] == "hand"
    for k in ("test_accuracy", "test_accuracy_before", "held_out_accuracy", "held_out_accuracy_before"):
        assert 0 <= s[k] <= 1, k
    saved = Path(s["path"])
    assert saved.parent == (home / "runs").resolve() or saved.parent == home / "runs"
    assert saved.name == "soft_hand.pt" and checkpoints.read(saved)["config"]["collection"] == "hand"
    again = json.loads(
        cli(
            home,
            "finetune",
            "--from",
            str(base),
            "--collection",
            "hand",
            "--max-steps",
            "5",
            "--data-dir",
            str(small_data_dir),
            "--json",
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    assert Path(again["path"]).name == "soft_hand-2.pt"  # never over the first


def test_ray_alone_means_the_lab_setting_else_auto_read_when_the_command_runs(monkeypatch):
    from mnist_core.cli import ray_address

    given = parser().parse_args(["train", "--ray"]).ray
    assert ray_address(given) == "auto"
    monkeypatch.setenv("MNIST_LAB_RAY_ADDRESS", "ray://head:10001")
    assert ray_address(given) == "ray://head:10001"
    assert ray_address(parser().parse_args(["train", "--ray", "local"]).ray) == "local"
    assert parser().parse_args(["train"]).ray is None


def test_the_parser_builds_only_the_typed_commands_flags_and_parses_the_same():
    from mnist_core.cli import command_in

    assert command_in(["evaluate", "cnn"]) == "evaluate" and command_in(["--help"]) == command_in(["tarin"]) == ""
    subs = parser("evaluate")._subparsers._group_actions[0].choices
    assert not any(a.option_strings == ["--arch"] for a in subs["train"]._actions)
    for argv in (["evaluate", "cnn", "--json"], ["train", "--arch", "Lenet", "--lr", "0.1"], ["archs"]):
        assert parser(command_in(argv)).parse_args(argv) == parser().parse_args(argv)


def test_archs_says_what_the_shipped_models_are_without_torch(tmp_path):
    """The shipped cnn is 24 wide and 3 blocks deep with a "not a digit" output: `archs` reads that from its
    checkpoint (no torch imported), and the quick first run's size beside it; a shipped model at its
    architecture's own arguments adds no line."""
    (tmp_path / "models").mkdir()
    for arch, args in (("cnn", {"width": 24, "depth": 3, "classes": 11}), ("mlp", {"classes": 11}), ("softmax", {})):
        model = models_build(arch, args)
        checkpoints.save(tmp_path / "models" / f"{arch}.pt", model, arch, {"arch": arch}, {}, {})
    proc = cli_without_torch(tmp_path, "archs")
    assert proc.returncode == 0, proc.stderr
    extra = proc.stdout.strip().splitlines()[1 + len(ARCHS) :]
    assert extra == [
        "shipped mlp: an 11th 'not a digit' output, 669,184 parameters (the table counts it at ten outputs)",
        "  the quick first run trains ten outputs: 668,672 parameters",
        "shipped cnn: width 24, depth 3, an 11th 'not a digit' output, 82,739 parameters "
        "(the table counts it at width 16, depth 2)",
        "  the quick first run trains width 16, depth 2: 29,178 parameters",
    ]


def test_the_checkpoints_record_is_read_without_torch_and_nothing_else_is_trusted(tmp_path):
    import pickle
    import zipfile

    from mnist_core import peek

    shipped = {"width": 24, "depth": 3, "classes": 11}
    assert peek.recorded(ROOT / "models" / "cnn.pt") == {"arch": "cnn", "arch_args": shipped}
    assert peek.recorded(ROOT / "models" / "lenet.pt") == {"arch": "lenet", "arch_args": {}}

    def packed(payload) -> Path:
        path = tmp_path / f"p{len(list(tmp_path.iterdir()))}.pt"
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("archive/data.pkl", pickle.dumps(payload))
        return path

    fine = {"format": checkpoints.FORMAT, "arch": "cnn", "arch_args": {"width": 8}}
    assert peek.recorded(packed(fine)) == {"arch": "cnn", "arch_args": {"width": 8}}
    assert peek.recorded(packed({**fine, "hook": os.system})) is None  # a global other than torch's tensors
    assert peek.recorded(packed({**fine, "arch_args": {"width": 10_000}})) is None
    assert peek.recorded(packed({**fine, "arch": "resnet"})) is None
    assert peek.recorded(packed({**fine, "format": "other"})) is None
    (tmp_path / "junk.pt").write_bytes(b"not a zip")
    assert peek.recorded(tmp_path / "junk.pt") is None and peek.recorded(tmp_path / "none.pt") is None


def test_evaluate_without_data_or_internet_leaves_no_empty_data_folder(tmp_path):
    """torchvision makes data/MNIST/raw before its download starts: a failed download takes it away again."""
    proc = cli(tmp_path, "evaluate", str(ROOT / "models" / "softmax.pt"))
    assert_clean_error(proc, "MNIST is not available", "download failed")
    assert sorted(p.name for p in tmp_path.iterdir()) == [], list(tmp_path.rglob("*"))


def test_a_failed_download_removes_only_the_folders_it_made(tmp_path, monkeypatch, capsys):
    from torchvision import datasets

    from mnist_core import data

    monkeypatch.setattr(datasets.MNIST, "mirrors", [f"http://127.0.0.1:{closed_port()}/"])
    monkeypatch.setenv("MNIST_DATA_DIR", str(tmp_path / "empty" / "data"))
    code, _, err = run_main(capsys, "evaluate", str(ROOT / "models" / "softmax.pt"))
    assert code == 2 and "download failed" in err and not (tmp_path / "empty").exists()
    kept = tmp_path / "kept"
    (kept / "MNIST").mkdir(parents=True)
    (kept / "MNIST" / "notes.txt").write_text("the operator's")
    with pytest.raises(data.DataUnavailable, match="download failed"):
        data.load("mnist", train=False, root=kept)
    assert sorted(p.name for p in (kept / "MNIST").iterdir()) == ["notes.txt"]  # raw/ was made: it went again


def test_evaluate_says_which_reading_each_figure_is(tmp_path, small_data_dir, capsys):
    """Compare and training report the network read once; the Draw page averages four views for the models
    made for drawn input. evaluate prints the first as its test accuracy and names the second beside it."""
    from mnist_core import data, evaluation, inference

    path = checkpoints.save(tmp_path / "lenet.pt", models_build("lenet"), "lenet", {"arch": "lenet"}, {}, {})
    split = data.load("mnist", train=False, root=small_data_dir)
    once = evaluation.evaluate(inference.load_model(path, tta=False), split.images, split.labels)["accuracy"]
    views = evaluation.evaluate(inference.load_model(path), split.images, split.labels)["accuracy"]
    code, out, _ = run_main(capsys, "evaluate", str(path), "--data-dir", str(small_data_dir), "--json")
    result = json.loads(out)
    assert code == 0 and result["test_accuracy"] == once and result["test_accuracy_views"] == views
    code, out, _ = run_main(capsys, "evaluate", str(path), "--data-dir", str(small_data_dir))
    assert out == (
        f"lenet: test accuracy {once:.4f}, the network read once (as Compare and training report it); "
        f"{views:.4f} with the 4 views the Draw page averages\n"
    )
    soft = checkpoints.save(tmp_path / "soft.pt", models_build("softmax"), "softmax", {"arch": "softmax"}, {}, {})
    code, out, _ = run_main(capsys, "evaluate", str(soft), "--data-dir", str(small_data_dir))
    assert code == 0 and out.endswith("the network read once (as Compare and training report it)\n"), out


def same_figures(a, b) -> bool:
    """Whether two measurements (JSON: dicts, lists, numbers, text) are equal, their floats to a millionth."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_figures(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_figures(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, int | float) and isinstance(b, int | float) and math.isclose(a, b, rel_tol=1e-6)
    return a == b


def test_pretrain_measurements_only_keeps_the_shipped_figures_and_says_what_it_needs(capsys, real_data_dir, tmp_path):
    """`pretrain --measurements-only` trains nothing: it writes the figures Compare shows beside each shipped
    checkpoint that lacks them, and without MNIST's test set says so in a line (exit 1, no traceback)."""
    shutil.copy(ROOT / "models" / "softmax.pt", tmp_path / "softmax.pt")
    (tmp_path / "no-data").mkdir()
    code, out, err = run_main(
        capsys, "pretrain", "--measurements-only", "--out-dir", str(tmp_path), "--data-dir", str(tmp_path / "no-data")
    )
    assert code == 1 and err.startswith("error: ") and "MNIST" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["no-data", "softmax.pt"]
    code, out, err = run_main(
        capsys, "pretrain", "--measurements-only", "--out-dir", str(tmp_path), "--data-dir", str(real_data_dir)
    )
    assert code == 0, err
    assert "measuring softmax (1 of 1)" in out and "kept the measurements of 1 model(s)" in out
    kept = json.loads((tmp_path / "softmax.measurements.json").read_text())
    shipped = json.loads((ROOT / "models" / "softmax.measurements.json").read_text())
    # the same checkpoint measured again: the same figures (to a millionth: another CPU's float sums differ in the
    # ninth digit)
    assert same_figures(kept, shipped), (kept, shipped)
    code, out, err = run_main(
        capsys, "pretrain", "--measurements-only", "--out-dir", str(tmp_path), "--data-dir", str(real_data_dir)
    )
    assert code == 0 and "of 0 model(s)" in out  # already kept: nothing measured
