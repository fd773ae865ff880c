EXPERIMENT = "regularization"


def test_l1_is_sparser_than_l2(tiny_result):
    fraction = tiny_result.numbers["sparse_fraction"]
    assert fraction["l1"] > 5 * fraction["l2"]
    assert fraction["l1"] > fraction["l2"] + 0.1


def test_dropout_and_l2_lower_the_test_error_at_the_same_budget(tiny_result):
    loss = tiny_result.numbers["moons_test_loss"]
    accuracy = tiny_result.numbers["moons_test_accuracy"]
    for kind in ("dropout", "l2"):
        assert loss[kind] < 0.9 * loss["none"]
        assert accuracy[kind] > accuracy["none"]
    gap = tiny_result.numbers["loss_gap"]  # and the train/test gap shrinks too
    assert max(gap["dropout"], gap["l2"]) < gap["none"]


def test_test_error_checks_fail_without_a_real_regulariser():
    """A broken variant: "regularised" runs that are the unregularised run fail the checks."""
    from lamina.experiments.regularization import judge_test_error

    none = {"test_loss": 0.6, "test_accuracy": 0.86}
    assert not any(judge_test_error({"none": none, "dropout": none, "l2": none}).values())


def test_early_stopping_keeps_the_best_validation_epoch(tiny_result):
    n = tiny_result.numbers
    assert n["early_stopping_epochs_run"] > n["early_stopping_best_epoch"]
    assert abs(n["early_stopping_restored_val_loss"] - n["early_stopping_min_val_loss"]) < 1e-5
    assert n["early_stopping_test_loss"] < n["same_data_full_budget_test_loss"]


def test_augmentation_improves_lenet5(tiny_result):
    accuracy = tiny_result.numbers["augmentation_test_accuracy"]
    assert accuracy["shift"] > accuracy["none"] + 0.005
    assert accuracy["none"] > 0.85  # the baseline did learn


def test_claim_holds_and_plots_written(tiny_result, assert_pngs):
    assert tiny_result.claim_holds, tiny_result.report()
    assert_pngs(tiny_result)
    assert len(tiny_result.plots) == 3
