"""Phased fine-tuning: the backbone frozen for some epochs, then its last stage, then all, each phase with its lr.

``TrainConfig.phases = "head:2:1e-3,last:2:3e-4,all:0:1e-4"``: 2 epochs training only the detector's new parts (its
classifier, a fused model's branch, a temporal head, a method head), 2 more with the backbone's last stage (and what
follows it), then all parameters for the remaining epochs (``0``). Each phase's lr is the peak of the run's
warm-up/cosine shape during that phase (the schedule is scaled by ``lr / TrainConfig.lr`` at each step). Which phase
an epoch is in is a function of the epoch alone, so a resumed run continues in the right phase. Parameters frozen
before the run (peft) stay frozen in every phase.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from torch import nn

PARTS = ("head", "last", "all")


@dataclass(frozen=True)
class Phase:
    """A phase: which part trains, for how many epochs (0: the rest), at which peak learning rate."""

    part: Literal["head", "last", "all"]
    epochs: int
    lr: float


def parse_phases(spec: str) -> list[Phase]:
    """``"head:2:1e-3,all:0:1e-4"`` -> phases; an empty spec -> no phases.

    Raises:
        ValueError: a part other than head/last/all, a malformed item, or a 0-epoch phase that is not the last.
    """
    phases = []
    for item in filter(None, (p.strip() for p in spec.split(","))):
        bits = item.split(":")
        if len(bits) != 3 or bits[0] not in PARTS:
            raise ValueError(f"phase {item!r}: expected PART:EPOCHS:LR with PART in {', '.join(PARTS)}")
        phases.append(Phase(bits[0], int(bits[1]), float(bits[2])))  # type: ignore[arg-type]
    if any(p.epochs <= 0 for p in phases[:-1]):
        raise ValueError(f"phases {spec!r}: only the last phase may have 0 (all remaining) epochs")
    return phases


def phase_at(phases: list[Phase], epoch: int) -> Phase:
    """The phase of 1-based `epoch` (the last phase continues past its planned end)."""
    end = 0
    for phase in phases:
        end += phase.epochs
        if epoch <= end or phase.epochs <= 0:
            return phase
    return phases[-1]


def base_model(model: nn.Module) -> tuple[nn.Module, str]:
    """The pretrained frame model inside wrappers (``inner``) and temporal heads (``backbone``), and its prefix."""
    prefix = ""
    while True:
        inner = getattr(model, "inner", None)
        if not isinstance(inner, nn.Module):
            inner = getattr(model, "backbone", None) if getattr(model.default_cfg, "temporal", False) else None
        if not isinstance(inner, nn.Module):
            return model, prefix
        name = next(n for n, m in model.named_children() if m is inner)
        model, prefix = inner, f"{prefix}{name}."


def _last_stage(base: nn.Module) -> nn.Module:
    """The backbone's last stage: timm's last ``feature_info`` module, else the Grad-CAM layer."""
    net = getattr(base, "net", None)
    info = getattr(net, "feature_info", None)
    if info:
        return net.get_submodule(info[-1]["module"])
    return base.gradcam_layer()


def part_parameters(model: nn.Module, part: str) -> set[str]:
    """Names of the parameters of `model` that train in `part` (before intersecting with the trainable ones)."""
    names = [n for n, _ in model.named_parameters()]
    if part == "all":
        return set(names)
    base, prefix = base_model(model)
    classifier = base.get_classifier() if hasattr(base, "get_classifier") else None
    owned = {f"{prefix}{n}" for n, _ in base.named_parameters()}
    keep = {n for n in names if n not in owned}
    for module_name, module in base.named_modules() if classifier is not None else ():
        if module is classifier:
            keep |= {f"{prefix}{module_name}.{n}" for n, _ in module.named_parameters()}
    if part == "last":
        stage = {id(p) for p in _last_stage(base).parameters()}
        ordered = list(base.named_parameters())
        start = next((i for i, (_, p) in enumerate(ordered) if id(p) in stage), len(ordered))
        keep |= {f"{prefix}{n}" for n, _ in ordered[start:]}
    return keep


def check_phases(model: nn.Module, phases: list[Phase], trainable: set[str]) -> None:
    """Refuse, before the first epoch, a phase that would train no parameter of `model` (among `trainable`).

    Raises:
        ValueError: e.g. a ``head`` phase on a model with neither a classifier (``get_classifier``) nor new parts.
    """
    for phase in phases:
        if not part_parameters(model, phase.part) & trainable:
            raise ValueError(
                f"phase {phase.part!r} trains no parameter of {type(model).__name__}: a 'head' phase needs a model with "
                "a classifier (get_classifier) or parts around a backbone"
            )


def enter_phase(model: nn.Module, phase: Phase, trainable: set[str]) -> None:
    """Set which parameters of `model` train in `phase` (only among `trainable`, those trainable before the run)."""
    keep = part_parameters(model, phase.part) & trainable
    for name, param in model.named_parameters():
        param.requires_grad = name in keep
