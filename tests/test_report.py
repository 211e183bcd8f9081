"""The HTML report of a prediction run (issue 14.4): every file with its score, self-contained, details inline."""

from __future__ import annotations

import html.parser
import math

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
from synth_videos import face_photo, write_face_video

from deepfakeforensics.cli import main
from deepfakeforensics.inference.report import FileDetail, read_predictions, timeline_svg, write_report
from deepfakeforensics.models import create_model, save_checkpoint


class _Page(html.parser.HTMLParser):
    """Rows of the files table, every src/href, and the count of each tag."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, str] = {}
        self.refs: list[tuple[str, str, str]] = []
        self.tags: dict[str, int] = {}

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        self.tags[tag] = self.tags.get(tag, 0) + 1
        if tag == "tr" and a.get("class") == "file":
            self.rows[a["data-path"]] = a["data-score"]
        self.refs += [(tag, k, v or "") for k, v in attrs if k in ("src", "href", "srcset", "xlink:href", "data")]


def _parse(path) -> tuple[_Page, str]:
    text = path.read_text(encoding="utf-8")
    page = _Page()
    page.feed(text)
    return page, text


def _assert_self_contained(page: _Page, text: str) -> None:
    assert "http:" not in text and "https:" not in text and "file:" not in text
    assert "<link" not in text and "url(" not in text
    for tag, attr, value in page.refs:
        assert (attr == "src" and value.startswith("data:image/")) or (attr == "href" and value.startswith("#")), (
            tag,
            attr,
            value[:60],
        )


def _assert_same_scores(page: _Page, preds: pd.DataFrame) -> None:
    assert set(page.rows) == set(preds["path"])
    for path, score in zip(preds["path"], preds["score"], strict=True):
        shown = page.rows[path]
        if score == "" or (isinstance(score, float) and math.isnan(score)):
            assert shown == ""
        else:
            assert float(shown) == pytest.approx(float(score), abs=1e-9)


@pytest.fixture(scope="module")
def predicted(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    folder = root / "media"
    (folder / "sub").mkdir(parents=True)
    write_face_video(folder / "sub" / "one <face>.mp4", n_faces=1, n_frames=12)
    canvas = np.full((300, 300, 3), 120, np.uint8)
    canvas[60:220, 70:230] = face_photo(160)
    cv2.imwrite(str(folder / "portrait.jpg"), cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR))
    (folder / "empty.mp4").write_bytes(b"")
    torch.manual_seed(0)
    save_checkpoint(root / "run" / "best.pt", create_model("mesonet4"))
    out, report = root / "preds.csv", root / "report.html"
    argv = ["predict", str(folder), "--weights", str(root / "run" / "best.pt"), "--out", str(out)]
    assert main([*argv, "--frames", "6", "--detect-size", "320", "--report", str(report)]) == 0
    return root, folder, out, report


def test_dff_predict_report_holds_every_file_with_its_score_and_details(predicted):
    _, _, out, report = predicted
    preds = read_predictions(out)
    page, text = _parse(report)
    _assert_same_scores(page, preds)
    _assert_self_contained(page, text)
    assert len(preds) == 3 and (preds["error"] != "").sum() == 1
    assert "one &lt;face&gt;.mp4" in text and "<face>" not in text  # names escaped
    assert page.tags["svg"] == 1  # the video's timeline (an image has one frame: no timeline)
    n_thumbs = text.count('alt="track ')
    n_heatmaps = text.count('alt="heatmap"')
    assert n_thumbs == preds["faces_found"].astype(int).sum() and 2 <= n_heatmaps <= 6
    assert "Thumbnails, score timelines and heatmaps for 2 of 3 files" in text


def test_dff_report_from_the_csv_alone_and_with_folder(predicted, tmp_path):
    root, folder, out, _ = predicted
    alone = tmp_path / "alone.html"
    assert main(["report", str(out), "--out", str(alone)]) == 0
    page, text = _parse(alone)
    _assert_same_scores(page, read_predictions(out))
    _assert_self_contained(page, text)
    assert "<img" not in text and "track 0:" in text and "From the predictions table only" in text
    full = tmp_path / "full.html"
    argv = ["report", str(out), "--out", str(full), "--folder", str(folder), "--weights", str(root / "run" / "best.pt")]
    assert main([*argv, "--frames", "6", "--details", "1"]) == 0
    page, text = _parse(full)
    _assert_self_contained(page, text)
    assert "for 1 of 3 files" in text and text.count('alt="heatmap"') >= 1


def test_a_path_leaving_the_folder_is_never_opened(predicted, tmp_path):
    root, folder, out, _ = predicted
    preds = read_predictions(out)
    (root / "outside.jpg").write_bytes((folder / "portrait.jpg").read_bytes())
    preds.loc[preds["path"] == "portrait.jpg", "path"] = "../outside.jpg"
    bad_csv = tmp_path / "bad.csv"
    preds.to_csv(bad_csv, index=False)
    report = tmp_path / "bad.html"
    argv = ["report", str(bad_csv), "--out", str(report), "--folder", str(folder), "--weights"]
    assert main([*argv, str(root / "run" / "best.pt"), "--frames", "6"]) == 0
    page, text = _parse(report)
    assert "../outside.jpg" in page.rows and "leads outside the root" in text


def test_write_report_shows_timeline_and_sorts_scores_in_table_order(tmp_path):
    preds = pd.DataFrame(
        {
            "path": ["b.mp4", "a.mp4"],
            "kind": ["video", "video"],
            "score": [0.25, float("nan")],
            "label": [0, pd.NA],
            "frames_used": [4, 0],
            "faces_found": [1, 0],
            "track_scores": ['{"0": 0.25}', "{}"],
            "error": ["", "unreadable"],
        }
    )
    timeline = pd.DataFrame({"track": [0, 0, 0], "frame": [0, 10, 20], "score": [0.1, 0.9, 0.3]})
    path = write_report(preds, tmp_path / "r.html", {"b.mp4": FileDetail(timeline=timeline)}, threshold=0.5)
    page, text = _parse(path)
    assert page.rows == {"b.mp4": repr(0.25), "a.mp4": ""}
    assert "not scored: unreadable" in text and page.tags["polyline"] == 1
    assert timeline_svg(timeline.iloc[:0], 0.5) == ""
