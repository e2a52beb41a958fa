"""Retrieval metrics on ranked gallery lists (image level, as Hotels-50K scores them)."""

import numpy as np

GROUP_KS = (1, 10, 100)
CHAIN_KS = (1, 3, 5)


def average_precision(relevant):
    """Non-interpolated AP of one ranking: mean precision at the rank of each relevant item.

    `relevant` is the full ranked gallery as booleans, so every relevant item
    appears in it; a query with no relevant item has no AP (nan).
    """
    relevant = np.asarray(relevant, dtype=bool)
    hits = np.flatnonzero(relevant)
    if hits.size == 0:
        return float("nan")
    precision_at_hits = np.arange(1, hits.size + 1) / (hits + 1)
    return float(precision_at_hits.mean())


def top_k_hit(ranked_labels, label, k):
    """Hotels-50K top-K: a hit if any of the first k retrieved images has the query's label."""
    return bool(np.any(np.asarray(ranked_labels[:k]) == label))


def summarize(ranked_groups, query_groups, ranked_chains=None, query_chains=None):
    """mAP and top-K accuracies over queries.

    ranked_groups: (Q, G) group id of the gallery image at each rank (query excluded).
    ranked_chains / query_chains: same for chain ids; queries with an unknown
    chain (None, '' or -1) are left out and unknown-chain results count as misses.
    """
    ranked_groups = np.asarray(ranked_groups)
    aps = [
        average_precision(row == group)
        for row, group in zip(ranked_groups, query_groups, strict=True)
    ]
    aps = [ap for ap in aps if not np.isnan(ap)]  # a query alone in its group has no AP
    result = {"queries": len(query_groups), "map": float(np.mean(aps)) if aps else float("nan")}
    for k in GROUP_KS:
        hits = [
            top_k_hit(row, group, k) for row, group in zip(ranked_groups, query_groups, strict=True)
        ]
        result[f"top{k}"] = float(np.mean(hits)) if hits else float("nan")
    if query_chains is not None:
        known = [i for i, chain in enumerate(query_chains) if chain not in (None, "", -1, "-1")]
        for k in CHAIN_KS:
            hits = [top_k_hit(ranked_chains[i], query_chains[i], k) for i in known]
            result[f"chain_top{k}"] = float(np.mean(hits)) if hits else float("nan")
        result["chain_queries"] = len(known)
    return result
