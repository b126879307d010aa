"""The logistic-regression candidate: preprocessing, exact linear SHAP, persistence, selection."""

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from churnlab.models import ChurnModel, LinearChurnModel, load_model_files
from churnlab.workflows.compare import paired_bootstrap_se, select_model


def _frame(n, seed):
    rng = np.random.default_rng(seed)
    orders = rng.poisson(3, n).astype(float)
    recency = rng.exponential(40, n)
    recency[rng.random(n) < 0.1] = np.nan  # never bought
    plan = pd.Categorical(rng.choice(["basic", "plus", "pro"], n, p=[0.5, 0.3, 0.2]))
    logit = 0.03 * np.nan_to_num(recency, nan=120) - 0.4 * orders + (plan == "basic") * 0.8 - 1.0
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame({"recency": recency, "orders": orders, "plan": plan}), y


def test_probabilities_equal_an_independent_scikit_learn_pipeline():
    X, y = _frame(3000, 0)
    Xv, yv = _frame(1000, 1)
    model = LinearChurnModel(C_grid=(0.5,)).fit(X, y, validation=(Xv, yv))
    numbers = make_pipeline(FunctionTransformer(np.log1p), SimpleImputer(strategy="median", add_indicator=True),
                            StandardScaler())
    pipe = make_pipeline(
        ColumnTransformer([("n", numbers, ["recency", "orders"]),
                           ("c", make_pipeline(OneHotEncoder(sparse_output=False), StandardScaler()), ["plan"])]),
        LogisticRegression(C=0.5, max_iter=5000),
    )
    pipe.fit(X.assign(plan=X["plan"].astype(str)), y)
    expected = pipe.predict_proba(Xv.assign(plan=Xv["plan"].astype(str)))[:, 1]
    np.testing.assert_allclose(model.churn_probability(Xv), expected, atol=1e-5)


def test_linear_shap_is_exact_and_matches_the_shap_library():
    import shap

    X, y = _frame(2000, 2)
    Xv, yv = _frame(800, 3)
    model = LinearChurnModel().fit(X, y, validation=(Xv, yv))
    p, contrib = model.churn_probability_and_contributions(Xv)
    np.testing.assert_allclose(contrib.sum(axis=1), np.log(p / (1 - p)), rtol=1e-12, atol=1e-12)
    assert np.array_equal(p, model.churn_probability(Xv))  # the same operations: bit-equal
    # shap's LinearExplainer on the design columns, background = the training rows, grouped back
    Z_train, Z = model._standardised(X), model._standardised(Xv)
    background = shap.maskers.Independent(Z_train, max_samples=len(Z_train))  # all rows, not shap's 100-row sample
    explainer = shap.LinearExplainer((model.coef_, model.intercept_), background)
    design = explainer.shap_values(Z)
    groups = model._groups()
    by_feature = np.column_stack([design[:, groups == j].sum(axis=1) for j in range(len(model.feature_names_))])
    np.testing.assert_allclose(contrib[:, :-1], by_feature, atol=1e-9)
    np.testing.assert_allclose(contrib[0, -1], explainer.expected_value, atol=1e-9)


def test_rare_unseen_and_missing_levels():
    X, y = _frame(2000, 4)
    X["plan"] = X["plan"].cat.add_categories(["legacy"])
    X.loc[:9, "plan"] = "legacy"  # 10 rows < min_category_count: pooled into "other"
    model = LinearChurnModel(min_category_count=30).fit(X, y, validation=_frame(500, 5))
    spec = {s["feature"]: s for s in model.spec_}["plan"]
    assert spec["levels"] == ["basic", "plus", "pro"] and spec["other"]
    probe = pd.DataFrame({"recency": [10.0] * 4, "orders": [2.0] * 4,
                          "plan": pd.Categorical(["legacy", "brand-new", None, "basic"])})
    D = model._design(probe)
    assert D[0].tolist() == D[1].tolist()  # rare and unseen share the "other" column
    assert D[2, -4:].tolist() == [0.0, 0.0, 0.0, 0.0]  # missing: no level at all
    assert D[3, -4:].tolist() == [1.0, 0.0, 0.0, 0.0]


def test_columns_restrict_the_model_but_keep_its_inputs():
    X, y = _frame(1500, 6)
    model = LinearChurnModel(columns=["recency"]).fit(X, y, validation=_frame(500, 7))
    contrib = model.contributions(X.head(50))
    assert model.feature_names_ == ["recency", "orders", "plan"]
    assert np.all(contrib[:, 1:3] == 0.0)


def test_round_trip_through_files_is_bit_identical(tmp_path):
    X, y = _frame(1500, 8)
    model = LinearChurnModel().fit(X, y, validation=_frame(500, 9))
    model.to_files(tmp_path / LinearChurnModel.MODEL_FILE, tmp_path / "churnlab.json", extra={"note": 1})
    loaded, meta = load_model_files(tmp_path)
    assert isinstance(loaded, LinearChurnModel) and meta["note"] == 1
    assert np.array_equal(loaded.churn_probability(X), model.churn_probability(X))
    assert not any(p.suffix == ".pkl" for p in tmp_path.iterdir())


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"C_grid": (0.1, -1.0)}, "`C_grid` must hold numbers > 0, got (0.1, -1.0)"),
        ({"C_grid": ()}, "`C_grid` must hold numbers > 0, got ()"),
        ({"metric": "accuracy"}, "`metric` must be one of"),
        ({"columns": ["nope"]}, "`columns`: ['nope'] not in the features"),
    ],
)
def test_bad_parameters_are_named(kwargs, message):
    X, y = _frame(300, 10)
    with pytest.raises(ValueError) as exc:
        LinearChurnModel(**kwargs).fit(X, y, validation=(X, y))
    assert message in str(exc.value)


def test_fit_needs_a_validation_period():
    X, y = _frame(300, 11)
    with pytest.raises(TypeError, match="`validation` must be"):
        LinearChurnModel().fit(X, y)


def test_paired_bootstrap_se_of_identical_scores_is_zero_and_positive_otherwise():
    rng = np.random.default_rng(0)
    y = (rng.random(600) < 0.3).astype(float)
    good = np.clip(y * 0.3 + rng.random(600) * 0.7, 0, 1)
    se = paired_bootstrap_se(y, {"a": good, "b": good.copy(), "c": rng.random(600)}, "a", "pr_auc", n_boot=50)
    assert se["a"] == 0.0 and se["b"] == 0.0 and se["c"] > 0.0


def test_one_se_rule_ships_the_simpler_model_on_a_tie_and_the_better_one_on_a_clear_gap():
    X, y = _frame(3000, 12)  # a linear truth: LightGBM cannot do clearly better
    Xv, yv = _frame(1500, 13)
    cands = lambda: {"lightgbm": ChurnModel(num_boost_round=200), "logistic_regression": LinearChurnModel()}  # noqa: E731
    sel = select_model(cands(), X, y, Xv, yv)
    assert sel.selected == "logistic_regression"
    v = sel.validation
    assert v.loc["logistic_regression", "select_score"] >= v["select_score"].max() - v.loc["logistic_regression", "se_of_gap_to_best"]
    # a non-linear truth (an interaction) that a linear model cannot represent
    rng = np.random.default_rng(14)
    Xn = pd.DataFrame({"a": rng.normal(size=6000), "b": rng.normal(size=6000)})
    yn = ((Xn["a"] * Xn["b"] > 0) ^ (rng.random(6000) < 0.1)).astype(int)
    sel = select_model(cands(), Xn[:4000], yn[:4000], Xn[4000:], yn[4000:])
    assert sel.selected == "lightgbm"
    best = select_model(cands(), X, y, Xv, yv, rule="best")
    assert best.selected == best.validation["select_score"].idxmax()
