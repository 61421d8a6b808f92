"""Metrics against their references: scikit-learn, scipy, seqeval, and hand-computed SQuAD cases."""

import numpy as np
import pytest

from bert_jax import metrics

sklearn_metrics = pytest.importorskip("sklearn.metrics")
stats = pytest.importorskip("scipy.stats")


def test_classification_metrics_match_sklearn_on_random_and_edge_cases():
    rng = np.random.default_rng(0)
    cases = [(rng.integers(0, 2, n), rng.integers(0, 2, n)) for n in (1, 2, 7, 100, 1000)]
    cases += [(rng.integers(0, 3, 200), rng.integers(0, 3, 200))]  # multiclass MCC (MNLI-style labels)
    ones, zeros = np.ones(10, int), np.zeros(10, int)
    cases += [(ones, ones), (zeros, zeros), (ones, zeros), (zeros, ones), (ones, rng.integers(0, 2, 10))]
    for p, y in cases:
        assert metrics.accuracy(p, y) == pytest.approx(sklearn_metrics.accuracy_score(y, p))
        assert metrics.matthews_corrcoef(p, y) == pytest.approx(sklearn_metrics.matthews_corrcoef(y, p), abs=1e-12)
        if max(p.max(), y.max()) <= 1:
            expected = sklearn_metrics.f1_score(y, p, zero_division=0.0)
            assert metrics.f1_binary(p, y) == pytest.approx(expected)


def test_correlations_match_scipy_including_ties():
    rng = np.random.default_rng(1)
    for x, y in [(rng.normal(size=50), rng.normal(size=50)), (rng.integers(0, 5, 80), rng.integers(0, 5, 80)),
                 (np.arange(10.0), np.arange(10.0) ** 3), (rng.normal(size=3), rng.normal(size=3))]:
        assert metrics.pearson(x, y) == pytest.approx(stats.pearsonr(x, y)[0], abs=1e-12)
        assert metrics.spearman(x, y) == pytest.approx(stats.spearmanr(x, y)[0], abs=1e-12)


def test_squad_normalisation_and_scores_by_hand():
    assert metrics.normalize_answer("The  Eiffel-Tower!") == "eiffeltower"
    assert metrics.normalize_answer("an apple, a day") == "apple day"
    gold = {"q1": ["Denver Broncos", "The Denver Broncos"], "q2": ["Santa Clara, California"], "q3": [""]}
    predictions = {"q1": "the Denver Broncos.", "q2": "Santa Clara", "q3": ""}
    exact, f1 = metrics.squad_scores(predictions, gold)
    assert exact == {"q1": 1.0, "q2": 0.0, "q3": 1.0}
    # q2: 2 common tokens; precision 2/2, recall 2/3 → F1 0.8.
    assert f1["q2"] == pytest.approx(0.8) and f1["q3"] == 1.0
    out = metrics.squad_evaluate(predictions, gold)
    assert out["exact"] == pytest.approx(200 / 3) and out["f1"] == pytest.approx(280 / 3)
    assert out["HasAns_total"] == 2 and out["NoAns_total"] == 1 and out["NoAns_exact"] == 100.0
    # A non-empty answer to an unanswerable question scores 0.
    assert metrics.squad_scores({"q3": "something"}, {"q3": [""]})[0]["q3"] == 0.0


def test_null_threshold_search_on_a_constructed_example():
    """Two answerable questions (right answers), two unanswerable (wrongly answered). Odds: a1 -3, a2 -1,
    u1 0.5, u2 2. Abstaining above 0 keeps both answers and fixes both unanswerables: 4/4 at threshold -1."""
    gold = {"a1": ["x"], "a2": ["y"], "u1": [""], "u2": [""]}
    predictions = {"a1": "x", "a2": "y", "u1": "z", "u2": "w"}
    exact, _ = metrics.squad_scores(predictions, gold)
    odds = {"a1": -3.0, "a2": -1.0, "u1": 0.5, "u2": 2.0}
    best, threshold = metrics.best_null_threshold(exact, odds, gold, predictions)
    assert best == 100.0 and threshold == -1.0
    # If u1's odds were below a2's, no threshold could separate them: the best is 3/4.
    best, threshold = metrics.best_null_threshold(exact, {**odds, "u1": -2.0}, gold, predictions)
    assert best == 75.0
    # Every answer wrong: abstaining everywhere is best (2/4), with a threshold below every odds value.
    wrong = {"a1": "no", "a2": "no", "u1": "z", "u2": "w"}
    exact, _ = metrics.squad_scores(wrong, gold)
    assert metrics.best_null_threshold(exact, odds, gold, wrong) == (50.0, -4.0)


def test_entity_f1_matches_seqeval():
    seqeval = pytest.importorskip("seqeval.metrics")
    rng = np.random.default_rng(2)
    types = ["PER", "LOC", "ORG", "MISC"]

    def random_tags(n):
        return [rng.choice(["O", "O", "O"] + [f"{p}-{t}" for p in "BI" for t in types]) for _ in range(n)]

    for _ in range(30):
        gold = [random_tags(int(rng.integers(1, 30))) for _ in range(20)]
        pred = [[t if rng.random() < 0.7 else random_tags(1)[0] for t in s] for s in gold]
        ours = metrics.entity_f1(gold, pred)
        assert ours["precision"] == pytest.approx(seqeval.precision_score(gold, pred))
        assert ours["recall"] == pytest.approx(seqeval.recall_score(gold, pred))
        assert ours["f1"] == pytest.approx(seqeval.f1_score(gold, pred))
    # Edge cases: no entities anywhere, no predicted entities, IOB1 (I- opening a chunk).
    assert metrics.entity_f1([["O", "O"]], [["O", "O"]])["f1"] == 0.0
    assert metrics.entity_f1([["B-PER", "I-PER"]], [["O", "O"]])["recall"] == 0.0
    iob1 = [["I-PER", "I-PER", "B-PER", "O", "I-LOC"]]
    assert metrics.entities(iob1[0]) == [("PER", 0, 1), ("PER", 2, 2), ("LOC", 4, 4)]
    assert metrics.entity_f1(iob1, iob1)["f1"] == pytest.approx(seqeval.f1_score(iob1, iob1))
    with pytest.raises(ValueError, match="sentence 0: 2 gold tags but 1 predicted"):
        metrics.entity_f1([["O", "O"]], [["O"]])
