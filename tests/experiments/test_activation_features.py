"""The activation-features experiment (9.1): its claim holds; its checks fail on broken data."""


from lamina.experiments import activation_features as af

EXPERIMENT = "activation-features"


def test_claim_holds_and_plot_written(tiny_result, assert_pngs):
    assert tiny_result.claim_holds, tiny_result.report()
    assert_pngs(tiny_result)


def test_checks_fail_on_broken_measurements(tiny_result):
    numbers = dict(tiny_result.numbers)
    numbers["mean_output_on_N01"] = dict(numbers["mean_output_on_N01"], sigmoid=0.0)
    numbers["one_sided_gap_at_0"] = dict(numbers["one_sided_gap_at_0"], relu=0.0)
    numbers["transcendentals_per_element"] = dict(numbers["transcendentals_per_element"],
                                                  relu=1.0)
    failed = [text for text, ok in af.judge(numbers).items() if not ok]
    assert len(failed) == 3, failed


def test_counting_sees_the_transcendental_calls():
    from lamina import functional as F

    assert af.transcendentals_per_element(F.relu) == 0
    assert af.transcendentals_per_element(F.sigmoid) == 1
    assert af.transcendentals_per_element(F.tanh) == 1
