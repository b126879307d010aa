"""The Gamma-Gamma model of spend per transaction (Fader, Hardie & Lee 2005, "RFM and CLV:
using iso-value curves for customer base analysis").

A customer's transaction values are Gamma(p, nu) around their own mean p / nu, and nu varies
across customers as Gamma(q, v). Given a customer's ``x`` repeat transactions with average
value ``m``, the marginal likelihood is

    Gamma(px + q) / (Gamma(px) Gamma(q)) * v^q * x^(px) * m^(px - 1) / (v + x m)^(px + q)

and their expected average value is the weighted mean of the population mean and their own:

    E[M | x, m] = (q - 1) / (px + q - 1) * v p / (q - 1) + px / (px + q - 1) * m.

The model assumes spend is independent of how often a customer buys; it is fitted on
customers with at least one repeat transaction.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize
from scipy.special import gammaln

from churnlab.checks import check_fitted, plain

__all__ = ["GammaGamma"]

#: Fewer repeat customers than this and the three parameters are not identified well enough.
MIN_CUSTOMERS = 20


class GammaGamma:
    """Gamma-Gamma spend model, fitted by maximum likelihood.

    Parameters
    ----------
    penalizer : float
        L2 penalty on the log-parameters, against the mean log-likelihood per customer (0: plain
        maximum likelihood).

    Attributes
    ----------
    p_, q_, v_ : float
        The fitted parameters.
    log_likelihood_ : float

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.integers(1, 8, 3000)
    >>> nu = rng.gamma(4.0, 1 / 15.0, 3000)                 # q = 4, v = 15
    >>> m = rng.gamma(6.0 * x, 1 / (nu * x))                 # p = 6: the mean of x values
    >>> gg = GammaGamma().fit(x, m)
    >>> round(gg.p_ * gg.v_ / (gg.q_ - 1), 0)                # population mean spend p v / (q - 1) = 30
    30.0
    """

    def __init__(self, penalizer: float = 0.0):
        self.penalizer = penalizer

    @staticmethod
    def _check(frequency, monetary_value) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(frequency, dtype=float)
        m = np.asarray(monetary_value, dtype=float)
        if x.shape != m.shape or x.ndim != 1:
            raise ValueError(f"`frequency` and `monetary_value` must be 1-d and of one length, got {x.shape} and {m.shape}")
        for name, arr in (("frequency", x), ("monetary_value", m)):
            bad = ~np.isfinite(arr) | (arr <= 0)
            if bad.any():
                raise ValueError(f"`{name}` must be > 0 for every customer (repeat customers only), got {plain(arr[bad][0])!r}")
        return x, m

    @staticmethod
    def _loglik_terms(params: np.ndarray, x: np.ndarray, m: np.ndarray) -> np.ndarray:
        p, q, v = params
        return (
            gammaln(p * x + q) - gammaln(p * x) - gammaln(q) + q * np.log(v)
            + (p * x - 1) * np.log(m) + p * x * np.log(x) - (p * x + q) * np.log(x * m + v)
        )

    def fit(self, frequency, monetary_value) -> "GammaGamma":
        """Fit on repeat customers: ``frequency`` (repeat transactions, > 0) and
        ``monetary_value`` (their average value, > 0)."""
        x, m = self._check(frequency, monetary_value)
        if len(x) < MIN_CUSTOMERS:
            raise ValueError(f"the spend model needs at least {MIN_CUSTOMERS} repeat customers, got {len(x)}")

        def objective(log_params):  # per customer: tolerances mean the same at any sample size
            ll = self._loglik_terms(np.exp(log_params), x, m).mean()
            return -ll + self.penalizer * float(np.sum(log_params**2))

        start = np.log([1.0, 1.0, float(np.mean(m))])
        res = minimize(objective, start, method="Nelder-Mead", options={"maxiter": 8000, "xatol": 1e-8, "fatol": 1e-12})
        res = minimize(objective, res.x, method="L-BFGS-B")
        if not np.all(np.isfinite(res.x)):
            raise ValueError("the spend model did not converge on these customers")
        self.p_, self.q_, self.v_ = (float(v) for v in np.exp(res.x))
        self.log_likelihood_ = float(self._loglik_terms(np.exp(res.x), x, m).sum())
        return self

    def conditional_expected_average_value(self, frequency, monetary_value) -> np.ndarray:
        """Each customer's expected spend per transaction given their ``frequency`` repeat
        transactions of average ``monetary_value`` (0 repeats: the population mean)."""
        check_fitted(self, "p_")
        x = np.asarray(frequency, dtype=float)
        m = np.asarray(monetary_value, dtype=float)
        p, q, v = self.p_, self.q_, self.v_
        population = v * p / (q - 1)
        weight = p * x / (p * x + q - 1)
        return (1 - weight) * population + weight * np.where(x > 0, m, 0.0)
