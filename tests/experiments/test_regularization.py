EXPERIMENT = "regularization"


def test_l1_is_sparser_than_l2(tiny_result):
    fraction = tiny_result.numbers["sparse_fraction"]
    assert fraction["l1"] > 5 * fraction["l2"]
    assert fraction["l1"] > fraction["l2"] + 0.1


def test_dropout_and_l2_shrink_the_gap(tiny_result):
    gap = tiny_result.numbers["loss_gap"]
    assert gap["dropout"] < 0.85 * gap["none"]
    assert gap["l2"] < 0.5 * gap["none"]
    accuracy_gap = tiny_result.numbers["accuracy_gap"]
    assert max(accuracy_gap["dropout"], accuracy_gap["l2"]) < accuracy_gap["none"]


def test_early_stopping_keeps_the_best_validation_epoch(tiny_result):
    n = tiny_result.numbers
    assert n["early_stopping_epochs_run"] > n["early_stopping_best_epoch"]
    assert abs(n["early_stopping_restored_val_loss"] - n["early_stopping_min_val_loss"]) < 1e-5
    assert n["early_stopping_test_loss"] < n["no_early_stopping_test_loss"]


def test_augmentation_improves_lenet5(tiny_result):
    accuracy = tiny_result.numbers["augmentation_test_accuracy"]
    assert accuracy["shift"] > accuracy["none"] + 0.005
    assert accuracy["none"] > 0.85  # the baseline did learn


def test_claim_holds_and_plots_written(tiny_result, assert_pngs):
    assert tiny_result.claim_holds, tiny_result.report()
    assert_pngs(tiny_result)
    assert len(tiny_result.plots) == 3
