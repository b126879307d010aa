"""BG/NBD (Fader, Hardie & Lee 2005) fitted by maximum likelihood with scipy.

A customer buys as a Poisson process with rate ``lambda ~ Gamma(r, alpha)`` and after each
purchase drops out with probability ``p ~ Beta(a, b)``. From the calibration summary
``(x, t_x, T)`` -- repeat purchases, time of the last one and length of observation, all
measured from the first purchase -- the model gives P(alive) and expected future purchases.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import betaln, gammaln, hyp2f1

from churnlab.checks import microseconds
from churnlab.events import EventTables, to_timestamp

__all__ = ["BGNBD", "PARAM_BOUNDS", "rfm_summary"]


def rfm_summary(purchases, as_of, period_days: float = 7.0, observation_end=None, grouped: bool = False) -> pd.DataFrame:
    """Calibration summary per customer from purchases before ``as_of``.

    Same-day purchases merge into one transaction. Returns ``x`` (repeat purchase days),
    ``t_x`` (first to last purchase) and ``T`` (first purchase to ``observation_end``,
    default ``as_of``), in periods of ``period_days``, plus ``monetary``: the mean spend of
    the repeat purchase days with a known amount (0 without any).

    Each customer's summary is computed from their own rows alone, in their time order, with
    amounts summed as exact integers of 1/10,000 unit: the same numbers whichever customers
    are summarised together (batch scoring summarises a chunk at a time), on any CPU.

    Parameters
    ----------
    purchases : EventTables or DataFrame
    as_of : date-like
    period_days : float
        The period of ``x``, ``t_x`` and ``T`` (7: weeks).
    observation_end : date-like, optional
    grouped : bool
        The rows already come grouped by customer, each customer's in time order (as
        :meth:`churnlab.features.CustomerRowIndex.positions` gathers them): no sort.

    Returns
    -------
    DataFrame
        Indexed by customer_id: ``x``, ``t_x``, ``T``, ``monetary``; sorted by customer_id
        unless ``grouped``.

    Examples
    --------
    >>> import pandas as pd
    >>> p = pd.DataFrame({"customer_id": [1, 1, 1, 2], "amount": [10.0, 20.0, 5.0, 7.0],
    ...                   "ts": pd.to_datetime(["2024-01-01", "2024-01-15", "2024-01-15", "2024-01-08"])})
    >>> rfm_summary(p, "2024-01-29").loc[1].tolist()  # 2 days of purchases, 2 weeks apart, 4 weeks observed
    [1.0, 2.0, 4.0, 25.0]
    """
    p = purchases.purchases if isinstance(purchases, EventTables) else purchases
    t = to_timestamp(as_of)
    end = to_timestamp(observation_end, "observation_end") if observation_end is not None else t
    if period_days <= 0:
        raise ValueError(f"`period_days` must be > 0, got {period_days}")
    ts = p["ts"].to_numpy("datetime64[us]").view(np.int64)
    keep = ts < microseconds(t)
    if not keep.any():
        raise ValueError(f"no purchase before as_of={t}")
    ids, ts = p["customer_id"].to_numpy()[keep], ts[keep]
    amount = p["amount"].to_numpy(dtype=float)[keep] if "amount" in p.columns else np.full(len(ts), np.nan)
    if not grouped:  # by customer, then time (stable: the table's order breaks ties)
        codes = pd.factorize(ids, sort=True)[0]
        order = np.argsort(codes, kind="stable")
        if (np.diff(ts[order]) < 0)[codes[order][1:] == codes[order][:-1]].any():  # not already in time order
            order = np.lexsort((ts, codes))
        ids, ts, amount = ids[order], ts[order], amount[order]
    return _summarise_grouped(ids, ts, amount, microseconds(end), period_days)


DAY_US = 86_400_000_000
UNIT = 10_000  # amounts are summed as exact integers of 1/UNIT


def _summarise_grouped(ids: np.ndarray, ts: np.ndarray, amount: np.ndarray, end_us: int, period_days: float) -> pd.DataFrame:
    """:func:`rfm_summary` of rows grouped by customer in time order (``ts`` in microseconds)."""
    n = len(ts)
    day = ts // DAY_US  # the calendar day (floor, also before 1970)
    first_row = np.r_[True, ids[1:] != ids[:-1]]
    new_day = first_row | np.r_[True, day[1:] != day[:-1]]
    starts, day_starts = np.flatnonzero(first_row), np.flatnonzero(new_day)
    known = np.isfinite(amount)
    units = np.zeros(n, dtype=np.int64)
    scaled = amount[known] * UNIT
    if len(scaled) and np.abs(scaled).max() * n >= 2.0**62:
        raise ValueError(f"purchases.amount: values up to {np.abs(amount[known]).max():g} are too large to sum exactly")
    units[known] = np.rint(scaled).astype(np.int64)
    day_units = np.add.reduceat(units, day_starts)
    day_known = np.logical_or.reduceat(known, day_starts)
    # each customer's days: the first one, then the repeat days
    customer_of_day = np.cumsum(first_row)[day_starts] - 1
    first_day = np.r_[True, customer_of_day[1:] != customer_of_day[:-1]]
    own_days = np.flatnonzero(first_day)
    x = np.diff(np.r_[own_days, len(day_starts)]) - 1
    repeat = ~first_day & day_known
    spent = np.add.reduceat(np.where(repeat, day_units, 0), own_days)
    priced = np.add.reduceat(repeat.astype(np.int64), own_days)
    monetary = np.where(priced > 0, spent / UNIT / np.maximum(priced, 1), 0.0)
    last_rows = np.r_[starts[1:], n] - 1
    first_s, last_s = day[starts] * 86_400, day[last_rows] * 86_400
    per = period_days * 86_400.0
    return pd.DataFrame(
        {"x": x.astype(float), "t_x": (last_s - first_s) / per, "T": (end_us // 1_000_000 - first_s) / per, "monetary": monetary},
        index=pd.Index(ids[starts], name="customer_id"),
    )


def _expected_purchases_series(t, x, T, r, alpha, a, b, terms: int = 80) -> tuple[np.ndarray, np.ndarray]:
    """E[purchases in t | alive, x, T] as the series sum_k (R)_{k+1} (-1)^k s^{k+1} (a)_k /
    ((a + b')_k (k + 1)!), with R = r + x, s = t / (alpha + T), b' = b + x: the rate's Gamma
    posterior integrated exactly, then (1 - (1 + p s)^-R) / p expanded in the drop-out
    probability p ~ Beta(a, b'). Returns the sums and where they are well-conditioned (every
    ratio of successive terms below 1/2, the last term negligible)."""
    R, sc, bb = r + x, t / (alpha + T), b + x
    term = R * sc  # k = 0
    total, ok = term.copy(), np.ones(term.shape, dtype=bool)
    for k in range(terms - 1):
        ratio = (R + k + 1) * sc * (a + k) / ((a + bb + k) * (k + 2))
        ok &= ratio < 0.5
        term = -term * ratio
        total = total + term
    ok &= np.abs(term) <= 1e-15 * np.abs(total)
    return total, ok


#: a fitted parameter outside these bounds is a boundary solution, the MLE of a limit of the
#: model: ``a -> 0`` or ``b -> inf`` is nobody ever dropping out (the NBD), where P(alive) is 1
#: for everyone while expected purchases still rank customers
PARAM_BOUNDS = (1e-6, 1e6)


class BGNBD:
    """The BG/NBD model. scikit-learn style: parameters in ``__init__``, fitted ``*_``.

    After :meth:`fit`, ``converged_`` says whether the optimizer reported success (the
    simplex or the gradient stage from the best start), ``at_edge_`` names the parameters
    outside :data:`PARAM_BOUNDS` (a boundary solution: it converged, to a limit of the model),
    and ``fit_message_`` says both in words.

    Parameters
    ----------
    penalizer : float
        L2 penalty on the parameters (0 = plain maximum likelihood).

    Examples
    --------
    >>> m = BGNBD().fit(np.array([0, 2, 5.0]), np.array([0, 10, 30.0]), np.array([40, 40, 40.0]))
    >>> bool(0 < m.p_alive([0], [0], [40])[0] <= 1)
    True
    """

    def __init__(self, penalizer: float = 0.0):
        self.penalizer = penalizer

    @staticmethod
    def _loglik_terms(params, x, t_x, T) -> np.ndarray:
        r, alpha, a, b = params
        base = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + betaln(a, b + x) - betaln(a, b)
        still = -(r + x) * np.log(alpha + T)
        repeat = x > 0
        dropped = np.full_like(x, -np.inf, dtype=float)
        xr = x[repeat]
        dropped[repeat] = np.log(a) - np.log(b + xr - 1) - (r + xr) * np.log(alpha + t_x[repeat])
        return base + np.logaddexp(still, dropped)

    def log_likelihood(self, x, t_x, T, params=None) -> float:
        """Total log-likelihood of the summary under ``params`` (default: the fitted ones)."""
        x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
        params = params if params is not None else (self.r_, self.alpha_, self.a_, self.b_)
        return float(self._loglik_terms(params, x, t_x, T).sum())

    def fit(self, x, t_x, T) -> "BGNBD":
        x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
        if not (len(x) == len(t_x) == len(T)) or len(x) == 0:
            raise ValueError(f"x, t_x and T must have one equal, non-zero length, got {len(x)}, {len(t_x)}, {len(T)}")
        if (x < 0).any() or (t_x < 0).any() or (T < t_x).any() or (x != np.floor(x)).any():
            raise ValueError("need whole x >= 0 and 0 <= t_x <= T for every customer")

        def objective(log_params):
            ll = self._loglik_terms(np.exp(log_params), x, t_x, T).sum()
            return -(ll / len(x)) + self.penalizer * float(np.sum(np.exp(log_params) ** 2))

        best, best_success = None, False
        for start in ([0.0, 0.0, 0.0, 0.0], [np.log(0.5), np.log(5.0), np.log(0.8), np.log(2.5)]):
            simplex = minimize(objective, np.array(start), method="Nelder-Mead", options={"maxiter": 8000, "xatol": 1e-10, "fatol": 1e-13})
            res = minimize(objective, simplex.x, method="L-BFGS-B")
            if best is None or res.fun < best.fun:
                # converged when either stage says so: L-BFGS-B polishing an optimum the
                # simplex already found may stop on a line search without a flag
                best, best_success = res, bool(simplex.success or res.success)
        self.r_, self.alpha_, self.a_, self.b_ = (float(v) for v in np.exp(best.x))
        lo, hi = PARAM_BOUNDS
        self.at_edge_ = [k for k, v in self.params_.items() if not lo < v < hi]
        self.converged_ = best_success and bool(np.isfinite(best.fun))
        edge = f"; parameters {', '.join(self.at_edge_)} at the edge of ({lo:g}, {hi:g})" if self.at_edge_ else ""
        self.fit_message_ = ("converged" if self.converged_ else f"optimizer stopped: {best.message}") + edge
        self.log_likelihood_ = self.log_likelihood(x, t_x, T)
        self.n_customers_ = int(len(x))
        return self

    @property
    def params_(self) -> dict[str, float]:
        return {"r": self.r_, "alpha": self.alpha_, "a": self.a_, "b": self.b_}

    def p_alive(self, x, t_x, T) -> np.ndarray:
        """Probability that each customer is still alive at the end of their observation."""
        x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
        r, alpha, a, b = self.r_, self.alpha_, self.a_, self.b_
        with np.errstate(divide="ignore", invalid="ignore"):
            log_ratio = np.log(a) - np.log(np.maximum(b + x - 1, 1e-300)) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
        odds = np.where(x > 0, np.exp(np.minimum(log_ratio, 700)), 0.0)
        return 1.0 / (1.0 + odds)

    def expected_purchases(self, t, x, t_x, T) -> np.ndarray:
        """Expected purchases in the next ``t`` periods, given each customer's history:
        :meth:`p_alive` x :meth:`expected_purchases_alive`."""
        return self.expected_purchases_alive(t, x, T) * self.p_alive(x, t_x, T)

    def expected_purchases_alive(self, t, x, T) -> np.ndarray:
        """Expected purchases in the next ``t`` periods of a customer still alive after ``x``
        repeat purchases in ``T`` periods (the time of the last one does not matter then)."""
        x, T = (np.asarray(v, dtype=float) for v in (x, T))
        r, alpha, a, b = self.r_, self.alpha_, self.a_, self.b_
        z = t / (alpha + T + t)
        with np.errstate(all="ignore"):
            head = (a + b + x - 1) / (a - 1)
            closed = head * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp2f1(r + x, b + x, a + b + x - 1, z))
        series, ok = _expected_purchases_series(t, x, T, r, alpha, a, b)
        # the closed form cancels catastrophically where drop-out is rare (b large: a boundary
        # fit) or a is near 1; the series is exact and well-conditioned wherever its terms shrink
        return np.where(ok, series, closed)

    def prob_no_purchase(self, t, x, t_x, T) -> np.ndarray:
        """P(no purchase in the next ``t`` periods): the BG/NBD churn probability for a window.

        Dead customers never buy; a living one buys nothing in ``t`` with probability
        ``((alpha + T) / (alpha + T + t)) ** (r + x)`` (Poisson rate with its Gamma posterior;
        dropping out needs a purchase first, so it cannot happen in a window without one).
        """
        x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
        alive = self.p_alive(x, t_x, T)
        quiet = ((self.alpha_ + T) / (self.alpha_ + T + t)) ** (self.r_ + x)
        return (1.0 - alive) + alive * quiet
