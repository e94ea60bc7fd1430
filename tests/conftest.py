from __future__ import annotations

from pathlib import Path

import pytest

from haowurank.datasets.registry import data_root

ROOT = Path(__file__).resolve().parents[1]
DATA = data_root()


def data_dir(name: str) -> Path:
    """Folder of a real data set under ../shared/data; the test is skipped if it is absent."""
    p = DATA / name
    if not p.is_dir():
        pytest.skip(f"real data set {name} not found at {p}")
    return p


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return DATA


#: Test tiers (pyproject's markers): whole modules that start Spark, drive a real browser, run
#: the Streamlit app or the notebooks. `make test-fast` deselects them (-m "not spark and ...").
MODULE_MARKERS = {
    "test_spark.py": "spark",
    "test_dashboard_browser.py": "browser",
    "test_dashboard.py": "app",
    "test_notebooks.py": "notebook",
}

#: The longest tests of the other modules (integration runs, large property tests), kept out of
#: `make test-fast` and run by `make test`. A name is a node id prefix (all its parameters).
SLOW_TESTS = (
    "tests/test_concurrency.py::test_swapping_strategies_under_load_gives_old_or_new_never_a_mix",
    "tests/test_dataset.py::test_parquet_round_trip_loses_nothing",
    "tests/test_dataset.py::test_row_order_does_not_matter",
    "tests/test_feed.py::test_feed_cites_exactly_the_visible_friends",
    "tests/test_feed.py::test_lazy_and_vectorised_greedy_agree",
    "tests/test_feed.py::test_pagination_concatenates_to_the_full_feed",
    "tests/test_hybrid.py::test_trust_and_hybrid_rank_truly_better_items_than_popularity",
    "tests/test_privacy.py::test_friend_endorsements_see_only_what_the_viewer_may_see",
    "tests/test_privacy.py::test_graph_equals_the_rule_read_row_by_row",
    "tests/test_privacy.py::test_hybrid_social_features_see_only_what_the_viewer_may_see",
    "tests/test_privacy.py::test_trust_direct_term_and_names_see_only_what_the_viewer_may_see",
    "tests/test_readme.py::test_readme_tour_runs",
    "tests/test_service.py::test_fuzz_every_endpoint_of_the_openapi_schema_never_answers_5xx",
    "tests/test_service.py::test_real_uvicorn_server",
    "tests/test_sim.py::test_policies_and_messages",
    "tests/test_sim.py::test_results_do_not_depend_on_feed_batches",
    "tests/test_sim_product.py::test_complaints_and_fatigue_lower_activity_and_churn",
    "tests/test_sim_product.py::test_follow_is_a_long_term_channel",
    "tests/test_sim_quota.py::test_quota_invariants_hold_in_every_run",
)


def pytest_collection_modifyitems(config, items):
    for item in items:
        marker = MODULE_MARKERS.get(item.path.name)
        if marker:
            item.add_marker(getattr(pytest.mark, marker))
        if item.nodeid.startswith(SLOW_TESTS):
            item.add_marker(pytest.mark.slow)
