"""A released detector's file, as its authors publish it, through `dff predict`, `dff evaluate`'s table of published
figures and `dff models --released`: recognised without --model, its crop profile followed, scores written."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest
import torch

from deepfakeforensics.cli import main
from deepfakeforensics.evaluation.baselines import beside_published, released_baselines
from deepfakeforensics.models import create_model
from deepfakeforensics.models.released import describe_released, released_specs
from deepfakeforensics.runs import RunInfo


def sbi_layout_file(path, seed: int = 0):
    """A file laid out as SBI's training script saves it ({"model": state dict with net.* keys and a 2-class _fc,
    "optimizer", "epoch"}), with random weights: what a user downloads as FFraw.tar, but untrained."""
    torch.manual_seed(seed)
    state = create_model("sbi_efficientnet_b4").state_dict()
    w, b = state["net._fc.weight"], state["net._fc.bias"]
    state["net._fc.weight"] = torch.cat([torch.zeros_like(w), w])  # class 0 (real) logit 0: softmax[:, 1] = sigmoid
    state["net._fc.bias"] = torch.cat([torch.zeros_like(b), b])
    torch.save({"model": state, "optimizer": {"state": {}, "param_groups": []}, "epoch": 3}, path)
    return path


def test_dff_predict_names_a_released_file_and_cuts_its_crops(samples_dir, tmp_path, capsys):
    videos = tmp_path / "videos"
    videos.mkdir()
    shutil.copy(samples_dir / "ffpp/original_sequences/youtube/c23/videos/519.mp4", videos / "519.mp4")
    weights = sbi_layout_file(tmp_path / "FFraw.tar")
    out = tmp_path / "predictions.csv"
    assert main(["predict", str(videos), "--weights", str(weights), "--frames", "2", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "detector: sbi_efficientnet_b4 (released: FFraw.tar)" in printed
    assert "crop profile 'sbi'" in printed and "file score: frame_max" in printed
    row = pd.read_csv(out).iloc[0]
    assert row["path"] == "519.mp4" and 0.0 <= row["score"] <= 1.0 and row["faces_found"] >= 1
    info = RunInfo.load(weights)
    assert info.kind == "released" and info.extraction_config().profile == "sbi"


def test_every_released_detector_is_listed_with_provenance(capsys):
    rows = describe_released()
    assert {r["name"] for r in rows} == {s.name for s in released_specs()}
    for r in rows:
        assert r["repo"].startswith("https://github.com/") and r["files"] and r["profile"] != "default"
    assert main(["models", "--released", "sbi_*"]) == 0
    printed = capsys.readouterr().out
    assert "sbi_efficientnet_b4" in printed and "mapooon/SelfBlendedImages" in printed and "Celeb-DF v2" in printed


def test_published_figures_go_beside_a_released_detectors_measured_auc():
    published = released_baselines()
    sbi = published[(published["released"] == "sbi_efficientnet_b4") & (published["test_data"] == "Celeb-DF v2")]
    assert not sbi.empty and (sbi["level"] == "video").all()
    metrics = pd.DataFrame(
        [
            {"run": "weights/FFraw", "dataset": "celebdf_faces", "level": "file", "auc": 0.91, "auc_lo": 0.88},
            {"run": "weights/FFraw", "dataset": "celebdf_faces", "level": "frame", "auc": 0.85, "auc_lo": 0.8},
            {"run": "meso", "dataset": "celebdf_faces", "level": "file", "auc": 0.7, "auc_lo": 0.6},
        ]
    )
    table = beside_published(metrics, {"weights/FFraw": "sbi_efficientnet_b4"})
    assert set(table["run"]) == {"weights/FFraw"} and set(table["level"]) == {"video"}  # no frame figure published
    assert sorted(table["published_auc"]) == sorted(sbi["value"]) and (table["auc"] == 0.91).all()
    assert table["source"].str.contains("SelfBlendedImages|Shiohara", regex=True).all()


@pytest.mark.parametrize("name", [s.name for s in released_specs()])
def test_published_figures_name_level_and_source(name):
    for p in next(s for s in released_specs() if s.name == name).published:
        assert p.level in {"frame", "video"} and p.source and p.training_data and 0 < p.value < 1


def test_shipped_baselines_link_to_registered_released_detectors():
    from deepfakeforensics.evaluation.baselines import load_baselines
    from deepfakeforensics.models import is_model

    table = load_baselines()
    linked = table[table["released"] != ""]
    assert set(linked["released"]) >= {"dfb_meso4", "dfb_xception", "sbi_efficientnet_b4"}
    assert all(is_model(n) for n in linked["released"])
    # the linked rows are the same figures the detectors' specs publish (to the table's three decimals)
    specs = released_baselines()
    for row in linked.itertuples():
        same = specs[(specs["released"] == row.released) & (specs["test_data"] == row.test_data)]
        same = same[same["level"] == row.level]
        assert (abs(same["value"] - row.value) < 6e-4).any(), (row.released, row.test_data)
