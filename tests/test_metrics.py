"""Metrics equal scikit-learn's, EER on known cases, threshold rules and temperature scaling."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from deepfakeforensics.evaluation.calibration import (
    apply_temperature,
    fit_temperature,
    logit,
    sigmoid,
)
from deepfakeforensics.evaluation.metrics import compute_metrics, equal_error_rate, metrics_by_group, tpr_at_fpr
from deepfakeforensics.scoring import choose_threshold

LABELS = np.array([0, 0, 0, 0, 1, 1, 1, 1])
SCORES = np.array([0.1, 0.2, 0.3, 0.7, 0.4, 0.8, 0.9, 0.95])


def test_metrics_equal_sklearn_on_hand_made_scores():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 200)
    s = np.clip(0.35 * y + rng.uniform(0, 0.65, 200), 0, 1)
    m = compute_metrics(y, s, threshold=0.5)
    pred = (s >= 0.5).astype(int)
    assert m["auc"] == pytest.approx(skm.roc_auc_score(y, s))
    assert m["ap"] == pytest.approx(skm.average_precision_score(y, s))
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert m["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, pred))
    assert m["f1"] == pytest.approx(skm.f1_score(y, pred))
    assert m["log_loss"] == pytest.approx(skm.log_loss(y, s))
    assert (m["n"], m["n_real"], m["n_fake"]) == (200, int((y == 0).sum()), int((y == 1).sum()))


def test_eer_known_cases():
    # One real above and one fake below the threshold 0.7 out of four each: FPR = FNR = 1/4.
    assert equal_error_rate(LABELS, SCORES) == pytest.approx(0.25)
    assert equal_error_rate([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == pytest.approx(0.0)
    assert equal_error_rate([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1]) == pytest.approx(1.0)
    # Crossing between ROC points: reals 0.1, 0.6; fakes 0.5, 0.9 -> ROC (0,.5),(.5,.5),(.5,1): EER 0.5.
    assert equal_error_rate([0, 0, 1, 1], [0.1, 0.6, 0.5, 0.9]) == pytest.approx(0.5)


def test_eer_matches_brute_force_on_random_scores():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    s = rng.normal(y * 1.0, 1.0)
    fpr, tpr, _ = skm.roc_curve(y, s)
    fnr = 1 - tpr
    i = np.argmin(np.abs(fpr - fnr))
    assert abs(equal_error_rate(y, s) - (fpr[i] + fnr[i]) / 2) < 0.01


def test_tpr_at_fpr_interpolates_on_roc():
    # Scores sorted: F .95, F .9, F .8, R .7, F .4, R .3, R .2, R .1 -> ROC corners (0, .75) and (.25, 1).
    assert tpr_at_fpr(LABELS, SCORES, 0.0) == pytest.approx(0.75)
    assert tpr_at_fpr(LABELS, SCORES, 0.125) == pytest.approx(0.875)  # halfway along the segment
    assert tpr_at_fpr(LABELS, SCORES, 0.25) == pytest.approx(1.0)
    assert tpr_at_fpr(LABELS, SCORES, 0.9) == pytest.approx(1.0)


def test_one_class_gives_nan_with_note_not_crash():
    m = compute_metrics([1, 1, 1], [0.2, 0.7, 0.9])
    assert math.isnan(m["auc"]) and math.isnan(m["eer"]) and math.isnan(m["tpr_at_fpr_1"])
    assert "one class" in m["note"]
    assert m["accuracy"] == pytest.approx(2 / 3)
    assert m["log_loss"] == pytest.approx(skm.log_loss([1, 1, 1], [0.2, 0.7, 0.9], labels=[0, 1]))


def test_choose_threshold_rules():
    t = choose_threshold(LABELS, SCORES, "eer")
    pred = SCORES >= t
    fpr = pred[LABELS == 0].mean()
    fnr = (~pred[LABELS == 1]).mean()
    assert fpr == pytest.approx(fnr)
    t_fpr = choose_threshold(LABELS, SCORES, "fpr", target_fpr=0.0)
    assert t_fpr == pytest.approx(0.8)  # highest TPR (3/4) without flagging a real
    t_f1 = choose_threshold(LABELS, SCORES, "f1")
    best = max(skm.f1_score(LABELS, SCORES >= c) for c in SCORES)
    assert skm.f1_score(LABELS, SCORES >= t_f1) == pytest.approx(best)
    assert choose_threshold(LABELS, SCORES, "fixed") == 0.5
    with pytest.raises(ValueError, match="one class"):
        choose_threshold([1, 1], [0.3, 0.4])
    with pytest.raises(ValueError, match="unknown threshold rule"):
        choose_threshold(LABELS, SCORES, "youden")


def test_threshold_from_validation_applies_to_test():
    rng = np.random.default_rng(1)
    yv, yt = rng.integers(0, 2, 300), rng.integers(0, 2, 300)
    sv, st = sigmoid(rng.normal(2 * yv - 1.5, 1)), sigmoid(rng.normal(2 * yt - 1.5, 1))
    t = choose_threshold(yv, sv, "fpr", target_fpr=0.05)
    assert (sv[yv == 0] >= t).mean() <= 0.05
    m = compute_metrics(yt, st, threshold=t)
    assert m["threshold"] == t
    assert m["recall"] == pytest.approx((st[yt == 1] >= t).mean())


def test_temperature_scaling_recovers_overconfidence():
    rng = np.random.default_rng(2)
    true_logit = rng.normal(0, 2, 5000)
    y = (rng.uniform(size=5000) < sigmoid(true_logit)).astype(int)
    overconfident = 3.0 * true_logit
    t = fit_temperature(overconfident, y)
    assert t == pytest.approx(3.0, rel=0.1)
    calibrated = apply_temperature(overconfident, t)
    assert skm.log_loss(y, calibrated) < skm.log_loss(y, sigmoid(overconfident))
    # Ranking is unchanged.
    assert skm.roc_auc_score(y, calibrated) == pytest.approx(skm.roc_auc_score(y, overconfident))
    np.testing.assert_allclose(logit(sigmoid([-3.0, 0.0, 2.0])), [-3.0, 0.0, 2.0], atol=1e-6)


def test_metrics_by_method_scores_each_method_against_all_reals():
    df = pd.DataFrame(
        {
            "label": [0, 0, 0, 1, 1, 1, 1],
            "method": ["original"] * 3 + ["Deepfakes", "Deepfakes", "FaceSwap", "FaceSwap"],
            "score": [0.1, 0.2, 0.6, 0.9, 0.8, 0.5, 0.15],
        }
    )
    out = metrics_by_group(df, "method").set_index("method")
    assert list(out.index) == ["Deepfakes", "FaceSwap"]
    assert out.loc["Deepfakes", "auc"] == pytest.approx(1.0)
    assert out.loc["FaceSwap", "auc"] == pytest.approx(skm.roc_auc_score([0, 0, 0, 1, 1], [0.1, 0.2, 0.6, 0.5, 0.15]))
    assert out.loc["FaceSwap", "n"] == 5
