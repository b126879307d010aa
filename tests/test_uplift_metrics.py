"""Uplift metrics against an independent brute force (exact fractions, explicit loops over
tie blocks and targeted sets) and against answers worked out by hand."""

from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

from churnlab.uplift.metrics import (
    auuc,
    best_fraction,
    profit_curve,
    qini_coefficient,
    qini_curve,
    uplift_by_decile,
    uplift_curve,
)


# --- brute force: exact arithmetic, one targeted set at a time ------------------------------
def _blocks(score):
    """Row indices in tie blocks, highest score first."""
    values = sorted(set(score), reverse=True)
    return [[i for i, s in enumerate(score) if s == v] for v in values]


def _curve_points(y, score, t, kind):
    xs, vs, taken = [Fraction(0)], [Fraction(0)], []
    for block in _blocks(list(score)):
        taken += block
        nt = sum(1 for i in taken if t[i] == 1)
        nc = len(taken) - nt
        rt = sum(1 for i in taken if t[i] == 1 and y[i] == 1)
        rc = sum(1 for i in taken if t[i] == 0 and y[i] == 1)
        if kind == "qini":
            v = Fraction(rt) - (Fraction(rc * nt, nc) if nc else 0)
        else:
            v = ((Fraction(rt, nt) if nt else 0) - (Fraction(rc, nc) if nc else 0)) * len(taken)
        xs.append(Fraction(len(taken)))
        vs.append(v)
    return xs, vs


def _area_above_diagonal(xs, vs):
    area = sum((xs[i + 1] - xs[i]) * (vs[i + 1] + vs[i]) / 2 for i in range(len(xs) - 1))
    return area - vs[-1] * xs[-1] / 2


def brute_qini(y, score, t):
    # the best ordering: contacted customers who stayed, then everyone else, then control customers who stayed
    best = [2 if (t[i] == 1 and y[i] == 1) else 0 if (t[i] == 0 and y[i] == 1) else 1 for i in range(len(y))]
    return float(_area_above_diagonal(*_curve_points(y, score, t, "qini")) / _area_above_diagonal(*_curve_points(y, best, t, "qini")))


def brute_auuc(y, score, t):
    stayed_control = sum(1 for i in range(len(y)) if y[i] == 1 and t[i] == 0)
    left_contacted = sum(1 for i in range(len(y)) if y[i] == 0 and t[i] == 1)
    best = [2 * (y[i] == t[i]) + (y[i] if stayed_control > left_contacted else t[i]) for i in range(len(y))]
    return float(_area_above_diagonal(*_curve_points(y, score, t, "uplift")) / _area_above_diagonal(*_curve_points(y, best, t, "uplift")))


def _cases():
    rng = np.random.default_rng(7)
    for i in range(12):
        n = int(rng.integers(6, 120))
        y, t = rng.integers(0, 2, n), rng.integers(0, 2, n)
        t[0], t[1] = 0, 1
        score = rng.integers(0, 5, n) / 4.0 if i % 2 else rng.normal(size=n)  # odd cases: many ties
        yield y, score, t


@pytest.mark.parametrize("case", list(_cases()), ids=lambda c: f"n{len(c[0])}")
def test_qini_and_auuc_equal_the_brute_force(case):
    y, score, t = case
    assert qini_coefficient(y, score, t) == pytest.approx(brute_qini(y, score, t), rel=1e-9, abs=1e-12)
    assert auuc(y, score, t) == pytest.approx(brute_auuc(y, score, t), rel=1e-9, abs=1e-12)
    x, q = qini_curve(y, score, t)
    bx, bq = _curve_points(list(y), list(score), list(t), "qini")
    np.testing.assert_allclose(x, [float(v) for v in bx])
    np.testing.assert_allclose(q, [float(v) for v in bq], atol=1e-9)
    ux, uv = uplift_curve(y, score, t)
    np.testing.assert_allclose(uv, [float(v) for v in _curve_points(list(y), list(score), list(t), "uplift")[1]], atol=1e-9)


def test_qini_by_hand():
    # ranked: (stayed, contacted) (left, contacted) (left, control) (stayed, control) (stayed, contacted) (left, control)
    # Qini at 1..6 targeted: 1, 1, 1, 0, 0.5, 1: area 4, diagonal 3 -> 1 over the diagonal;
    # the best ordering's curve (0, 2, 2, 1 at 0, 2, 5, 6) has area 9.5 -> 6.5 over it
    y, t = [1, 0, 0, 1, 1, 0], [1, 1, 0, 0, 1, 0]
    assert qini_coefficient(y, [6, 5, 4, 3, 2, 1], t) == pytest.approx(1 / 6.5)
    assert qini_curve(y, [6, 5, 4, 3, 2, 1], t)[1].tolist() == [0, 1, 1, 1, 0, 0.5, 1]


def test_a_perfect_and_a_reversed_ranking():
    y, t = np.array([1, 0, 0, 1] * 5), np.array([1, 0, 1, 0] * 5)
    best = 2 * (t * y) + (1 - y) - 2 * ((1 - t) * y)
    assert qini_coefficient(y, best, t) == pytest.approx(1.0)
    assert qini_coefficient(y, -best, t) < 0


def test_ties_make_the_curves_independent_of_row_order():
    rng = np.random.default_rng(3)
    y, t, s = rng.integers(0, 2, 300), rng.integers(0, 2, 300), rng.integers(0, 4, 300).astype(float)
    perm = rng.permutation(300)
    assert qini_coefficient(y, s, t) == pytest.approx(qini_coefficient(y[perm], s[perm], t[perm]), rel=1e-12)
    assert auuc(y, s, t) == pytest.approx(auuc(y[perm], s[perm], t[perm]), rel=1e-12)
    v = rng.random(300) * 100
    a = profit_curve(y, s, t, v, contact_cost=2.0, incentive_cost=5.0)
    b = profit_curve(y[perm], s[perm], t[perm], v[perm], contact_cost=2.0, incentive_cost=5.0)
    np.testing.assert_allclose(a["profit"], b["profit"], rtol=1e-9)


def brute_profit(y, s, t, v, fraction, margin, contact_cost, incentive_cost, cost=None):
    n = len(y)
    k = round(fraction * n)
    if k == 0:
        return 0.0
    threshold = sorted(s, reverse=True)[k - 1]
    top = [i for i in range(n) if s[i] >= threshold]  # the whole tie at the threshold
    tr = [i for i in top if t[i] == 1]
    co = [i for i in top if t[i] == 0]
    if not tr or not co:
        return float("nan")
    gain_t = sum(margin * v[i] * y[i] for i in tr) / len(tr)
    gain_c = sum(margin * v[i] * y[i] for i in co) / len(co)
    per_contact = (sum(cost[i] for i in tr) / len(tr) if cost is not None else contact_cost) \
        + incentive_cost * sum(y[i] for i in tr) / len(tr)
    return len(top) * (gain_t - gain_c - per_contact)


@pytest.mark.parametrize("with_cost", [False, True])
def test_profit_curve_equals_the_brute_force(with_cost):
    rng = np.random.default_rng(11)
    n = 97
    y, t = rng.integers(0, 2, n), rng.integers(0, 2, n)
    s = np.round(rng.random(n), 1)  # ties
    v = rng.gamma(2.0, 50.0, n)
    cost = rng.random(n) * 4 if with_cost else None
    curve = profit_curve(y, s, t, v, margin=0.4, contact_cost=3.0, incentive_cost=7.0, cost=cost, steps=20)
    assert curve["fraction"].tolist() == [i / 20 for i in range(21)]
    for f, p in zip(curve["fraction"], curve["profit"]):
        expected = brute_profit(list(y), list(s), list(t), list(v), f, 0.4, 3.0, 7.0, None if cost is None else list(cost))
        assert (np.isnan(p) and np.isnan(expected)) or p == pytest.approx(expected, rel=1e-9), f


def test_profit_by_hand_and_the_best_fraction():
    # top 2: contacted stayer worth 10 vs a control leaver: 2 x (10 - 0 - 1) = 18;
    # everyone: contacted 5 a head, control 5 a head: 4 x (5 - 5 - 1) = -4
    c = profit_curve([1, 0, 1, 0], [4, 3, 2, 1], [1, 0, 0, 1], [10.0] * 4, contact_cost=1.0, steps=2)
    assert c["profit"].tolist() == [0.0, 18.0, -4.0]
    assert best_fraction(c) == (0.5, 18.0)
    # contacting nobody wins when every fraction loses money
    assert best_fraction(pd.DataFrame({"fraction": [0.0, 0.5, 1.0], "profit": [0.0, -3.0, np.nan]})) == (0.0, 0.0)


def test_uplift_by_decile_equals_the_rates_and_brackets_them():
    rng = np.random.default_rng(5)
    n = 1000
    s = rng.random(n)
    t = rng.integers(0, 2, n)
    y = (rng.random(n) < 0.4 + 0.4 * t * (s > 0.7)).astype(int)
    d = uplift_by_decile(y, s, t, n_boot=300, seed=1)
    order = np.argsort(-s, kind="mergesort")
    for i, g in enumerate(np.array_split(order, 10)):
        expected = y[g][t[g] == 1].mean() - y[g][t[g] == 0].mean()
        assert d.loc[i, "uplift"] == pytest.approx(expected)
        assert d.loc[i, "lower"] <= expected <= d.loc[i, "upper"]
        assert d.loc[i, "n"] == len(g) and d.loc[i, "n_treated"] == int(t[g].sum())
    assert d["uplift"].iloc[:3].mean() > 0.25 and abs(d["uplift"].iloc[3:].mean()) < 0.1
    assert d.equals(uplift_by_decile(y, s, t, n_boot=300, seed=1))  # seeded


@pytest.mark.parametrize(
    "y, s, t, match",
    [
        ([1, 0, 2], [1, 2, 3], [1, 0, 1], "`y` must hold 0/1 labels, got 2"),
        ([1, 0, 1], [1, 2, 3], [1, 1, 1], "both arms"),
        ([1, 0, 1], [1, np.nan, 3], [1, 0, 1], "`score` must be finite"),
        ([1, 0, 1], [1, 2], [1, 0, 1], "one value per row"),
    ],
)
def test_bad_inputs_are_named(y, s, t, match):
    with pytest.raises(ValueError, match=match):
        qini_coefficient(y, s, t)
