"""The compute cost of training, counted in floating-point operations (FLOPs) with torch's flop counter."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def training_step_flops(model: nn.Sequential, image_size: int, batch_size: int, frozen_body: bool) -> int:
    """FLOPs of one forward and backward pass on a batch; a frozen body needs no backward pass."""
    body_flags = [p.requires_grad for p in model[0].parameters()]
    for p in model[0].parameters():
        p.requires_grad = not frozen_body
    x = torch.zeros(batch_size, 3, image_size, image_size, device=next(model.parameters()).device)
    with FlopCounterMode(display=False) as counter:
        model(x).sum().backward()
    model.zero_grad(set_to_none=True)
    for p, flag in zip(model[0].parameters(), body_flags):
        p.requires_grad = flag
    return counter.get_total_flops()
