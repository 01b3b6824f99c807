"""The compute cost of training, in floating-point operations (FLOPs), and CPU latency.

Used by lesson 06 (FLOPs), lessons 02 and 07 (`cpu_latency_ms`, through `probing` and `model_choice`) and lesson 17
(`interleaved_latency_ms`, through `compression`).

The forward pass is counted with torch's flop counter. Its count of convolution backward passes is
unreliable for depthwise convolutions (it over-counts them many times), so the backward pass uses the
usual rule of thumb instead: about twice the forward pass for every layer that trains, none for a
frozen body (its input needs no gradient either).
"""

from __future__ import annotations

import statistics

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

BACKWARD_PER_FORWARD = 2


def forward_flops(module: nn.Module, x: torch.Tensor) -> tuple[int, torch.Tensor]:
    """FLOPs of one forward pass of `module` on `x`, and its output."""
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        out = module(x)
    return counter.get_total_flops(), out


def training_step_flops(model: nn.Sequential, image_size: int, batch_size: int, frozen_body: bool) -> int:
    """FLOPs of one training step on a batch: forward everywhere, backward only where weights train."""
    was_training = model.training
    model.eval()
    x = torch.zeros(batch_size, 3, image_size, image_size, device=next(model.parameters()).device)
    body, features = forward_flops(model[0], x)
    head, _ = forward_flops(model[1], features)
    model.train(was_training)
    return body * (1 if frozen_body else 1 + BACKWARD_PER_FORWARD) + head * (1 + BACKWARD_PER_FORWARD)


def cpu_latency_ms(model, input_size: int, repeats: int = 5) -> float:
    """Median milliseconds for one image through the model on the CPU (after one warm-up)."""
    import time

    import torch
    model = model.eval().cpu()
    x = torch.zeros(1, 3, input_size, input_size)
    times = []
    with torch.inference_mode():
        for _ in range(repeats + 1):
            start = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times[1:])


def interleaved_latency_ms(runners: dict, batches=(1, 32), repeats: int = 7) -> dict[str, dict[int, float]]:
    """Median milliseconds per batch for each runner (name -> (function, example images as a numpy array; a batch
    repeats them as needed)), timed in turns: each round times every runner once, so a slow moment of a busy
    machine hits all of them alike. One warm-up call each first."""
    import time

    import numpy as np
    inputs = {name: {b: np.resize(images, (b, *images.shape[1:])) for b in batches}
              for name, (_, images) in runners.items()}
    times = {name: {b: [] for b in batches} for name in runners}
    for name, (run, _) in runners.items():
        for b in batches:
            run(inputs[name][b])
    for _ in range(repeats):
        for b in batches:
            for name, (run, _) in runners.items():
                start = time.perf_counter()
                run(inputs[name][b])
                times[name][b].append(1000 * (time.perf_counter() - start))
    return {name: {b: statistics.median(t) for b, t in by_batch.items()} for name, by_batch in times.items()}
