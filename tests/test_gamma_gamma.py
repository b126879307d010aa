"""The Gamma-Gamma spend model against its published fit on the CDNOW sample."""

from pathlib import Path

import numpy as np
import pytest

from churnlab.models.gamma_gamma import GammaGamma


def _cdnow_spend():
    rows = [line.split() for line in (Path(__file__).parent / "data" / "cdnow_sample_spend.txt").read_text().splitlines()
            if line and not line.startswith("#")]
    x, m = np.array(rows, dtype=float).T
    return x, m


def test_reproduces_fader_hardie_lee_on_the_cdnow_sample():
    x, m = _cdnow_spend()
    assert len(x) == 946  # the sample's customers with a repeat purchase
    gg = GammaGamma().fit(x, m)
    # Fader, Hardie & Lee (2005), "RFM and CLV": p = 6.25, q = 3.74, gamma = 15.44
    assert (round(gg.p_, 2), round(gg.q_, 2)) == (6.25, 3.74)
    assert gg.v_ == pytest.approx(15.44, abs=0.015)
    # the expected average value is the population mean for nobody, a customer's own mean
    # with infinitely many transactions: here a weighted mean of the two, computed by hand
    p, q, v = gg.p_, gg.q_, gg.v_
    expected = (q - 1) / (p * 2 + q - 1) * v * p / (q - 1) + (p * 2) / (p * 2 + q - 1) * 22.35
    assert gg.conditional_expected_average_value([2], [22.35])[0] == pytest.approx(expected, rel=1e-12)
    assert gg.conditional_expected_average_value([0], [0.0])[0] == pytest.approx(v * p / (q - 1), rel=1e-12)


@pytest.mark.parametrize(
    "x,m,fragment",
    [
        ([1, 0], [5.0, 5.0], "`frequency` must be > 0 for every customer"),
        ([1, 2], [5.0, -1.0], "`monetary_value` must be > 0 for every customer (repeat customers only), got -1.0"),
        ([1, 2], [5.0], "must be 1-d and of one length"),
        ([1] * 5, [5.0] * 5, "needs at least 20 repeat customers, got 5"),
    ],
)
def test_bad_spend_data_is_named(x, m, fragment):
    with pytest.raises(ValueError) as err:
        GammaGamma().fit(x, m)
    assert fragment in str(err.value)
