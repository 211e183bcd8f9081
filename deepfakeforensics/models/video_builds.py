"""torchvision's video networks at their Kinetics-400 size, or ``mvit_v2_s`` / ``swin3d_t`` at a reduced size.

The default build is torchvision's own builder (``torchvision.models.video.<arch>(weights=None)``), whose state dict
is the Kinetics-400 weights file's. A reduced build makes the same class (``MViT``, ``SwinTransformer3d``) with the
same layout rule, heads, kernels, windows and stochastic depth as ``mvit_v2_s`` / ``swin3d_t``, but narrower
(``embed_dim``: the first stage's width, doubled at each of the 4 stages) and/or shallower (``depths``: blocks per
stage), and for MViT other input grids (``frames`` x ``img_size``, which its relative positions are sized for). No
Kinetics weights fit a reduced build: pretrained files of another size are refused by their shapes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn
from torchvision.models import video as tv_video
from torchvision.models.video.mvit import MSBlockConfig, MViT
from torchvision.models.video.swin_transformer import SwinTransformer3d

# torchvision's mvit_v2_s and swin3d_t: first-stage width and blocks per stage (Kinetics-400 weights)
MVIT_V2_S = {"embed_dim": 96, "depths": (1, 2, 11, 2), "frames": 16, "img_size": 224}
SWIN3D_T = {"embed_dim": 96, "depths": (2, 2, 6, 2)}
SWIN3D_T_HEADS = (3, 6, 12, 24)
REDUCIBLE = ("mvit_v2_s", "swin3d_t")


def mvit_block_setting(embed_dim: int, depths: Sequence[int], img_size: int = 224) -> list[MSBlockConfig]:
    """MViTv2-S's blocks at another width / depth: what ``torchvision.models.video.mvit_v2_s`` lists for (96, (1, 2, 11, 2)).

    Stage s has ``depths[s]`` blocks of width ``embed_dim * 2**s`` and ``2**s`` heads; the first block of stages 1-3
    widens the tokens and pools the queries 2 x 2 in space. Keys and values are pooled by a stride that starts so
    that they form a grid of at most 7 x 7 (8 at 224 px: 56 / 8) and halves (to 1 at least) wherever the queries are
    pooled.
    """
    blocks, width = [], embed_dim
    kv = max(1, (img_size // 4) // 7)
    for stage, depth in enumerate(depths):
        out = embed_dim * 2**stage
        for i in range(depth):
            first = stage > 0 and i == 0
            kv = max(1, kv // 2) if first else kv
            blocks.append(
                MSBlockConfig(
                    num_heads=2**stage,
                    input_channels=width,
                    output_channels=out,
                    kernel_q=[3, 3, 3],
                    kernel_kv=[3, 3, 3],
                    stride_q=[1, 2, 2] if first else [1, 1, 1],
                    stride_kv=[1, kv, kv],
                )
            )
            width = out
    return blocks


def _check_reduced(arch: str, img_size: int, frames: int | None, embed_dim: int | None, depths) -> tuple[int, tuple]:
    """Validated (embed_dim, depths) of a reduced build; ValueError naming the argument otherwise."""
    if arch not in REDUCIBLE:
        given = ", ".join(k for k, v in (("frames", frames), ("embed_dim", embed_dim), ("depths", depths)) if v)
        raise ValueError(f"{arch} takes no {given}: only {' and '.join(REDUCIBLE)} can be built at a reduced size")
    default = MVIT_V2_S if arch == "mvit_v2_s" else SWIN3D_T
    embed_dim = default["embed_dim"] if embed_dim is None else embed_dim
    depths = default["depths"] if depths is None else depths
    if isinstance(embed_dim, bool) or not isinstance(embed_dim, int) or embed_dim < 1:
        raise ValueError(f"{arch}: embed_dim must be a positive integer, not {embed_dim!r}")
    if arch == "swin3d_t" and embed_dim % 3:
        raise ValueError(f"swin3d_t: embed_dim={embed_dim} must be a multiple of 3 (its heads: {SWIN3D_T_HEADS})")
    if isinstance(depths, (str, bytes)) or not isinstance(depths, Sequence) or len(depths) != 4:
        raise ValueError(f"{arch}: depths must be 4 block counts (one per stage), not {depths!r}")
    if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in depths):
        raise ValueError(f"{arch}: every stage needs at least 1 block, depths={tuple(depths)!r}")
    if arch == "mvit_v2_s":
        if frames is not None and (isinstance(frames, bool) or not isinstance(frames, int) or frames < 2 or frames % 2):
            raise ValueError(f"mvit_v2_s: frames must be an even number >= 2 (patches span 2 frames), not {frames!r}")
        if img_size % 32:
            raise ValueError(f"mvit_v2_s: img_size={img_size} must be a multiple of 32 (4 x 2 x 2 x 2 pooling)")
    elif frames is not None:
        raise ValueError("swin3d_t takes any number of frames: frames= is for mvit_v2_s only")
    return embed_dim, tuple(depths)


def build_video_net(
    arch: str, img_size: int, frames: int | None = None, embed_dim: int | None = None, depths=None
) -> tuple[nn.Module, bool]:
    """torchvision's `arch` network (with its Kinetics-400 classifier) and whether it is a reduced build.

    Without `frames`, `embed_dim`, `depths` (and for ``mvit_v2_s`` at 224 px) it is torchvision's default build.
    """
    is_default_mvit = arch != "mvit_v2_s" or img_size == MVIT_V2_S["img_size"]
    if frames is None and embed_dim is None and depths is None and is_default_mvit:
        return getattr(tv_video, arch)(weights=None), False
    embed_dim, depths = _check_reduced(arch, img_size, frames, embed_dim, depths)
    if arch == "swin3d_t":
        net = SwinTransformer3d(
            patch_size=[2, 4, 4],
            embed_dim=embed_dim,
            depths=list(depths),
            num_heads=list(SWIN3D_T_HEADS),
            window_size=[8, 7, 7],
            stochastic_depth_prob=0.1,
        )
    else:
        net = MViT(
            spatial_size=(img_size, img_size),
            temporal_size=frames or MVIT_V2_S["frames"],
            block_setting=mvit_block_setting(embed_dim, depths, img_size),
            residual_pool=True,
            residual_with_cls_embed=False,
            rel_pos_embed=True,
            proj_after_attn=True,
            stochastic_depth_prob=0.2,
        )
    return net, True


def _resnet_features(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return net.layer4(net.layer3(net.layer2(net.layer1(net.stem(x)))))


def _s3d_features(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return net.features(x)


def _swin_features(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    x = net.norm(net.features(net.pos_drop(net.patch_embed(x))))  # (B, t, h, w, C)
    return x.permute(0, 4, 1, 2, 3)


def _mvit_features(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """MViT's tokens after its last norm, (B, 1 + N, C): torchvision's forward without the head."""
    x = net.conv_proj(x).flatten(2).transpose(1, 2)
    x = net.pos_encoding(x)
    thw = (net.pos_encoding.temporal_size, *net.pos_encoding.spatial_size)
    for block in net.blocks:
        x, thw = block(x, thw)
    return net.norm(x)


FEATURES: dict[str, Callable[[nn.Module, torch.Tensor], torch.Tensor]] = {
    "r3d_18": _resnet_features,
    "r2plus1d_18": _resnet_features,
    "mc3_18": _resnet_features,
    "s3d": _s3d_features,
    "mvit_v2_s": _mvit_features,
    "swin3d_t": _swin_features,
}


def drop_classifier(net: nn.Module) -> int:
    """Replace the Kinetics-400 classifier of `net` by an identity; the width of the features it took."""
    for attr in ("fc", "classifier", "head"):
        layer = getattr(net, attr, None)
        if layer is None:
            continue
        linear = [m for m in layer.modules() if isinstance(m, (nn.Linear, nn.Conv3d))][-1]
        setattr(net, attr, nn.Identity())
        return linear.in_features if isinstance(linear, nn.Linear) else linear.in_channels
    raise TypeError(f"{type(net).__name__}: no classifier found")
