"""Video indexes are validated where extraction and the video robustness sweep read them: a bad index is refused
before any video is opened, naming the file and what is wrong (issue 23 part 5)."""

from __future__ import annotations

import pandas as pd
import pytest

from deepfakeforensics.data.manifest import ManifestError
from deepfakeforensics.evaluation.video_robustness import video_robustness
from deepfakeforensics.faces import ExtractionConfig
from deepfakeforensics.faces.extract import extract_faces


class _NoFinder:  # opening a video or finding a face would fail the test
    def __getattr__(self, name):
        pytest.fail(f"the finder was used ({name}) although the index is invalid")


@pytest.fixture
def bad_index(tmp_path):
    index = tmp_path / "videos.csv"
    rows = {"video_id": ["a", "a"], "path": ["a.mp4", "b.mp4"], "label": [0, 7], "split": ["test", "test"]}
    pd.DataFrame(rows).to_csv(index, index=False)
    return index


def test_extraction_refuses_an_invalid_video_index(bad_index, tmp_path):
    with pytest.raises(ManifestError, match=rf"{bad_index}: invalid manifest: column 'label' .* got 7 at line 3"):
        extract_faces(bad_index, tmp_path / "out", finder=_NoFinder(), progress=False)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_video_robustness_refuses_an_invalid_video_index(bad_index, tmp_path):
    with pytest.raises(ManifestError, match=rf"{bad_index}: invalid manifest: column 'label' .* got 7 at line 3"):
        video_robustness({}, bad_index, extraction=ExtractionConfig(device="cpu"), work_dir=tmp_path / "work")
