"""The pattern-cached TreeSHAP engine against LightGBM's own pred_contrib.

Exactness is the whole point, so the tests feed the decisions LightGBM treats specially:
values exactly at split thresholds (taken from the model), NaN with each missing-value mode,
zeros and values within LightGBM's zero threshold, infinities, categorical codes that are
unseen, negative, fractional or missing.
"""

import importlib
import pickle

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from churnlab.explain import treeshap as _treeshap
from churnlab.explain.treeshap import PatternTreeSHAP, lightgbm_matrix


def _data(seed: int, n: int = 3000):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": rng.integers(0, 5, n).astype(float),  # few distinct values: ties at thresholds
            "c": np.where(rng.random(n) < 0.3, 0.0, rng.exponential(size=n)),  # many zeros
            "d": np.where(rng.random(n) < 0.2, np.nan, rng.normal(size=n)),  # missing values
            "cat": pd.Categorical(rng.choice(["x", "y", "z", "w", "v"], n)),
        }
    )
    logit = X["a"] + 0.5 * X["b"] - X["c"] + np.nan_to_num(X["d"]) + X["cat"].cat.codes.isin([1, 3]) * 1.5
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y


def _model(seed: int, **params):
    X, y = _data(seed)
    p = {"objective": "binary", "verbose": -1, "seed": seed, "num_leaves": 15, "min_data_in_leaf": 5,
         "min_data_per_group": 5, "cat_smooth": 1, **params}
    return lgb.train(p, lgb.Dataset(X, y, categorical_feature=["cat"]), num_boost_round=40), X


def _awkward(booster, X: pd.DataFrame, seed: int) -> np.ndarray:
    """Rows that exercise every special case, in LightGBM's matrix form."""
    rng = np.random.default_rng(seed)
    A = lightgbm_matrix(X)
    thresholds = {}
    for tree in booster.dump_model()["tree_info"]:
        stack = [tree["tree_structure"]]
        while stack:
            node = stack.pop()
            if "split_index" in node:
                if node["decision_type"] == "<=":
                    thresholds.setdefault(node["split_feature"], []).append(node["threshold"])
                stack += [node["left_child"], node["right_child"]]
    rows = []
    for f, ts in thresholds.items():
        for t in ts[:30]:
            for v in (t, np.nextafter(t, np.inf), np.nextafter(t, -np.inf)):
                r = A[rng.integers(len(A))].copy()
                r[f] = v
                rows.append(r)
    special = [np.nan, 0.0, -0.0, 1e-36, -1e-36, 1e-35, np.inf, -np.inf, 1e300]
    cat_special = [np.nan, -1.0, -0.5, 0.7, 4.0, 7.0, 1e12, np.inf]  # 7 and 1e12: unseen codes
    for f in range(A.shape[1]):
        for v in cat_special if f == 4 else special:
            r = A[rng.integers(len(A))].copy()
            r[f] = v
            rows.append(r)
    return np.vstack([A[:500], np.array(rows)])


@pytest.mark.parametrize(
    "seed,params",
    [
        (0, {}),  # missing values as NaN (LightGBM's default)
        (1, {"zero_as_missing": True}),  # missing_type Zero
        (2, {"use_missing": False}),  # missing_type None: NaN read as 0
        (3, {"num_leaves": 63, "min_data_in_leaf": 2}),  # 62 splits: the widest pattern
        (4, {"max_cat_to_onehot": 8}),  # one-vs-rest categorical splits
    ],
)
def test_equals_pred_contrib_on_awkward_rows(seed, params):
    booster, X = _model(seed, **params)
    A = _awkward(booster, X, seed)
    engine = PatternTreeSHAP(booster)
    assert engine.supported
    ours = engine.contributions(A)
    theirs = booster.predict(A, pred_contrib=True)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12)
    assert (ours[:, -1] == theirs[:, -1]).all()  # the expected value is LightGBM's own
    # rows add up to the raw score, as pred_contrib's do
    np.testing.assert_allclose(ours.sum(axis=1), booster.predict(A, raw_score=True), atol=1e-12)
    # the margin from the same pass is LightGBM's raw score to the bit (leaf values added in
    # tree order), on a fresh engine and again from the warm cache
    for _ in range(2):
        contrib, margin = engine.contributions_and_margin(A)
        assert margin.tobytes() == booster.predict(A, raw_score=True).tobytes()
        assert contrib.tobytes() == ours.tobytes()


@pytest.mark.parametrize("seed,params", [(0, {}), (1, {"zero_as_missing": True}), (3, {"num_leaves": 63, "min_data_in_leaf": 2})])
def test_pattern_values_are_lightgbm_per_tree_values_to_the_bit(seed, params):
    """The numba TreeSHAP of a (tree, pattern) repeats Tree::TreeSHAP's arithmetic exactly."""
    booster, X = _model(seed, **params)
    A = _awkward(booster, X, seed)[:400]
    engine = PatternTreeSHAP(booster)
    _, codes_k, _, _, _, pattern_k = _treeshap._compile()
    codes = codes_k(engine._decisions(A), engine.nnodes, engine.col, engine.thr)
    leaves = booster.predict(A, pred_leaf=True)
    for t in range(engine.n_trees):
        vals, leaf = pattern_k(
            np.full(len(A), t), codes[t], engine.root, engine.left, engine.right, engine.feature, engine.icount,
            engine.lcount, engine.leaves, engine.tfeat, engine.tk, engine.n_features, engine.store.shape[1],
        )
        theirs = booster.predict(A, start_iteration=t, num_iteration=1, pred_contrib=True)
        used = engine.tfeat[t, : engine.tk[t]]
        assert vals[:, : engine.tk[t]].tobytes() == np.ascontiguousarray(theirs[:, used]).tobytes()
        assert (np.delete(theirs[:, :-1], used, axis=1) == 0).all()  # no value outside the tree's features
        expected_leaf = [booster.get_leaf_output(t, int(j)) for j in leaves[:, t]]
        assert leaf.tobytes() == np.array(expected_leaf).tobytes()


def test_matrix_of_the_wrong_width_is_refused():
    booster, X = _model(0)
    engine = PatternTreeSHAP(booster)
    with pytest.raises(ValueError, match=r"reads 5 features per row, got an array of shape \(10, 4\)"):
        engine.contributions(lightgbm_matrix(X.head(10))[:, :4])


def test_matrix_matches_lightgbm_pandas_input():
    """lightgbm_matrix gives the booster what a DataFrame gives it (categories as codes)."""
    booster, X = _model(0)
    X = X.copy()
    X.loc[X.index[:20], "cat"] = np.nan
    np.testing.assert_array_equal(booster.predict(lightgbm_matrix(X)), booster.predict(X))


def test_cache_is_deterministic_and_chunking_does_not_change_bytes():
    booster, X = _model(5)
    A = _awkward(booster, X, 5)
    whole = PatternTreeSHAP(booster).contributions(A)
    engine = PatternTreeSHAP(booster)
    parts = np.concatenate([engine.contributions(A[s : s + 97]) for s in range(0, len(A), 97)])
    again = engine.contributions(A[::-1])[::-1]  # warm cache, other order
    assert whole.tobytes() == parts.tobytes() == np.ascontiguousarray(again).tobytes()
    margins = np.concatenate([engine.contributions_and_margin(A[s : s + 97])[1] for s in range(0, len(A), 97)])
    assert margins.tobytes() == booster.predict(A, raw_score=True).tobytes()
    # each (tree, pattern) pair is evaluated once: rows seen before add nothing to the cache
    seen = engine.cached_patterns
    assert seen == int(engine.n_patterns.sum()) < engine.n_trees * len(A)
    engine.contributions(np.vstack([A[:300], A[:300]]))
    assert engine.cached_patterns == seen


def test_cache_bound_starts_over_and_stays_exact(monkeypatch):
    booster, X = _model(6)
    A = lightgbm_matrix(X)
    monkeypatch.setattr(_treeshap, "_MAX_CACHE_BYTES", 4096)
    monkeypatch.setattr(_treeshap, "_BLOCK", 256)
    engine = PatternTreeSHAP(booster)
    ours = engine.contributions(A)
    np.testing.assert_allclose(ours, booster.predict(A, pred_contrib=True), rtol=0, atol=1e-12)
    assert engine.contributions_and_margin(A)[1].tobytes() == booster.predict(A, raw_score=True).tobytes()
    # the cache started over before the last block: it holds exactly that block's patterns
    last = len(A) - 256 * ((len(A) - 1) // 256)
    fresh = PatternTreeSHAP(booster)
    fresh.contributions(A[-last:])
    assert engine.cached_patterns == fresh.cached_patterns


def test_without_numba_the_values_come_from_pred_contrib(monkeypatch):
    booster, X = _model(0)
    A = lightgbm_matrix(X.head(200))

    def unavailable():
        raise ImportError("numba is not installed")

    monkeypatch.setattr(_treeshap, "_compile", unavailable)
    out, margin = PatternTreeSHAP(booster).contributions_and_margin(A)
    assert out.tobytes() == booster.predict(A, pred_contrib=True).tobytes()
    assert margin.tobytes() == booster.predict(A, raw_score=True).tobytes()


def test_kernels_compile_in_memory_where_numba_cannot_cache(monkeypatch):
    from numba.core import caching

    from churnlab.explain import kernels as _kernels

    # no place to cache (e.g. a read-only install and home): numba refuses cache=True
    impl = getattr(caching, "CacheImpl", None) or caching._CacheImpl  # renamed across numba versions
    booster, X = _model(0)
    A = lightgbm_matrix(X.head(300))
    try:
        with monkeypatch.context() as m:
            m.setattr(impl, "_locator_classes", [])
            in_memory = importlib.reload(_kernels)
            assert all(isinstance(k._cache, caching.NullCache) for k in (in_memory.codes_kernel, in_memory.pattern_kernel))
            m.setattr(_treeshap, "_kernels", None)
            ours = PatternTreeSHAP(booster).contributions(A)
            np.testing.assert_allclose(ours, booster.predict(A, pred_contrib=True), atol=1e-12)
    finally:
        importlib.reload(_kernels)  # the disk-cached kernels again for the other tests


def test_concurrent_calls_share_the_cache_safely():
    from concurrent.futures import ThreadPoolExecutor

    booster, X = _model(8)
    A = lightgbm_matrix(X)
    engine = PatternTreeSHAP(booster)
    parts = [A[s : s + 500] for s in range(0, len(A), 500)]
    with ThreadPoolExecutor(4) as pool:  # sums run outside the lock while others add patterns
        outs = list(pool.map(engine.contributions, parts))
    np.testing.assert_allclose(np.concatenate(outs), booster.predict(A, pred_contrib=True), rtol=0, atol=1e-12)
    serial = PatternTreeSHAP(booster)
    assert np.concatenate(outs).tobytes() == np.concatenate([serial.contributions(p) for p in parts]).tobytes()
    clone = pickle.loads(pickle.dumps(engine))  # the lock is not pickled, the cache is
    assert clone.contributions(A[:10]).tobytes() == engine.contributions(A[:10]).tobytes()


def _plain_model(**params):
    X, y = _data(7)
    X = X.drop(columns="cat")
    booster = lgb.train({"objective": "binary", "verbose": -1, "seed": 7, **params}, lgb.Dataset(X, y), num_boost_round=5)
    return booster, lightgbm_matrix(X)


def test_trees_wider_than_a_pattern_fall_back_to_pred_contrib():
    booster, A = _plain_model(num_leaves=80, min_data_in_leaf=2)
    engine = PatternTreeSHAP(booster)
    assert not engine.supported  # 79 splits do not fit a 63-bit pattern
    assert engine.contributions(A).tobytes() == booster.predict(A, pred_contrib=True).tobytes()
    assert engine.contributions_and_margin(A)[1].tobytes() == booster.predict(A, raw_score=True).tobytes()


def test_linear_trees_are_not_given_made_up_values():
    booster, A = _plain_model(linear_tree=True)
    engine = PatternTreeSHAP(booster)
    assert not engine.supported
    with pytest.raises(lgb.basic.LightGBMError, match="linear trees"):  # LightGBM's own answer
        engine.contributions(A)


def test_churn_model_uses_engine_and_does_not_pickle_the_cache(trained):
    result, _ = trained
    model = result.model
    f = result.training_set.frame
    X = f.set_index("customer_id")[result.training_set.feature_names].head(400)
    native = model.booster_.predict(model._prepare(X), num_iteration=model.best_iteration_, pred_contrib=True)
    np.testing.assert_allclose(model.contributions(X), native, rtol=0, atol=1e-12)
    assert model._treeshap.cached_patterns > 0
    # predictions read the same matrix: the margin is bit for bit the booster's for the
    # DataFrame; the sigmoid is numpy's, LightGBM's is the C library's exp: these differ in
    # the last bit on some CPUs (AVX-512), hence 1e-15 relative
    frame = model._prepare(X)
    margin = model.booster_.predict(frame, num_iteration=model.best_iteration_, raw_score=True)
    assert margin.tobytes() == model.booster_.predict(model._matrix(X), num_iteration=model.best_iteration_, raw_score=True).tobytes()
    from_frame = model.booster_.predict(frame, num_iteration=model.best_iteration_)
    np.testing.assert_allclose(model.predict_raw(X), from_frame, rtol=1e-15, atol=0)
    # scoring's one pass: the same margin through the same sigmoid, bit for bit predict_proba
    proba, contrib = model.churn_probability_and_contributions(X)
    assert proba.tobytes() == model.churn_probability(X).tobytes()
    assert contrib.tobytes() == model.contributions(X).tobytes()
    clone = pickle.loads(pickle.dumps(model))
    assert not hasattr(clone, "_treeshap")
    assert model._treeshap.cached_patterns > 0  # pickling leaves the original's cache alone
    np.testing.assert_allclose(clone.contributions(X), native, rtol=0, atol=1e-12)

# values LightGBM treats specially, mixed with ordinary ones and ties
_cell = st.one_of(
    st.sampled_from([np.nan, 0.0, -0.0, 1e-36, 1.0, 2.0, -1.0]),
    st.floats(-5, 5, allow_nan=False, width=32),
)


@settings(max_examples=15, deadline=None)
@given(
    data=hnp.arrays(np.float64, st.tuples(st.integers(60, 200), st.just(4)), elements=_cell),
    missing=st.sampled_from([{}, {"zero_as_missing": True}, {"use_missing": False}]),
    leaves=st.integers(2, 12),
    seed=st.integers(0, 2**16),
)
def test_random_models_on_random_awkward_data(data, missing, leaves, seed):
    rng = np.random.default_rng(seed)
    y = (np.nan_to_num(data[:, 0]) + rng.normal(size=len(data)) > 0).astype(int)
    if y.min() == y.max():
        y[0] = 1 - y[0]
    params = {"objective": "binary", "verbose": -1, "seed": seed, "num_leaves": leaves, "min_data_in_leaf": 3,
              "min_data_in_bin": 1, **missing}
    booster = lgb.train(params, lgb.Dataset(data, y), num_boost_round=8)
    probe = np.vstack([data, rng.permutation(data)])  # rows seen in training and shuffled ones
    probe[rng.random(probe.shape) < 0.1] = np.nan
    ours, margin = PatternTreeSHAP(booster).contributions_and_margin(probe)
    np.testing.assert_allclose(ours, booster.predict(probe, pred_contrib=True), rtol=0, atol=1e-12)
    assert margin.tobytes() == booster.predict(probe, raw_score=True).tobytes()


def test_trees_without_a_split_give_their_leaf_value():
    # min_data_in_leaf above the row count: every tree is one leaf (the boosted average)
    booster, A = _plain_model(min_data_in_leaf=10_000)
    engine = PatternTreeSHAP(booster)
    assert engine.supported and int(engine.nnodes.max()) == 0
    contrib, margin = engine.contributions_and_margin(A[:50])
    assert margin.tobytes() == booster.predict(A[:50], raw_score=True).tobytes()
    np.testing.assert_allclose(contrib, booster.predict(A[:50], pred_contrib=True), rtol=0, atol=1e-12)


def test_engine_threads_sets_and_restores_numba_threads():
    import numba

    before = numba.get_num_threads()
    with _treeshap.engine_threads(1):
        assert numba.get_num_threads() == 1
        booster, X = _model(0)
        A = lightgbm_matrix(X.head(200))
        one = PatternTreeSHAP(booster).contributions(A)
    assert numba.get_num_threads() == before
    with _treeshap.engine_threads(None):
        assert numba.get_num_threads() == before
    assert one.tobytes() == PatternTreeSHAP(booster).contributions(A).tobytes()  # threads do not change bytes


def test_exported_patterns_give_the_same_bytes_without_computing_them_again():
    """A cache exported from one engine and imported into another for the same booster (as a
    saved model brings it) serves those patterns: the same bytes, and rows seen before add
    no new pattern. Another model's patterns are refused."""
    booster, X = _model(8)
    A = _awkward(booster, X, 8)
    first = PatternTreeSHAP(booster)
    expected = first.contributions_and_margin(A)
    saved = first.export_patterns()
    assert len(saved["trees"]) == first.cached_patterns == int(first.n_patterns.sum())
    assert saved["values"].size == int(first.tk[saved["trees"]].sum())  # only each tree's own features

    # the same booster read back from its text (a model loaded from files): same fingerprint
    reloaded = lgb.Booster(model_str=booster.model_to_string())
    engine = PatternTreeSHAP(reloaded)
    assert engine.import_patterns(saved)
    assert engine.cached_patterns == first.cached_patterns
    got = engine.contributions_and_margin(A[::-1])
    assert engine.cached_patterns == first.cached_patterns  # nothing computed again
    assert np.ascontiguousarray(got[0][::-1]).tobytes() == expected[0].tobytes()
    assert np.ascontiguousarray(got[1][::-1]).tobytes() == expected[1].tobytes()
    # new rows beyond the imported ones are still exact, and the hash tables keep working
    more = lightgbm_matrix(_data(9)[0])
    np.testing.assert_allclose(engine.contributions(more), booster.predict(more, pred_contrib=True), rtol=0, atol=1e-12)

    other, _ = _model(10)
    stranger = PatternTreeSHAP(other)
    assert not stranger.import_patterns(saved) and stranger.cached_patterns == 0
    assert not engine.import_patterns({**saved, "values": saved["values"][:-1]})  # damaged: refused
    assert engine.cached_patterns > 0  # and the cache it had is kept


def test_a_saved_model_brings_its_training_patterns(trained, tmp_path):
    """Training caches the SHAP values of its rows' patterns (newest cutoffs first) and the
    saved model carries them: a model loaded in a fresh process explains those rows without
    computing a pattern, with the same bytes as an empty cache. A file of another model
    beside it is refused with a warning; saving without a cache leaves no file behind."""
    from churnlab.models.lightgbm import ChurnModel, PATTERNS_FILE

    result, _ = trained
    names = result.training_set.feature_names
    X = result.training_set.frame.set_index("customer_id")[names]
    assert result.model._treeshap.cached_patterns > 0  # from training (explanation_cache_mb)
    result.model.to_files(tmp_path / "model.txt", tmp_path / "meta.json")
    assert (tmp_path / PATTERNS_FILE).is_file()

    loaded, _ = ChurnModel.from_files(tmp_path / "model.txt", tmp_path / "meta.json")
    engine = loaded._engine()
    before = engine.cached_patterns
    assert before == result.model._treeshap.cached_patterns
    contrib = loaded.contributions(X)
    assert engine.cached_patterns == before  # every training row's pattern came with the model
    empty, _ = ChurnModel.from_files(tmp_path / "model.txt", tmp_path / "meta.json")
    empty._patterns_file = None
    assert empty.contributions(X).tobytes() == contrib.tobytes()
    assert empty._treeshap.cached_patterns == before  # the same patterns, computed

    # limits: no cache at all (0 MiB), and a refusal of negative sizes
    none, _ = ChurnModel.from_files(tmp_path / "model.txt", tmp_path / "meta.json")
    none._patterns_file = None
    assert none.cache_explanations(X, max_mb=0) == 0
    with pytest.raises(ValueError, match="`max_mb` must be >= 0, got -1"):
        none.cache_explanations(X, max_mb=-1)
    none.to_files(tmp_path / "model.txt", tmp_path / "meta.json")
    assert not (tmp_path / PATTERNS_FILE).exists()  # the old file went with the old cache

    other, _ = _model(11)
    stranger = PatternTreeSHAP(other)
    stranger.contributions(lightgbm_matrix(_data(11)[0]))
    with open(tmp_path / PATTERNS_FILE, "wb") as fh:
        np.savez_compressed(fh, **stranger.export_patterns())
    wrong, _ = ChurnModel.from_files(tmp_path / "model.txt", tmp_path / "meta.json")
    with pytest.warns(UserWarning, match="SHAP patterns of another model"):
        assert wrong._engine().cached_patterns == 0
    assert wrong.contributions(X).tobytes() == contrib.tobytes()
