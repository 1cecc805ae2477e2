"""A Hamilton dataflow: marketing spend and signups, as plain functions.

Nothing here knows about Ray or rayobs: ``hamilton_ray.py`` runs it on Ray and
measures every node, and this module stays exactly as it is.
"""

from __future__ import annotations

import pandas as pd


def spend(spend_data: list[float]) -> pd.Series:
    """Weekly marketing spend."""
    return pd.Series(spend_data, name="spend")


def signups(signups_data: list[int]) -> pd.Series:
    """Weekly signups."""
    return pd.Series(signups_data, name="signups")


def avg_3wk_spend(spend: pd.Series) -> pd.Series:
    """Rolling three-week average spend."""
    return spend.rolling(3).mean()


def spend_per_signup(spend: pd.Series, signups: pd.Series) -> pd.Series:
    """The cost of one signup."""
    return spend / signups


def spend_mean(spend: pd.Series) -> float:
    return float(spend.mean())


def spend_zero_mean(spend: pd.Series, spend_mean: float) -> pd.Series:
    return spend - spend_mean


def spend_std_dev(spend: pd.Series) -> float:
    return float(spend.std())


def spend_zero_mean_unit_variance(spend_zero_mean: pd.Series, spend_std_dev: float) -> pd.Series:
    """Spend, standardized; raises ZeroDivisionError when every week cost the same."""
    if spend_std_dev == 0:
        raise ZeroDivisionError("spend never changed: no variance to scale by")
    return spend_zero_mean / spend_std_dev
