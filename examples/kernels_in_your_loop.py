"""autofast's conv layers in a plain PyTorch training loop (no autofast engine, no framework).

A ``DilatedConv1d`` stem and a DASH mixed-weights layer (``MixedDilatedConv``) whose architecture logits
train alongside the weights (their own optimiser, Gumbel-softmax mixture as in DASH) on synthetic noisy
sinusoids; the search ends with the chosen (kernel size, dilation), which a retrain would use as a fixed
``DilatedConv1d(width, width, k, d, groups=width)``. ``--bf16`` runs forward and loss under CPU autocast:
the layers then return bfloat16 like ``nn.Conv1d``, their parameters and gradients stay float32.

    python examples/kernels_in_your_loop.py [--steps 60] [--bf16]
"""
from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from torch import nn

from autofast.kernels.conv import DilatedConv1d, MixedDilatedConv, path_summary


def make_data(n: int, channels: int = 2, length: int = 64, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Two classes of noisy sinusoids (period 16 vs 5, random phase per channel): x ``(n, channels, length)``
    float32, y ``(n,)`` int64 in {0, 1}."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    period = torch.where(y == 1, 16.0, 5.0).view(n, 1, 1)
    phase = 2 * torch.pi * torch.rand(n, channels, 1, generator=g)
    t = torch.arange(length, dtype=torch.float32)
    x = torch.sin(2 * torch.pi * t / period + phase) + 0.5 * torch.randn(n, channels, length, generator=g)
    return x, y


class TinySearchNet(nn.Module):
    """``(B, in_channels, L) -> (B, n_classes)`` logits: dilated stem, one depthwise DASH mixed layer over
    ``kernel_sizes x dilations`` with architecture logits ``alpha`` (one per candidate), mean pool, linear."""

    def __init__(self, in_channels: int = 2, n_classes: int = 2, width: int = 16, kernel_sizes=(3, 5, 7),
                 dilations=(1, 2, 4), path: str = "auto"):
        super().__init__()
        self.stem = DilatedConv1d(in_channels, width, kernel_size=5, dilation=1, path=path)
        self.mixed = MixedDilatedConv(1, width, width, kernel_sizes, dilations, groups=width, path=path)
        self.alpha = nn.Parameter(torch.zeros(len(self.mixed.candidates)))
        self.head = nn.Linear(width, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = F.gumbel_softmax(self.alpha, tau=1.0) if self.training else F.softmax(self.alpha, 0)
        h = torch.relu(self.stem(x))
        h = torch.relu(self.mixed(h, a))
        return self.head(h.mean(-1))

    def weight_parameters(self) -> list[nn.Parameter]:
        return [p for name, p in self.named_parameters() if name != "alpha"]

    def chosen(self) -> tuple[int, int]:
        """The (kernel size, dilation) with the largest architecture logit."""
        return self.mixed.candidates[int(self.alpha.argmax())]


def train(steps: int = 60, batch_size: int = 32, bf16: bool = False, seed: int = 0, path: str = "auto",
          n_train: int = 512) -> tuple[TinySearchNet, list[float]]:
    """Train a :class:`TinySearchNet` for ``steps`` minibatch steps; returns the model and the loss per step.
    The ``.grad`` of every parameter is left from the last step."""
    torch.manual_seed(seed)
    model = TinySearchNet(path=path)
    x, y = make_data(n_train, seed=seed)
    opt = torch.optim.Adam(model.weight_parameters(), lr=1e-2)
    arch_opt = torch.optim.Adam([model.alpha], lr=5e-2)
    losses = []
    for _ in range(steps):
        i = torch.randint(0, n_train, (batch_size,))
        opt.zero_grad()
        arch_opt.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(model(x[i]), y[i])
        loss.backward()
        opt.step()
        arch_opt.step()
        losses.append(loss.item())
    return model, losses


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    return (model(x).argmax(1) == y).float().mean().item()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=60, help="training steps (default 60)")
    ap.add_argument("--bf16", action="store_true", help="forward and loss under CPU bf16 autocast")
    args = ap.parse_args(argv)
    model, losses = train(args.steps, bf16=args.bf16)
    x_val, y_val = make_data(256, seed=1)
    print(f"loss {losses[0]:.3f} -> {losses[-1]:.3f}; held-out accuracy {accuracy(model, x_val, y_val):.3f}; "
          f"chosen (kernel size, dilation) = {model.chosen()}")
    for row in path_summary():  # which conv path (native / tap / fft) each layer shape ran on
        print(f"  {row['kind']:5s} conv {row['taps']:16s} x {row['x']}: {row['path']} ({row['how']})")


if __name__ == "__main__":
    main()
