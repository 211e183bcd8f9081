"""Parameter-efficient tuning on a small random ViT: counts, frozen weights, merged weights, checkpoints."""

from __future__ import annotations

import pytest
import torch

from deepfakeforensics.models import create_model, export_merged, load_model, merge_peft, save_checkpoint
from deepfakeforensics.training.config import TrainConfig
from deepfakeforensics.training.optim import make_optimizer

D, DEPTH, R = 192, 2, 4  # vit_tiny width, blocks, adapter rank
TINY = {"img_size": 32, "depth": DEPTH}
HEAD = D + 1  # the one-logit classifier


def _vit(method: str, **kwargs):
    torch.manual_seed(0)
    return create_model("timm/vit_tiny_patch16_224", **TINY, peft=method, peft_r=R, **kwargs)


def _trainable(model) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def test_trainable_counts_match_the_adapter_maths():
    lora_per_block = R * (D + 3 * D) + R * (D + D)  # qkv: D -> 3D, proj: D -> D; A is r x in, B is out x r
    assert _trainable(_vit("lora")) == DEPTH * lora_per_block + HEAD
    assert _trainable(_vit("dora")) == DEPTH * (lora_per_block + 3 * D + D) + HEAD  # + one magnitude per output
    norms = (2 * DEPTH + 1) * 2 * D  # norm1, norm2 per block and the final norm: weight and bias
    assert _trainable(_vit("layernorm")) == norms + HEAD
    only_qkv = _vit("lora", peft_targets="attn.qkv")
    assert _trainable(only_qkv) == DEPTH * R * (D + 3 * D) + HEAD


def _train_step(model) -> None:
    optimizer = make_optimizer(model, TrainConfig(lr=1e-2, weight_decay=0.1))
    x, y = torch.rand(4, 3, 32, 32), torch.tensor([0.0, 1.0, 0.0, 1.0])
    torch.nn.functional.binary_cross_entropy_with_logits(model(x), y).backward()
    optimizer.step()


@pytest.mark.parametrize("method", ["lora", "dora", "layernorm"])
def test_a_training_step_moves_only_adapters_and_head(method):
    model = _vit(method).train()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    _train_step(model)
    moved = {n for n, p in model.named_parameters() if not torch.equal(before[n], p)}
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert moved and moved <= trainable
    assert "net.blocks.0.attn.qkv.base_layer.weight" not in moved and "net.patch_embed.proj.weight" not in moved
    assert "net.head.weight" in moved


@pytest.mark.parametrize("method", ["lora", "dora"])
def test_merged_and_unmerged_models_give_the_same_logits(method, tmp_path):
    model = _vit(method).train()
    _train_step(model)  # adapters away from their zero start
    model.eval()
    x = torch.rand(3, 3, 32, 32)
    merged = merge_peft(model).eval()
    assert not any("lora" in k for k in merged.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(merged(x), model(x), atol=1e-5, rtol=1e-5)
    save_checkpoint(tmp_path / "tuned.pt", model)
    restored = load_model(tmp_path / "tuned.pt").eval()
    assert _trainable(restored) == _trainable(model)
    exported = export_merged(tmp_path / "tuned.pt", tmp_path / "merged.pt")
    plain = load_model(tmp_path / "merged.pt").eval()
    assert "peft" not in plain.init_kwargs and not any("lora" in n for n, _ in plain.named_parameters())
    with torch.no_grad():
        assert torch.equal(restored(x), model(x))
        torch.testing.assert_close(plain(x), model(x), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(exported(x), plain(x))


def test_peft_on_a_cnn_by_target_and_refusals():
    torch.manual_seed(0)
    model = create_model("timm/resnet18", peft="lora", peft_r=2, peft_targets="layer4.1.conv2")
    conv = R // 2 * (512 * 9 + 512)  # conv LoRA: A is r x (in x 3 x 3), B is out x r (1x1)
    assert _trainable(model) == conv + 512 + 1
    with pytest.raises(ValueError, match="not found|Target modules"):
        create_model("timm/resnet18", peft="lora", peft_targets="attn.qkv")
    with pytest.raises(ValueError, match="lora, dora, layernorm"):
        create_model("timm/resnet18", peft="prefix")


def test_fused_and_temporal_parts_stay_trainable_around_a_tuned_backbone():
    model = _vit("lora", frequency="fft", frequency_dim=16, fusion_hidden=8, temporal="lstm", hidden_size=4)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert {"head.weight", "lstm.weight_ih_l0", "backbone.head.weight", "backbone.fuse.0.weight"} <= trainable
    assert any(n.startswith("backbone.branch.") for n in trainable)
    assert "backbone.inner.net.blocks.0.attn.qkv.base_layer.weight" not in trainable
