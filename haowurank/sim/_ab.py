"""A/B designs inside one simulated world: per-user arms, assignment designs and estimators.

``hr.sim.run(config, arms={"A": "trust", "B": "popularity"}, assignment=...)`` runs one world in
which each user's feed is ranked by the ranker of the user's arm, while the world (friends,
endorsements, purchases, merchants, messages, the platform's log that every arm's ranker is
fitted on at the same refits) is shared: an arm's effect can spill over to the other arm's users
through their friends' endorsements. This module holds the designs that make the assignment and
the estimators that read the per-user outcomes (``SimulationResult.per_user``):

- :func:`user_randomised`: each user draws an arm (complete randomisation: exactly
  ``round(p * n)`` users in the first arm; or independent Bernoulli draws);
- :func:`graph_clusters`: communities of the social graph (Louvain modularity, [1]_);
- :func:`cluster_randomised`: whole clusters draw an arm (complete randomisation of clusters);
- :func:`difference_in_means`: the user-randomised estimate with Neyman's interval;
- :func:`cluster_difference`: the cluster-randomised estimate, either the difference of the
  arms' user means with a cluster-robust (CR1) interval or the Horvitz-Thompson difference of
  cluster totals with the interval over clusters.

The estimand is the global effect: the mean outcome per user when every user gets arm ``A``
minus that when every user gets arm ``B`` (two whole-world runs). Under interference (an
arm changes what other users see) a user-randomised test estimates something else; clusters that
hold most friendships keep more of each user's neighbourhood in the user's own arm [2]_.

References
----------
.. [1] V. D. Blondel, J.-L. Guillaume, R. Lambiotte and E. Lefebvre, "Fast unfolding of
   communities in large networks", J. Stat. Mech. (2008) P10008.
   https://doi.org/10.1088/1742-5468/2008/10/P10008
.. [2] J. Ugander, B. Karrer, L. Backstrom and J. Kleinberg, "Graph cluster randomization:
   network exposure to multiple universes", KDD 2013. https://doi.org/10.1145/2487575.2487695
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from .._checks import check_fraction
from .._dataset import Dataset
from .._random import SeedLike, derive_seed, rng

__all__ = [
    "AB_ARMS",
    "PER_USER_COLUMNS",
    "ABEstimate",
    "cluster_difference",
    "cluster_randomised",
    "difference_in_means",
    "graph_clusters",
    "user_randomised",
]

#: The default arm names: ``"A"`` (the treatment, first) and ``"B"`` (the control).
AB_ARMS: tuple[str, str] = ("A", "B")

#: Columns of ``SimulationResult.per_user``: ``user`` (the caller's id), ``arm`` (the user's arm;
#: the run's strategy when the run had no arms), ``clicks``, ``orders`` (paid orders),
#: ``gmv`` (their amounts), ``refund_amount`` (refunds of the user's orders), ``net_gmv``
#: (``gmv - refund_amount``) and ``endorsements`` (recommendations of both kinds the user made).
PER_USER_COLUMNS: tuple[str, ...] = (
    "user", "arm", "clicks", "orders", "gmv", "refund_amount", "net_gmv", "endorsements",
)


# ---------------------------------------------------------------------- designs
def _user_ids(users: Any, where: str) -> np.ndarray:
    if isinstance(users, Dataset):
        return np.asarray(users.user_ids)
    ids = np.asarray(users)
    if ids.ndim != 1 or len(ids) == 0:
        raise ValueError(
            f"The 'users' parameter of {where} must be a Dataset or a non-empty 1-d array of user "
            f"ids. Got an array of shape {ids.shape} instead."
        )
    if len(pd.unique(ids)) != len(ids):
        raise ValueError(f"The 'users' parameter of {where} must not repeat a user id.")
    return ids


def _check_design(p: Any, arms: Any, where: str) -> tuple[str, str]:
    check_fraction(p, "p", where)
    if (not isinstance(arms, Sequence) or isinstance(arms, str) or len(arms) != 2
            or not all(isinstance(a, str) and a for a in arms) or arms[0] == arms[1]):
        raise ValueError(
            f"The 'arms' parameter of {where} must be two distinct non-empty arm names. "
            f"Got {arms!r} instead."
        )
    return str(arms[0]), str(arms[1])


def _draw(n: int, p: float, complete: bool, gen: np.random.Generator) -> np.ndarray:
    """A boolean mask of the units in the first arm."""
    if complete:
        first = np.zeros(n, dtype=bool)
        first[gen.permutation(n)[: int(round(p * n))]] = True
        return first
    return gen.random(n) < p


def user_randomised(
    users: Dataset | Sequence | np.ndarray,
    *,
    seed: SeedLike = 0,
    p: float = 0.5,
    arms: Sequence[str] = AB_ARMS,
    complete: bool = True,
) -> pd.Series:
    """Assign each user an arm at random (a user-randomised experiment).

    Parameters
    ----------
    users : Dataset or array of user ids
        The users (a Dataset: its ``user_ids``).
    seed : int, SeedSequence or Generator
        One seed gives one assignment.
    p : float in (0, 1)
        The share of users in the first arm.
    arms : two str
        The arm names, the first one receiving share ``p``.
    complete : bool
        True: complete randomisation, exactly ``round(p * n_users)`` users in the first arm.
        False: independent Bernoulli(``p``) draws per user.

    Returns
    -------
    Series
        Index: the user ids (in the given order); values: the arm names.
    """
    ids = _user_ids(users, "user_randomised")
    a, b = _check_design(p, arms, "user_randomised")
    first = _draw(len(ids), float(p), bool(complete), rng(seed))
    return pd.Series(np.where(first, a, b), index=pd.Index(ids, name="user"), name="arm")


def graph_clusters(
    dataset: Dataset,
    *,
    seed: SeedLike = 0,
    resolution: float = 1.0,
) -> pd.Series:
    """Communities of a dataset's social graph (Louvain modularity maximisation).

    The graph is undirected (a social row in either direction is one edge, weights summed);
    a user without friends forms a cluster alone. Uses ``networkx.community.louvain_communities``.

    Parameters
    ----------
    dataset : Dataset
    seed : int, SeedSequence or Generator
        The seed of Louvain's node order; one seed gives one partition.
    resolution : float > 0
        Louvain's resolution: above 1 favours smaller communities.

    Returns
    -------
    Series
        Index: every user id of the dataset; values: cluster labels ``0 .. n_clusters - 1``,
        numbered by decreasing cluster size (ties by the smallest user index in the cluster).

    Complexity
    ----------
    About linear in the number of social rows per Louvain pass.
    """
    if not isinstance(dataset, Dataset):
        raise TypeError(
            f"The 'dataset' parameter of graph_clusters must be a haowurank Dataset. "
            f"Got {type(dataset).__name__} instead."
        )
    if (isinstance(resolution, bool) or not isinstance(resolution, int | float)
            or not np.isfinite(resolution) or resolution <= 0):
        raise ValueError(
            f"The 'resolution' parameter of graph_clusters must be a positive number. "
            f"Got {resolution!r} instead."
        )
    import networkx as nx
    from networkx.algorithms.community import louvain_communities

    soc = dataset.social_matrix(weighted=True)
    sym = (soc + soc.T).tocoo()
    keep = sym.row < sym.col
    graph = nx.Graph()
    graph.add_nodes_from(range(dataset.n_users))
    graph.add_weighted_edges_from(zip(sym.row[keep].tolist(), sym.col[keep].tolist(),
                                      sym.data[keep].tolist()))
    parts = louvain_communities(graph, weight="weight", resolution=float(resolution),
                                seed=derive_seed(seed))
    parts = sorted((sorted(c) for c in parts), key=lambda c: (-len(c), c[0]))
    label = np.empty(dataset.n_users, dtype=np.int64)
    for k, members in enumerate(parts):
        label[members] = k
    return pd.Series(label, index=pd.Index(dataset.user_ids, name="user"), name="cluster")


def cluster_randomised(
    clusters: pd.Series,
    *,
    seed: SeedLike = 0,
    p: float = 0.5,
    arms: Sequence[str] = AB_ARMS,
    complete: bool = True,
) -> pd.Series:
    """Assign whole clusters an arm at random (a cluster-randomised experiment).

    Parameters
    ----------
    clusters : Series
        Index: user ids; values: cluster labels (e.g. :func:`graph_clusters`).
    seed, p, arms, complete
        As in :func:`user_randomised`, over clusters: with ``complete`` exactly
        ``round(p * n_clusters)`` clusters get the first arm (at least one cluster per arm when
        there are two or more clusters).

    Returns
    -------
    Series
        Index: the user ids of ``clusters`` (same order); values: the arm of each user's cluster.
    """
    if not isinstance(clusters, pd.Series) or len(clusters) == 0:
        raise ValueError(
            "The 'clusters' parameter of cluster_randomised must be a non-empty Series user id -> "
            f"cluster label. Got {type(clusters).__name__} instead."
        )
    if clusters.isna().any():
        raise ValueError("The 'clusters' parameter of cluster_randomised must label every user "
                         f"(found {int(clusters.isna().sum())} missing labels).")
    a, b = _check_design(p, arms, "cluster_randomised")
    labels, codes = np.unique(clusters.to_numpy(), return_inverse=True)
    g = len(labels)
    gen = rng(seed)
    if complete:
        m = min(max(int(round(float(p) * g)), 1), g - 1) if g > 1 else int(round(float(p)))
        first = np.zeros(g, dtype=bool)
        first[gen.permutation(g)[:m]] = True
    else:
        first = gen.random(g) < float(p)
    return pd.Series(np.where(first[codes], a, b), index=pd.Index(clusters.index, name="user"),
                     name="arm")


# ---------------------------------------------------------------------- estimators
@dataclass(frozen=True)
class ABEstimate:
    """An estimated effect of arm ``a`` against arm ``b`` with its interval.

    Attributes
    ----------
    design : str
        ``"user"`` (difference in means), ``"cluster"`` (difference in means, cluster-robust
        interval) or ``"cluster_ht"`` (Horvitz-Thompson on cluster totals).
    metric : str
        The per-user outcome.
    effect, se, low, high : float
        The estimate, its standard error and the interval at ``level``.
    level : float
    mean_a, mean_b : float
        The arms' estimated mean outcome per user.
    n_a, n_b : int
        Users per arm.
    clusters_a, clusters_b : int
        Clusters per arm (0 for the user design).
    """

    design: str
    metric: str
    effect: float
    se: float
    low: float
    high: float
    level: float
    mean_a: float
    mean_b: float
    n_a: int
    n_b: int
    clusters_a: int = 0
    clusters_b: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict."""
        return asdict(self)


def _outcomes(per_user: pd.DataFrame, metric: str, assignment: pd.Series | None, arms: Any,
              where: str) -> tuple[pd.Series, pd.Series, str, str]:
    if not isinstance(per_user, pd.DataFrame) or "user" not in per_user.columns:
        raise ValueError(
            f"The 'per_user' parameter of {where} must be a DataFrame with a 'user' column "
            f"(SimulationResult.per_user). Got {type(per_user).__name__} instead."
        )
    if metric not in per_user.columns:
        raise ValueError(
            f"The 'metric' parameter of {where} must be a column of per_user "
            f"{[c for c in per_user.columns if c not in ('user', 'arm')]}. Got {metric!r} instead."
        )
    y = pd.Series(per_user[metric].to_numpy(dtype=np.float64), index=per_user["user"].to_numpy())
    if assignment is None:
        if "arm" not in per_user.columns:
            raise ValueError(f"{where} needs an 'assignment' when per_user has no 'arm' column.")
        arm = pd.Series(per_user["arm"].astype(str).to_numpy(), index=y.index)
    else:
        arm = assignment.reindex(y.index)
        if arm.isna().any():
            raise ValueError(
                f"The 'assignment' parameter of {where} must give an arm to every user of "
                f"per_user ({int(arm.isna().sum())} users have none)."
            )
        arm = arm.astype(str)
    if arms is None:
        names = sorted(pd.unique(arm.to_numpy()).tolist())
        if len(names) != 2:
            raise ValueError(
                f"{where} with arms=None needs exactly two arms in the assignment. Found {names}."
            )
        arms = names
    a, b = str(arms[0]), str(arms[1])
    for name in (a, b):
        if not (arm == name).any():
            raise ValueError(
                f"The 'arms' of {where} must both have users. Arm {name!r} has none "
                f"(arms found: {sorted(pd.unique(arm.to_numpy()))})."
            )
    return y, arm, a, b


def _z(level: float, where: str) -> float:
    from scipy import stats

    check_fraction(level, "level", where)
    return float(stats.norm.ppf(0.5 + level / 2.0))


def difference_in_means(
    per_user: pd.DataFrame,
    metric: str = "orders",
    *,
    assignment: pd.Series | None = None,
    arms: Sequence[str] | None = AB_ARMS,
    level: float = 0.95,
) -> ABEstimate:
    """The user-randomised estimate: mean outcome in arm ``a`` minus mean in arm ``b``.

    The interval is the normal one with Neyman's variance ``s_a^2 / n_a + s_b^2 / n_b``
    (conservative for the finite-population effect of the users at hand, exact in the limit
    when there is no interference).

    Parameters
    ----------
    per_user : DataFrame
        Per-user outcomes with a ``user`` column (``SimulationResult.per_user``).
    metric : str
        The outcome column (``"orders"``, ``"net_gmv"``, ...).
    assignment : Series or None
        User id -> arm; by default the ``arm`` column of ``per_user``.
    arms : two str or None
        The arms (effect = first minus second); None: the two arm names found, sorted.
    level : float in (0, 1)

    Returns
    -------
    ABEstimate
    """
    where = "difference_in_means"
    y, arm, a, b = _outcomes(per_user, metric, assignment, arms, where)
    z = _z(level, where)
    ya, yb = y[arm == a].to_numpy(), y[arm == b].to_numpy()
    ma, mb = float(ya.mean()), float(yb.mean())
    va = float(ya.var(ddof=1)) / len(ya) if len(ya) > 1 else 0.0
    vb = float(yb.var(ddof=1)) / len(yb) if len(yb) > 1 else 0.0
    se = float(np.sqrt(va + vb))
    d = ma - mb
    return ABEstimate("user", metric, d, se, d - z * se, d + z * se, float(level), ma, mb,
                      len(ya), len(yb))


def cluster_difference(
    per_user: pd.DataFrame,
    clusters: pd.Series,
    metric: str = "orders",
    *,
    assignment: pd.Series | None = None,
    arms: Sequence[str] | None = AB_ARMS,
    method: str = "means",
    level: float = 0.95,
) -> ABEstimate:
    """The cluster-randomised estimate of the effect of arm ``a`` against arm ``b``.

    ``method="means"``: the difference of the arms' user means (the regression of the outcome
    on the arm), with the cluster-robust CR1 standard error: for each arm,
    ``sum_c (sum_{i in c} (y_i - mean_arm))^2 / n_arm^2`` times ``G / (G - 1)`` over the ``G``
    clusters of all arms. ``method="ht"``: Horvitz-Thompson under complete randomisation of
    clusters: each cluster's outcome total scaled by ``G / N`` (N users) is a unit, and the
    estimate is the difference of those units' means between arms, with Neyman's variance over
    clusters; unbiased for the global effect when clusters capture all interference, at a higher
    variance when cluster sizes vary.

    Parameters
    ----------
    per_user : DataFrame
        Per-user outcomes with a ``user`` column (``SimulationResult.per_user``).
    clusters : Series
        User id -> cluster label (the clusters that were randomised).
    metric, assignment, arms, level
        As in :func:`difference_in_means`. Every cluster must sit in one arm.
    method : {"means", "ht"}

    Returns
    -------
    ABEstimate
    """
    where = "cluster_difference"
    if method not in ("means", "ht"):
        raise ValueError(
            f"The 'method' parameter of {where} must be 'means' or 'ht'. Got {method!r} instead."
        )
    y, arm, a, b = _outcomes(per_user, metric, assignment, arms, where)
    z = _z(level, where)
    if not isinstance(clusters, pd.Series):
        raise ValueError(f"The 'clusters' parameter of {where} must be a Series user id -> "
                         f"cluster label. Got {type(clusters).__name__} instead.")
    c = clusters.reindex(y.index)
    if c.isna().any():
        raise ValueError(f"The 'clusters' parameter of {where} must label every user of "
                         f"per_user ({int(c.isna().sum())} users have no cluster).")
    keep = (arm == a) | (arm == b)
    frame = pd.DataFrame({"y": y.to_numpy(), "arm": arm.to_numpy(), "c": c.to_numpy()})[
        keep.to_numpy()]
    arms_per_cluster = frame.groupby("c")["arm"].nunique()
    if (arms_per_cluster > 1).any():
        raise ValueError(
            f"Every cluster must sit in one arm for {where}; {int((arms_per_cluster > 1).sum())} "
            "clusters hold users of both arms."
        )
    na, nb = int((frame["arm"] == a).sum()), int((frame["arm"] == b).sum())
    tot = frame.groupby("c").agg(total=("y", "sum"), size=("y", "size"), arm=("arm", "first"))
    ga, gb = int((tot["arm"] == a).sum()), int((tot["arm"] == b).sum())
    g = ga + gb
    if method == "means":
        ma = float(frame.loc[frame["arm"] == a, "y"].mean())
        mb = float(frame.loc[frame["arm"] == b, "y"].mean())
        mean_of = np.where(tot["arm"].to_numpy() == a, ma, mb)
        resid = tot["total"].to_numpy() - tot["size"].to_numpy() * mean_of
        n_of = np.where(tot["arm"].to_numpy() == a, na, nb).astype(np.float64)
        var = float(np.sum((resid / n_of) ** 2)) * (g / (g - 1) if g > 1 else 1.0)
        design = "cluster"
    else:
        unit = tot["total"].to_numpy() * g / (na + nb)
        ua, ub = unit[tot["arm"].to_numpy() == a], unit[tot["arm"].to_numpy() == b]
        ma, mb = float(ua.mean()), float(ub.mean())
        var = (float(ua.var(ddof=1)) / ga if ga > 1 else 0.0) + (
            float(ub.var(ddof=1)) / gb if gb > 1 else 0.0)
        design = "cluster_ht"
    se = float(np.sqrt(var))
    d = ma - mb
    return ABEstimate(design, metric, d, se, d - z * se, d + z * se, float(level), ma, mb,
                      na, nb, ga, gb)


# ---------------------------------------------------------------------- the run's arms
@dataclass(frozen=True)
class Arms:
    """The arms of one run, resolved against the world's users (internal).

    ``names[k]`` is ranked by ``strategies[k]`` with ``params[k]``; ``of_user[u]`` is the arm
    index of user index ``u``.
    """

    names: tuple[str, ...]
    strategies: tuple[str, ...]
    params: tuple[dict, ...]
    of_user: np.ndarray

    def to_dict(self) -> dict[str, dict]:
        """Arm name -> ``{"strategy": ..., "strategy_params": ...}`` (JSON-compatible)."""
        return {n: {"strategy": s, "strategy_params": dict(p)}
                for n, s, p in zip(self.names, self.strategies, self.params)}


def resolve_arms(arms: Mapping[str, Any], assignment: Any, user_ids: np.ndarray) -> Arms:
    """Check ``arms`` (name -> strategy name, or ``{"strategy": ..., "strategy_params": {...}}``)
    and ``assignment`` (a Series user id -> arm name covering every user, or an array of arm
    names in the world's user order) against the world's users."""
    from ..rankers import available

    where = "hr.sim.run"
    if not isinstance(arms, Mapping) or not arms:
        raise ValueError(
            f"The 'arms' parameter of {where} must be a non-empty dict arm name -> strategy. "
            f"Got {arms!r} instead."
        )
    names, strategies, params = [], [], []
    known = available()
    for name, spec in arms.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"The 'arms' parameter of {where} must have non-empty str arm names. "
                             f"Got {name!r} instead.")
        if isinstance(spec, str):
            strategy, p = spec, {}
        elif isinstance(spec, Mapping) and set(spec) <= {"strategy", "strategy_params"} and (
                "strategy" in spec):
            strategy, p = spec["strategy"], dict(spec.get("strategy_params") or {})
        else:
            raise ValueError(
                f"The 'arms' parameter of {where} must map arm {name!r} to a strategy name or a "
                f"dict with 'strategy' and optional 'strategy_params'. Got {spec!r} instead."
            )
        if strategy not in known:
            raise ValueError(
                f"The 'arms' parameter of {where}: arm {name!r} must name a ranker of "
                f"hr.rankers.available() {known}. Got {strategy!r} instead."
            )
        names.append(name)
        strategies.append(strategy)
        params.append(p)
    if isinstance(assignment, pd.Series):
        per_user = assignment.reindex(pd.Index(user_ids))
        missing = int(per_user.isna().sum())
        if missing:
            raise ValueError(
                f"The 'assignment' parameter of {where} must give an arm to every user of the "
                f"world ({missing} of {len(user_ids)} users have none)."
            )
        values = per_user.astype(str).to_numpy()
    else:
        values = np.asarray(assignment).astype(str) if assignment is not None else None
        if values is None or values.ndim != 1 or len(values) != len(user_ids):
            raise ValueError(
                f"The 'assignment' parameter of {where} must be a Series user id -> arm name or an "
                f"array of {len(user_ids)} arm names (one per user of the world). Got "
                f"{type(assignment).__name__} instead."
            )
    codes = pd.Index(names).get_indexer(values)
    if (codes < 0).any():
        bad = sorted(set(values[codes < 0].tolist()))[:5]
        raise ValueError(
            f"The 'assignment' parameter of {where} names arm(s) {bad} that 'arms' "
            f"{names} does not define."
        )
    return Arms(tuple(names), tuple(strategies), tuple(params), codes.astype(np.int64))


def per_user_frame(events: pd.DataFrame, user_ids: np.ndarray,
                   arm: np.ndarray | str, *, user_index: np.ndarray | None = None) -> pd.DataFrame:
    """Per-user outcomes of a run from its event log (columns :data:`PER_USER_COLUMNS`): every
    user of the world, one row each, in the world's user order. ``user_index``: the events'
    users as indices into ``user_ids`` (-1 where none), when the caller holds them; otherwise
    they are looked up from ``events["user"]``."""
    n = len(user_ids)
    types = events["type"]
    if isinstance(types.dtype, pd.CategoricalDtype):  # compare codes, not a str per event
        codes = types.cat.codes.to_numpy()
        names = [str(c) for c in types.cat.categories]

        def of_type(name: str) -> np.ndarray:
            return np.isin(codes, [k for k, n in enumerate(names) if n == name])
    else:
        t = types.astype(str).to_numpy()

        def of_type(name: str) -> np.ndarray:
            return t == name
    if user_index is None:
        uix = pd.Index(user_ids).get_indexer(events["user"].to_numpy())
    else:
        uix = np.asarray(user_index, dtype=np.int64)
        if uix.shape != (len(events),):
            raise ValueError(
                f"The 'user_index' of per_user_frame must hold one index per event "
                f"({len(events)}). Got shape {uix.shape}.")
    amount = events["amount"].to_numpy(dtype=np.float64)

    def count(mask: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        ok = mask & (uix >= 0)
        return np.bincount(uix[ok], weights=None if weights is None else weights[ok],
                           minlength=n)

    pay, refund = of_type("pay"), of_type("refund")
    gmv = count(pay, np.nan_to_num(amount))
    refunds = count(refund, np.nan_to_num(amount))
    arms = np.full(n, arm, dtype=object) if isinstance(arm, str) else np.asarray(arm, dtype=object)
    return pd.DataFrame({
        "user": user_ids,
        "arm": pd.Categorical(arms),
        "clicks": count(of_type("click")).astype(np.int64),
        "orders": count(pay).astype(np.int64),
        "gmv": gmv,
        "refund_amount": refunds,
        "net_gmv": gmv - refunds,
        "endorsements": count(of_type("recommend") | of_type("recommend_after_purchase")).astype(
            np.int64),
    })
