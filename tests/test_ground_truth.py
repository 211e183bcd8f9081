"""Ground truth for predictions over a folder: read from the folder's layout, joined on path, clear errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from deepfakeforensics.evaluation import compute_metrics
from deepfakeforensics.evaluation.ground_truth import (
    NoGroundTruthError,
    ground_truth_metrics,
    join_ground_truth,
    read_ground_truth,
)


@pytest.fixture
def labelled(tmp_path: Path) -> Path:
    """A plain real/ and fake/ folder (the indexer lists files; their content is not read)."""
    for kind in ("real", "fake"):
        (tmp_path / kind).mkdir()
        for i in range(3):
            (tmp_path / kind / f"{kind}{i}.mp4").write_bytes(b"")
    return tmp_path


def _predictions() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "path": ["fake/fake0.mp4", "real/real0.mp4", "fake/fake1.mp4", "real/real1.mp4", "other/new.mp4"],
            "score": [0.9, 0.2, None, 0.6, 0.7],
        }
    )


def test_truth_comes_from_the_folder_layout(labelled: Path) -> None:
    truth = read_ground_truth(labelled, "folder").set_index("path")["truth"]
    assert truth.to_dict() == {f"{k}/{k}{i}.mp4": int(k == "fake") for k in ("real", "fake") for i in range(3)}


def test_join_keeps_every_prediction_and_labels_the_listed_ones(labelled: Path) -> None:
    predictions = _predictions()
    joined = join_ground_truth(predictions, labelled, "folder")
    assert joined["path"].tolist() == predictions["path"].tolist()
    assert joined["truth"].tolist()[:4] == [1, 0, 1, 0] and pd.isna(joined["truth"].iloc[4])
    assert "truth" not in predictions.columns  # the caller's table is left as it was
    again = join_ground_truth(joined, labelled, "folder")  # joining twice replaces the column, never duplicates it
    assert again.columns.tolist() == joined.columns.tolist()


def test_metrics_use_only_files_with_a_score_and_a_truth(labelled: Path) -> None:
    joined = join_ground_truth(_predictions(), labelled, "folder")
    metrics = ground_truth_metrics(joined, threshold=0.5)
    expected = compute_metrics([1, 0, 0], [0.9, 0.2, 0.6], threshold=0.5)
    assert metrics["n"] == 3 and metrics["accuracy"] == pytest.approx(expected["accuracy"])
    assert metrics["auc"] == pytest.approx(expected["auc"])


def test_a_folder_in_another_layout_raises_a_clear_error(labelled: Path) -> None:
    with pytest.raises(NoGroundTruthError, match="no ffpp ground truth in .*FaceForensics"):
        join_ground_truth(_predictions(), labelled, "ffpp")


def test_predictions_of_another_folder_raise_instead_of_an_all_missing_truth(labelled: Path) -> None:
    elsewhere = pd.DataFrame({"path": ["a.mp4", "b.mp4"], "score": [0.1, 0.8]})
    with pytest.raises(NoGroundTruthError, match="none of the 2 predicted files"):
        join_ground_truth(elsewhere, labelled, "folder")
