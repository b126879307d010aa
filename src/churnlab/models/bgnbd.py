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

from churnlab.events import EventTables, to_timestamp
from churnlab.features.engine import duckdb_connection

__all__ = ["BGNBD", "rfm_summary"]


def rfm_summary(purchases, as_of, period_days: float = 7.0, observation_end=None) -> pd.DataFrame:
    """Calibration summary per customer from purchases before ``as_of``.

    Same-day purchases merge into one transaction. Returns ``x`` (repeat purchase days),
    ``t_x`` (first to last purchase) and ``T`` (first purchase to ``observation_end``,
    default ``as_of``), in periods of ``period_days``, plus ``monetary`` (mean spend of
    repeat transactions, 0 without repeats).

    Parameters
    ----------
    purchases : EventTables or DataFrame
    as_of : date-like
    period_days : float
        The period of ``x``, ``t_x`` and ``T`` (7: weeks).
    observation_end : date-like, optional

    Returns
    -------
    DataFrame
        Indexed by customer_id: ``x``, ``t_x``, ``T``, ``monetary``.

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
    if "amount" not in p.columns:  # purchases without order values: monetary is unknown
        p = p.assign(amount=np.nan)
    before = p.loc[p["ts"] < t, ["customer_id", "ts", "amount"]]
    if before.empty:
        raise ValueError(f"no purchase before as_of={t}")
    # one DuckDB query (about twice as fast as the pandas groupbys on 3M purchases; see
    # benchmarks/README.md): same-day purchases merged, then per customer. Amounts are summed
    # as exact integers of 1/10,000 unit, as the features are: a float sum over DuckDB's
    # threads would depend on their scheduling, and the fitted models with it.
    query = """
        WITH days AS (
            SELECT customer_id, date_trunc('day', ts) AS day,
                   sum(CASE WHEN isfinite(amount) THEN round(amount * 10000)::HUGEINT END) AS amount
            FROM before GROUP BY ALL
        ), per AS (
            SELECT customer_id, count(*) - 1 AS x, min(day) AS first, max(day) AS last,
                   sum(amount) AS total, arg_min(amount, day) AS first_amount
            FROM days GROUP BY customer_id
        )
        SELECT customer_id, x::DOUBLE AS x,
               date_diff('second', first, last) / $per AS t_x,
               date_diff('second', first, $end::TIMESTAMP) / $per AS T,
               CASE WHEN x > 0 THEN (total - first_amount)::DOUBLE / 10000 / x ELSE 0.0 END AS monetary
        FROM per ORDER BY customer_id
    """
    with duckdb_connection(None) as (con, register):
        register("before", before)
        out = con.execute(query, {"per": period_days * 86400.0, "end": end.to_pydatetime()}).df().set_index("customer_id")
    out["monetary"] = out["monetary"].fillna(0.0)  # no order values: unknown spend
    out.index.name = "customer_id"
    return out


class BGNBD:
    """The BG/NBD model. scikit-learn style: parameters in ``__init__``, fitted ``*_``.

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

        best = None
        for start in ([0.0, 0.0, 0.0, 0.0], [np.log(0.5), np.log(5.0), np.log(0.8), np.log(2.5)]):
            res = minimize(objective, np.array(start), method="Nelder-Mead", options={"maxiter": 8000, "xatol": 1e-10, "fatol": 1e-13})
            res = minimize(objective, res.x, method="L-BFGS-B")
            if best is None or res.fun < best.fun:
                best = res
        self.r_, self.alpha_, self.a_, self.b_ = (float(v) for v in np.exp(best.x))
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
        """Expected purchases in the next ``t`` periods, given each customer's history."""
        x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
        r, alpha, a, b = self.r_, self.alpha_, self.a_, self.b_
        z = t / (alpha + T + t)
        head = (a + b + x - 1) / (a - 1)
        body = 1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp2f1(r + x, b + x, a + b + x - 1, z)
        return head * body * self.p_alive(x, t_x, T)

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
