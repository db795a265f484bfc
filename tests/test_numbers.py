"""The numeric core against hand computations: single- and multi-label metrics, tuned thresholds, temperature
scaling and calibration error, and the two plots drawn from them. Every expected number is derived in a comment."""

import json
import math

import matplotlib.image
import numpy as np
import pytest

from kerasclf import plots
from kerasclf.calibration import apply_temperature, expected_calibration_error, fit_temperature, reliability_bins
from kerasclf.decision import RULES, best_threshold, binary_threshold, per_class_thresholds
from kerasclf.metrics import average_precision, classification_metrics, multilabel_metrics

# --- single-label metrics -----------------------------------------------------------------------------------

Y_BIN = np.array([0, 0, 1, 1, 1])
P1 = np.array([0.1, 0.6, 0.4, 0.7, 0.9])
PROBS_BIN = np.stack([1 - P1, P1], axis=1)


def test_binary_metrics_by_argmax_and_by_a_threshold():
    m = classification_metrics(Y_BIN, PROBS_BIN, ["neg", "pos"])
    # argmax predicts [0, 1, 0, 1, 1]: cm [[1, 1], [1, 2]], tp 2 tn 1 fp 1 fn 1
    assert m["confusion_matrix"] == [[1, 1], [1, 2]]
    assert m["accuracy"] == pytest.approx(3 / 5)
    assert m["balanced_accuracy"] == pytest.approx((1 / 2 + 2 / 3) / 2)  # recalls 1/2 and 2/3
    assert m["mcc"] == pytest.approx((2 * 1 - 1 * 1) / math.sqrt(3 * 3 * 2 * 2))  # 1/6
    # ROC-AUC: positives 0.4, 0.7, 0.9 against negatives 0.1, 0.6: 5 of 6 pairs ordered
    assert m["roc_auc"] == pytest.approx(5 / 6)

    t = classification_metrics(Y_BIN, PROBS_BIN, ["neg", "pos"], threshold=0.35)
    # p1 >= 0.35 predicts [0, 1, 1, 1, 1]: cm [[1, 1], [0, 3]], tp 3 tn 1 fp 1 fn 0
    assert t["confusion_matrix"] == [[1, 1], [0, 3]]
    assert t["accuracy"] == pytest.approx(4 / 5)
    assert t["balanced_accuracy"] == pytest.approx((1 / 2 + 1) / 2)
    assert t["mcc"] == pytest.approx(3 / math.sqrt(4 * 3 * 2 * 1))
    # precision neg 1/1, pos 3/4; recall neg 1/2, pos 1; F1 neg 2/3, pos 6/7
    assert t["f1_macro"] == pytest.approx((2 / 3 + 6 / 7) / 2)
    assert t["per_class"]["pos"] == pytest.approx({"precision": 0.75, "recall": 1.0, "f1": 6 / 7, "support": 3})
    assert t["roc_auc"] == pytest.approx(5 / 6)  # a threshold does not move the ranking
    assert set(t) == {
        "accuracy",
        "f1_macro",
        "precision_macro",
        "recall_macro",
        "balanced_accuracy",
        "mcc",
        "roc_auc",
        "count",
        "per_class",
        "confusion_matrix",
    }


def test_multiclass_mcc_and_balanced_accuracy_over_the_classes_present():
    # (true, predicted): (0,0) x2, (0,1), (1,1), (1,2), (2,0), (2,2) x2; class "d" has no row
    pairs = [(0, 0), (0, 0), (0, 1), (1, 1), (1, 2), (2, 0), (2, 2), (2, 2)]
    y = np.array([a for a, _ in pairs])
    probs = np.eye(4)[[b for _, b in pairs]] * 0.7 + 0.075
    m = classification_metrics(y, probs, ["a", "b", "c", "d"])
    # cm rows [2,1,0], [0,1,1], [1,0,2]: true t = predicted p = [3, 2, 3], correct c = 5, all s = 8
    # Gorodkin: (c s - p.t) / sqrt((s^2 - p.p)(s^2 - t.t)) = (40 - 22) / sqrt(42 * 42) = 3/7
    assert m["mcc"] == pytest.approx(3 / 7)
    assert m["balanced_accuracy"] == pytest.approx((2 / 3 + 1 / 2 + 2 / 3) / 3)  # "d" left out: 11/18
    assert m["recall_macro"] == pytest.approx((2 / 3 + 1 / 2 + 2 / 3 + 0) / 4)  # unchanged: over all 4
    assert "roc_auc" not in m and m["count"] == 8
    with pytest.raises(ValueError):
        classification_metrics(y, probs, ["a", "b", "c", "d"], threshold=0.5)


def test_mcc_is_zero_when_one_class_is_predicted_throughout():
    # predicted p = [2, 0], s = 2: s^2 - p.p = 0, the denominator is 0
    m = classification_metrics(np.array([0, 1]), np.array([[0.9, 0.1], [0.8, 0.2]]), ["neg", "pos"])
    assert m["mcc"] == 0.0


def test_average_precision_steps_at_each_distinct_score():
    # descending: 0.9 (pos) P 1 R 1/3; 0.8 (neg) P 1/2, R unchanged; 0.7 twice (pos, pos) P 3/4 R 1; 0.2 R unchanged
    # AP = 1/3 * 1 + 2/3 * 3/4 = 5/6 (the tied pair enters at once)
    assert average_precision([1, 0, 1, 1, 0], [0.9, 0.8, 0.7, 0.7, 0.2]) == pytest.approx(5 / 6)
    assert math.isnan(average_precision([0, 0], [0.3, 0.6]))


# --- multi-label metrics ------------------------------------------------------------------------------------

Y_ML = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 0]])
P_ML = np.array([[0.9, 0.2, 0.1], [0.4, 0.35, 0.2], [0.6, 0.1, 0.3], [0.2, 0.4, 0.6]])


def test_multilabel_metrics():
    m = multilabel_metrics(Y_ML, P_ML, ["a", "b", "c"], np.array([0.5, 0.3, 0.5]))
    # predicted (>= 0.5, 0.3, 0.5): [[1,0,0], [0,1,0], [1,0,0], [0,1,1]]
    # a: tp 1 fp 1 fn 1 -> P R F1 1/2; b: the same; c: no true label, tp 0 fp 1 -> 0, 0, 0
    assert m["per_class"]["a"] == pytest.approx(
        {
            "precision": 0.5,
            "recall": 0.5,
            "f1": 0.5,
            "support": 2,
            "roc_auc": 0.75,
            "average_precision": 5 / 6,
            "threshold": 0.5,
        }
    )
    assert m["per_class"]["b"]["threshold"] == 0.3 and m["per_class"]["b"]["f1"] == 0.5
    assert m["per_class"]["c"] == {
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "support": 0,
        "roc_auc": None,
        "average_precision": None,
        "threshold": 0.5,
    }
    # micro: TP 2, FP 3, FN 2 -> P 2/5, R 1/2, F1 2*2 / (2*2 + 3 + 2) = 4/9
    assert (m["precision_micro"], m["recall_micro"]) == pytest.approx((2 / 5, 1 / 2))
    assert m["f1_micro"] == pytest.approx(4 / 9)
    assert (m["precision_macro"], m["recall_macro"], m["f1_macro"]) == pytest.approx((1 / 3, 1 / 3, 1 / 3))
    assert m["subset_accuracy"] == pytest.approx(1 / 4)  # only the first row is right in all 3 labels
    assert m["hamming_loss"] == pytest.approx(5 / 12)  # wrong cells per row 0, 1, 2, 2
    # ROC-AUC a: pos 0.9, 0.4 vs neg 0.6, 0.2 -> 3/4 pairs; b: pos 0.35, 0.1 vs neg 0.2, 0.4 -> 1/4; c undefined
    assert m["roc_auc_macro"] == pytest.approx((3 / 4 + 1 / 4) / 2)
    # AP a: 0.9 pos (P 1, R 1/2), 0.6 neg, 0.4 pos (P 2/3, R 1) -> 1/2 + 1/3 = 5/6
    # AP b: 0.4 neg, 0.35 pos (P 1/2, R 1/2), 0.2 neg, 0.1 pos (P 2/4, R 1) -> 1/4 + 1/4 = 1/2
    assert m["per_class"]["b"]["average_precision"] == pytest.approx(1 / 2)
    assert m["average_precision_macro"] == pytest.approx((5 / 6 + 1 / 2) / 2)
    assert (m["count"], m["labels_per_text"], m["no_label_texts"]) == (4, pytest.approx(1.0), 1)  # 1+2+1+0 / 4
    json.dumps(m, allow_nan=False)  # None, not NaN, where undefined


# --- decision thresholds ------------------------------------------------------------------------------------

Y_T = np.array([0, 0, 1, 0, 1, 1])
S_T = np.array([0.1, 0.3, 0.4, 0.5, 0.7, 0.9])
# candidates: 0.95 (above 0.9 by half the gap 0.2), midpoints 0.8, 0.6, 0.45, 0.35, 0.2, and 0.0 (below 0.1 by 0.1)
# rows positive / tp / fp: 0.8: 1/1/0  0.6: 2/2/0  0.45: 3/2/1  0.35: 4/3/1  0.2: 5/3/2  0.0: 6/3/3
# F1 = 2tp / (2tp + fp + fn): 1/2, 4/5, 2/3, 6/7, 3/4, 2/3 -> 0.35
# MCC: 0.6: (2*3 - 0) / sqrt(2*3*3*4) = 0.707; 0.35: (3*2 - 1*0) / sqrt(4*3*2*3) = 0.707; 0.45: 1/3 ...
# a tie: 0.6 is closer to 0.5 than 0.35


def test_best_threshold_for_f1_and_for_mcc():
    assert best_threshold(Y_T, S_T, "f1") == pytest.approx(0.35)
    assert best_threshold(Y_T, S_T, "mcc") == pytest.approx(0.6)
    assert per_class_thresholds(np.stack([Y_T, Y_T], 1), np.stack([S_T, S_T], 1), "mcc") == pytest.approx([0.6, 0.6])


def test_best_threshold_outer_candidates_and_degenerate_rows():
    # y [1, 0, 1] at 0.1, 0.2, 0.3: F1 at 0.25 is 2/3, at 0.15 1/2, all positive (below 0.1: 0.05) 4/5
    assert best_threshold([1, 0, 1], [0.1, 0.2, 0.3]) == pytest.approx(0.05)
    # one distinct score 0.3: candidates 0.8 and -0.2 (0.5 out); F1 all positive 2/3 beats 0
    assert best_threshold([0, 1], [0.3, 0.3], "f1") == pytest.approx(-0.2)
    # MCC is 0 at both: the tie goes to the one closer to 0.5
    assert best_threshold([0, 1], [0.3, 0.3], "mcc") == pytest.approx(0.8)
    assert best_threshold([1, 1], [0.2, 0.9]) == 0.5 and best_threshold([0, 0], [0.2, 0.9], "mcc") == 0.5
    with pytest.raises(ValueError):
        best_threshold(Y_T, S_T, "accuracy")


def test_binary_threshold_rules():
    probs = np.stack([1 - S_T, S_T], axis=1)
    assert RULES == ("0.5", "best_f1", "best_mcc")
    assert binary_threshold("0.5", Y_T, probs) == 0.5
    assert binary_threshold("best_f1", Y_T, probs) == pytest.approx(0.35)
    assert binary_threshold("best_mcc", Y_T, probs) == pytest.approx(0.6)
    with pytest.raises(ValueError):
        binary_threshold("f1", Y_T, probs)


# --- temperature scaling and calibration --------------------------------------------------------------------


def test_fit_temperature_softmax():
    # every row's logits [1, -1], 3 labelled 0 and 1 labelled 1: p(class 0) = sigmoid(2/T) and the NLL is least
    # where sigmoid(2/T) = 3/4 (the share of 0s): 2/T = ln 3, T = 2 / ln 3
    logits = np.array([[1.0, -1.0]] * 4)
    y = np.array([0, 0, 0, 1])
    temperature = fit_temperature(logits, y)
    assert temperature == pytest.approx(2 / math.log(3), rel=1e-5)
    assert apply_temperature(logits, temperature)[0] == pytest.approx([3 / 4, 1 / 4], rel=1e-5)


def test_fit_temperature_sigmoid():
    # every cell's logit 2, 3 of 4 targets 1: BCE least where sigmoid(2/T) = 3/4, T = 2 / ln 3
    temperature = fit_temperature(np.full((2, 2), 2.0), np.array([[1, 1], [1, 0]]), multilabel=True)
    assert temperature == pytest.approx(2 / math.log(3), rel=1e-5)
    assert apply_temperature(np.array([[2.0, -2.0]]), temperature, multilabel=True)[0] == pytest.approx([0.75, 0.25])


def test_fit_temperature_edges():
    assert fit_temperature(np.zeros((0, 3)), np.zeros(0, dtype=int)) == 1.0
    assert fit_temperature(np.zeros((3, 2)), np.array([0, 1, 0])) == 1.0  # the NLL does not depend on T
    # always right: the NLL falls as T shrinks, to the lower bound 1e-2
    assert fit_temperature(np.array([[1.0, -1.0]] * 3), np.array([0, 0, 0])) == pytest.approx(1e-2, rel=1e-5)
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # large logits: no overflow, no nan
        big = np.array([[800.0, -800.0], [-800.0, 800.0]])
        assert np.isfinite(fit_temperature(big, np.array([0, 0])))
        assert apply_temperature(big, 1.0)[0] == pytest.approx([1.0, 0.0])
        assert apply_temperature(big, 1.0, multilabel=True)[0] == pytest.approx([1.0, 0.0])


def test_expected_calibration_error_multiclass():
    probs = np.array([[0.9, 0.05, 0.05], [0.7, 0.2, 0.1], [0.5, 0.3, 0.2], [0.4, 0.3, 0.3], [0.8, 0.1, 0.1]])
    y = np.array([0, 1, 0, 2, 0])
    # confidence / correct: 0.9 1, 0.7 0, 0.5 1, 0.4 0, 0.8 1; bins (0,.2] (.2,.4] (.4,.6] (.6,.8] (.8,1]
    # (0.4 and 0.8 on an upper edge, inside): counts 0, 1, 1, 2, 1; bin 3 mean confidence 0.75, accuracy 1/2
    b = reliability_bins(probs, y, bins=5)
    assert b["count"].tolist() == [0, 1, 1, 2, 1]
    assert b["confidence"][1:] == pytest.approx([0.4, 0.5, 0.75, 0.9])
    assert b["accuracy"][1:] == pytest.approx([0.0, 1.0, 0.5, 1.0]) and np.isnan(b["accuracy"][0])
    # ECE = (1 * 0.4 + 1 * 0.5 + 2 * 0.25 + 1 * 0.1) / 5 = 0.3
    assert expected_calibration_error(probs, y, bins=5) == pytest.approx(0.3)


def test_expected_calibration_error_multilabel():
    # cells 0.9 (1), 0.1 (0), 0.7 (0), 0.3 (0); bins [0, .5], (.5, 1]: mean 0.2 vs 0, mean 0.8 vs 1/2
    # ECE = (2 * 0.2 + 2 * 0.3) / 4 = 0.25
    probs, y = np.array([[0.9, 0.1], [0.7, 0.3]]), np.array([[1, 0], [0, 0]])
    assert reliability_bins(probs, y, bins=2, multilabel=True)["count"].tolist() == [2, 2]
    assert expected_calibration_error(probs, y, bins=2, multilabel=True) == pytest.approx(0.25)


# --- plots --------------------------------------------------------------------------------------------------


BEFORE = reliability_bins(np.array([[0.9, 0.1], [0.7, 0.3], [0.6, 0.4], [0.2, 0.8]]), np.array([0, 1, 0, 1]))
AFTER = reliability_bins(np.array([[0.7, 0.3]] * 4), np.array([0, 1, 0, 1]))


@pytest.mark.parametrize("after", [AFTER, None], ids=["before-and-after", "before-only"])
def test_reliability_diagram_writes_a_readable_png(tmp_path, after):
    plots.reliability_diagram(BEFORE, after, tmp_path / "reliability.png", title="test")
    height, width = matplotlib.image.imread(tmp_path / "reliability.png").shape[:2]
    assert height >= 800 and width >= 700, (height, width)  # 6.5 x 8 inches at 120 dpi


def test_per_class_f1_writes_a_png_tall_enough_for_28_classes(tmp_path):
    per_class = {f"class{i}": {"f1": i / 28, "support": i} for i in range(28)}
    plots.per_class_f1(per_class, tmp_path / "f1.png", title="28 labels")
    height, width = matplotlib.image.imread(tmp_path / "f1.png").shape[:2]
    assert height >= 1000 and width >= 900, (height, width)  # about 0.3 inch a class


def test_labels_with_few_positives_share_the_pooled_threshold():
    # label 0: three positives, its own best F1 cut 0.35 (as Y_T, S_T); label 1: one positive at 0.05, whose
    # own best cut (0.025, below every score) would mark every row
    y = np.stack([Y_T, np.eye(len(Y_T), dtype=int)[0]], axis=1)
    p = np.stack([S_T, np.r_[0.05, np.linspace(0.1, 0.2, len(Y_T) - 1)]], axis=1)
    own = per_class_thresholds(y, p)
    pooled = best_threshold(y.ravel(), p.ravel())
    assert own[0] == pytest.approx(0.35) and own[1] < 0.05
    assert per_class_thresholds(y, p, min_positives=2) == pytest.approx([0.35, pooled])
    assert per_class_thresholds(y, p, min_positives=4) == pytest.approx([pooled, pooled])
