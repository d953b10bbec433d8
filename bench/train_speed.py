"""Training speed against the classic recipe, from one process (issue 2).

    python bench/train_speed.py [--data-dir DIR] [--device cpu|cuda|auto] [--seed 1] [--cnn-epochs 2]

(a) The pytorch/examples MNIST Net (conv 32 -> conv 64 -> maxpool -> dropout -> fc 128 -> dropout
    -> fc 10; Adadelta lr 1.0, batch 64) trained one epoch and tested, two ways:
      reference  as that example does it: torchvision's MNIST dataset with a per-sample
                 ToTensor + Normalize pipeline, a shuffling DataLoader, its train() and test();
      engine     mnist_core.training.train with the same network, optimizer, learning rate and
                 batch size: the data held in memory as uint8, batches cut by index and
                 normalised as whole tensors, evaluation in large batches in inference mode.
    Both times (training + testing), both test accuracies, and reference / engine.
    Then the floor: the same steps as a plain loop over batches cut from the whole set, normalised
    once before the clock starts, and the engine's test. That is the time of the network's own kernels
    (convolutions, optimizer), which no data pipeline or engine can remove, so reference / floor
    is the most any engine built on these kernels can gain on this machine.
(b) The seconds `cnn` (its one-epoch recipe: Adam, one-cycle, batch 64, label smoothing 0.1; or run
    for --cnn-epochs) needs to reach 99.0% test accuracy (measured at the end of each epoch, evaluation
    included), and their ratio to one epoch of the tutorial `convnet` recipe (SGD + momentum, batch
    100) in this process.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from mnist_core import data, recipes  # noqa: E402
from mnist_core.config import TrainConfig  # noqa: E402
from mnist_core.devices import resolve_device
from mnist_core.evaluation import loss_and_accuracy
from mnist_core.events import Event, EventKind  # noqa: E402
from mnist_core.training import train  # noqa: E402


class ExampleNet(nn.Module):
    """pytorch/examples mnist/main.py, as published."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = self.dropout2(x)
        return F.log_softmax(self.fc2(x), dim=1)


def reference_epoch(root: Path, device: torch.device, seed: int) -> tuple[float, float]:
    """(seconds, test accuracy) of one epoch + test, the way pytorch/examples does it."""
    from torchvision import datasets, transforms

    torch.manual_seed(seed)
    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    t0 = time.perf_counter()
    train_set = datasets.MNIST(root, train=True, download=False, transform=tf)
    test_set = datasets.MNIST(root, train=False, download=False, transform=tf)
    train_loader = torch.utils.data.DataLoader(train_set, batch_size=64, shuffle=True)
    test_loader = torch.utils.data.DataLoader(test_set, batch_size=1000)
    model = ExampleNet().to(device)
    optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)
    model.train()
    for x, y in train_loader:
        x, y = x.to(device), y.to(device)
        optimizer.zero_grad()
        loss = F.nll_loss(model(x), y)
        loss.backward()
        optimizer.step()
    model.eval()
    correct = 0
    with torch.no_grad():
        for x, y in test_loader:
            x, y = x.to(device), y.to(device)
            correct += (model(x).argmax(dim=1) == y).sum().item()
    scheduler.step()
    return time.perf_counter() - t0, correct / len(test_set)


def engine_epoch(root: Path, device: torch.device, seed: int) -> tuple[float, float]:
    """(seconds, test accuracy) of the same network, optimizer and batch size through train()."""
    torch.manual_seed(seed)
    model = ExampleNet()
    cfg = TrainConfig(
        arch="convnet",
        optimizer="adadelta",
        lr=1.0,
        schedule="constant",
        batch_size=64,
        epochs=1,
        init="default",
        augment=False,
        seed=seed,
        device=device.type,
        log_every=100,
    )
    t0 = time.perf_counter()
    result = train(cfg, data_root=root, model=model)
    return time.perf_counter() - t0, result.test_accuracy


def floor_epoch(root: Path, device: torch.device, seed: int) -> tuple[float, float]:
    """(seconds, test accuracy) of the Net's kernels alone: the engine's steps with nothing around them."""
    torch.manual_seed(seed)
    model = ExampleNet().to(device)
    optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0)
    train_split = data.load("mnist", train=True, root=root)
    x_train = data.normalize(train_split.images, device)  # before the clock, unlike any real run
    y_train = train_split.labels.to(device)
    perm = torch.randperm(len(y_train), generator=torch.Generator().manual_seed(seed)).to(device)
    t0 = time.perf_counter()
    model.train()
    for i in range(0, len(perm), 64):
        idx = perm[i : i + 64]
        optimizer.zero_grad()
        F.nll_loss(model(x_train[idx]), y_train[idx]).backward()
        optimizer.step()
    _, accuracy = loss_and_accuracy(model, data.load("mnist", train=False, root=root), device)  # the engine's test
    return time.perf_counter() - t0, accuracy


def seconds_to(arch: str, target: float | None, root: Path, device: torch.device, **overrides) -> tuple[float, float]:
    """(seconds, accuracy): the first epoch end at or above `target` (or the whole run without one)."""
    cfg = recipes.tutorial(arch, device=device.type, **overrides)
    reached: dict = {}

    def on_event(e: Event) -> None:
        if e["type"] == EventKind.EPOCH and target is not None and e["test_accuracy"] >= target and not reached:
            reached.update(seconds=e["seconds"], accuracy=e["test_accuracy"])

    result = train(cfg, data_root=root, on_event=on_event, should_stop=lambda: bool(reached))
    if target is None:
        return result.train_seconds, result.test_accuracy
    if not reached:
        return float("nan"), result.test_accuracy
    return reached["seconds"], reached["accuracy"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", help="the real MNIST (default: $MNIST_DATA_DIR, else ./data)")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    ap.add_argument("--seed", type=int, default=1, help="the example's own default seed")
    ap.add_argument("--cnn-epochs", type=int, help="epochs of the cnn run (default: its recipe's)")
    args = ap.parse_args(argv)
    root = data.data_dir(args.data_dir)
    try:
        data.load("mnist", train=True, root=root, download=False)
        device = resolve_device(args.device)
    except (data.DataUnavailable, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    load = f", load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores" if hasattr(os, "getloadavg") else ""
    print(f"training speed on {device} (torch {torch.__version__}, {torch.get_num_threads()} threads{load})")

    print("\n(a) pytorch/examples MNIST Net, one epoch + test, Adadelta lr 1.0, batch 64, seed", args.seed)
    ref_s, ref_acc = reference_epoch(root, device, args.seed)
    print(
        f"  reference (torchvision per-sample transforms + DataLoader): {ref_s:7.1f} s  test accuracy {ref_acc:.2%}",
        flush=True,
    )
    eng_s, eng_acc = engine_epoch(root, device, args.seed)
    print(f"  engine (mnist_core.training.train):                          {eng_s:7.1f} s  test accuracy {eng_acc:.2%}")
    verdict = "met" if ref_s / eng_s >= 2 and eng_acc >= ref_acc else "NOT met"
    print(
        f"  reference / engine: {ref_s / eng_s:.2f}x (target: at least 2x at equal or better accuracy: {verdict})",
        flush=True,
    )
    floor_s, floor_acc = floor_epoch(root, device, args.seed)
    print(
        f"  floor (the same steps and test, data normalised in advance):  {floor_s:7.1f} s  test accuracy "
        f"{floor_acc:.2%}"
    )
    print(
        f"  reference / floor: {ref_s / floor_s:.2f}x, the most any engine on these kernels can gain here; "
        f"engine / floor: {eng_s / floor_s:.2f}",
        flush=True,
    )

    cnn_epochs = args.cnn_epochs or recipes.quick("cnn").epochs
    print(f"\n(b) cnn to 99.0% test accuracy ({cnn_epochs} epoch(s)) vs one tutorial convnet epoch")
    cnn_s, cnn_acc = seconds_to("cnn", 0.99, root, device, epochs=cnn_epochs, log_every=100)
    print(f"  cnn reached {cnn_acc:.2%} after {cnn_s:.1f} s", flush=True)
    conv_s, conv_acc = seconds_to("convnet", None, root, device, epochs=1, log_every=100)
    print(f"  convnet, one epoch (SGD momentum, batch 100): {conv_s:.1f} s, test accuracy {conv_acc:.2%}")
    print(
        f"  ratio: {cnn_s / conv_s:.2f}x one tutorial epoch (target: at most 2.5x: "
        f"{'met' if cnn_s / conv_s <= 2.5 else 'NOT met'})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
