"""The one layer-chain tracer: run a model once and check that it is a plain chain of leaf modules, each fed the
output of the one before (deconvnet's explicit path and incremental occlusion both need one)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

from ..hooks import inplace_off, run

if TYPE_CHECKING:
    from ..nets import Net


class NotAChain(Exception):
    """The model is not a chain of leaf modules (the message says where it branches); .reached is the output of
    the module the trace was asked to stop at, when the forward pass got there."""

    reached: torch.Tensor | None = None


@dataclass
class Link:
    """One leaf module of the chain as the forward pass ran it: its module path and module, the previous leaf's
    output (the image before the first), its own output (a detached copy), and whether the model flattened
    the previous output to (N, D) before this leaf (torch.flatten in its forward)."""

    name: str
    module: nn.Module
    input: torch.Tensor
    output: torch.Tensor
    flatten: bool


class _Reached(Exception):
    """Raised by the hook of the module the trace stops at."""


def trace_chain(net: Net, inp: torch.Tensor, until: nn.Module | None = None) -> tuple[list[Link], torch.Tensor]:
    """Run net's model once on inp (in-place activations off, in the caller's grad mode) -> (the leaves it ran, in
    order, the last one's output): the whole model, or up to and including the module `until`.

    NotAChain when a leaf's input is not the previous leaf's output (a skip connection, an operation in between
    other than flattening), a leaf maps several tensors, or the model's (or until's) output is not the last leaf's.
    """
    leaves = {m: n for n, m in net.model.named_modules() if n and not list(m.children())}
    links: list[Link] = []
    previous: list[torch.Tensor] = [inp]
    broken: list[str] = []
    reached: list[torch.Tensor] = []

    def hook(module, inputs, output):
        if broken:
            return
        x, before = (inputs[0] if len(inputs) == 1 else None), previous[-1]
        if not isinstance(x, torch.Tensor) or not isinstance(output, torch.Tensor):
            broken.append(f"{leaves[module]} ({type(module).__name__}) does not map one tensor to one tensor")
            return
        flatten = x.shape != before.shape and x.dim() == 2 and before.dim() > 2 and x.shape[1] == before[0].numel()
        fed = before.flatten(1) if flatten else before
        if x.shape != fed.shape or not torch.equal(x, fed):
            broken.append(f"the input of {leaves[module]} ({type(module).__name__}) is not the last layer's output")
            return
        links.append(Link(leaves[module], module, before, output.detach().clone(), flatten))
        previous.append(links[-1].output)

    def stop(module, inputs, output):
        reached.append(output)
        raise _Reached

    handles = [m.register_forward_hook(hook) for m in leaves]
    if until is not None:
        handles.append(until.register_forward_hook(stop))
    try:
        with inplace_off(net):
            try:
                out = run(net, inp)
            except _Reached:
                out = reached[0]
    finally:
        for h in handles:
            h.remove()
    if until is not None and not reached:
        raise ValueError(f"layer {leaves.get(until, type(until).__name__)!r} was not run by the model's forward pass")
    if not broken and (not links or not isinstance(out, torch.Tensor) or out.shape != links[-1].output.shape
                       or not torch.equal(out, links[-1].output)):
        broken.append("the model's output is not its last layer's" if until is None else
                      f"the output of {leaves.get(until, type(until).__name__)} is not the last step's")
    if broken:
        error = NotAChain(broken[0])
        error.reached = reached[0] if reached else None
        raise error
    return links, out
