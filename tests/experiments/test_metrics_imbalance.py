import numpy as np

EXPERIMENT = "metrics-imbalance"


def test_majority_classifier_has_high_accuracy_and_zero_f1(tiny_result):
    majority = tiny_result.numbers["scores"]["always majority"]
    assert abs(majority["accuracy"] - 0.95) < 0.005
    assert majority["f1"] == majority["precision"] == majority["recall"] == 0.0
    assert tiny_result.numbers["scores"]["trained"]["f1"] > 0.3


def test_f_alpha_is_eq_7_4_and_moves_from_precision_to_recall(tiny_result):
    n = tiny_result.numbers
    assert n["max_difference_fbeta_vs_eq_7_4"] < 1e-12
    f = n["f_alpha_at_0.5"]
    trained = n["scores"]["trained"]
    assert abs(f[0.01] - trained["precision"]) < 1e-3
    assert abs(f[100.0] - trained["recall"]) < 1e-3
    values = list(f.values())
    # monotone between the two ends, in the direction precision -> recall
    assert np.all(np.sign(np.diff(values)) == np.sign(trained["recall"] - trained["precision"]))


def test_larger_alpha_chooses_more_recall(tiny_result):
    best = tiny_result.numbers["best_threshold_by_alpha"]
    alphas = sorted(best)
    recalls = [best[a]["recall"] for a in alphas]
    assert all(a <= b for a, b in zip(recalls[:-1], recalls[1:], strict=True))
    assert best[alphas[-1]]["recall"] > best[alphas[0]]["recall"] + 0.2
    assert best[alphas[-1]]["precision"] < best[alphas[0]]["precision"]


def test_claim_holds_and_plot_written(tiny_result, assert_pngs):
    assert tiny_result.claim_holds, tiny_result.report()
    assert_pngs(tiny_result)


def test_same_seed_same_numbers(tiny_result):
    from lamina.experiments import metrics_imbalance

    again = metrics_imbalance.run(tiny=True, progress=False)
    assert again.numbers["scores"] == tiny_result.numbers["scores"]
