"""cli.runtime without Ray: listen-host checks, token auth, runtime_env, placement, actor options."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli.runtime import (
    GATEWAY_RESOURCE_SHARE,
    ClusterFacts,
    actor_options,
    auth_environment,
    check_listen_host,
    is_loopback,
    placement,
    runtime_env_for,
    start_ray,
)
from core.config import RayConfig
from core.errors import ConfigError

# -- LISTEN HOSTS ------------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"])
def test_is_loopback_when_local_address_then_true(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.2", "example.org", ""])
def test_is_loopback_when_reachable_from_elsewhere_then_false(host: str) -> None:
    assert not is_loopback(host)


def test_check_listen_host_when_all_interfaces_and_not_allowed_then_config_error_names_key() -> (
    None
):
    with pytest.raises(ConfigError) as error:
        check_listen_host("0.0.0.0", allow_remote=False, key="ray.dashboard_host")
    assert error.value.key == "ray.dashboard_host" and error.value.value == "0.0.0.0"


def test_check_listen_host_when_remote_allowed_then_host_kept() -> None:
    assert check_listen_host("0.0.0.0", allow_remote=True, key="metrics.host") == "0.0.0.0"


def test_check_listen_host_when_empty_then_config_error_even_if_allowed() -> None:
    with pytest.raises(ConfigError, match=r"metrics\.host"):
        check_listen_host("", allow_remote=True, key="metrics.host")


def test_start_ray_when_dashboard_on_all_interfaces_not_allowed_then_refused_before_ray_starts() -> (
    None
):
    config = RayConfig(dashboard=True, dashboard_host="0.0.0.0")
    with pytest.raises(ConfigError) as error:
        start_ray(config)  # ray.init is forbidden here: the refusal must come first
    assert error.value.key == "ray.dashboard_host"


# -- TOKEN AUTHENTICATION ------------------------------------------------------------


def test_auth_environment_when_mode_unset_then_token_mode() -> None:
    assert auth_environment(True, {}, supported=True) == {"RAY_AUTH_MODE": "token"}


def test_auth_environment_when_operator_chose_a_mode_then_left_alone() -> None:
    assert auth_environment(True, {"RAY_AUTH_MODE": "disabled"}, supported=True) == {}


def test_auth_environment_when_config_turns_it_off_then_disabled_explicitly() -> None:
    assert auth_environment(False, {}, supported=True) == {"RAY_AUTH_MODE": "disabled"}


def test_auth_environment_when_ray_has_no_token_auth_then_nothing_set() -> None:
    assert auth_environment(True, {}, supported=False) == {}


# -- RUNTIME ENV -----------------------------------------------------------------------


def test_runtime_env_when_joining_then_project_root_travels_without_venv_git_and_state() -> None:
    env = runtime_env_for(Path("/srv/swarm"), joining=True)
    assert env is not None and env["working_dir"] == "/srv/swarm"
    assert {".venv", ".git", "var"} <= set(env["excludes"])


def test_runtime_env_when_local_then_none() -> None:
    assert runtime_env_for(Path("/srv/swarm"), joining=False) is None


# -- PLACEMENT ---------------------------------------------------------------------------

CLUSTER = ClusterFacts(nodes=2, resources={"CPU": 2.0, "gateway": 1.0}, driver_node_id="n1")


def test_placement_when_a_node_advertises_gateway_then_gateway_asks_for_a_share_of_it() -> None:
    assert placement("gateway", CLUSTER) == {"resources": {"gateway": GATEWAY_RESOURCE_SHARE}}


def test_placement_when_no_node_advertises_gateway_then_gateway_goes_anywhere() -> None:
    assert placement("gateway", ClusterFacts(nodes=2, resources={"CPU": 2.0})) == {}


def test_placement_when_resource_renamed_then_that_resource_is_asked() -> None:
    facts = ClusterFacts(nodes=2, resources={"wal-disk": 1.0})
    assert placement("gateway", facts, gateway_resource="wal-disk") == {
        "resources": {"wal-disk": GATEWAY_RESOURCE_SHARE}
    }
    assert placement("gateway", facts) == {}


def test_placement_when_agents_on_several_nodes_then_dealt_over_the_nodes_in_turn() -> None:
    facts = ClusterFacts(nodes=2, resources={}, driver_node_id="a", node_ids=("a", "b"))
    assert [placement("agent", facts, index=i) for i in range(3)] == [
        {"node_affinity": "a"},
        {"node_affinity": "b"},
        {"node_affinity": "a"},
    ]


def test_placement_when_agent_recreated_then_the_node_it_was_lost_with_is_avoided() -> None:
    facts = ClusterFacts(nodes=2, resources={}, driver_node_id="a", node_ids=("a", "b"))
    assert [placement("agent", facts, index=i, avoid="b") for i in range(3)] == [
        {"node_affinity": "a"}
    ] * 3
    alone = ClusterFacts(nodes=1, resources={}, node_ids=("b",))  # nothing else: Ray decides
    assert placement("agent", alone, avoid="b") == {"scheduling_strategy": "SPREAD"}


def test_placement_when_agent_and_nodes_unknown_then_spread() -> None:
    assert placement("agent", CLUSTER) == {"scheduling_strategy": "SPREAD"}


def test_placement_when_feed_on_several_nodes_then_pinned_to_driver_node() -> None:
    assert placement("feed", CLUSTER) == {"node_affinity": "n1"}
    assert placement("feed", ClusterFacts(nodes=1, resources={}, driver_node_id="n1")) == {}


def test_placement_when_a_node_advertises_gateway_then_paper_venues_live_with_the_gateway() -> None:
    # A venue stands for an exchange: losing a worker node must not close it.
    assert placement("venue", CLUSTER) == {"resources": {"gateway": GATEWAY_RESOURCE_SHARE}}
    assert placement("venue", ClusterFacts(nodes=2, resources={"CPU": 2.0})) == {}


@pytest.mark.parametrize("kind", ["council"])
def test_placement_when_other_kinds_then_ray_decides(kind: str) -> None:
    assert placement(kind, CLUSTER) == {}


def test_actor_options_when_ray_not_running_then_policy_only_and_overrides_win() -> None:
    options = actor_options("gateway", "gateway", max_restarts=3)
    assert options == {
        "name": "gateway",
        "num_cpus": 0,
        "max_restarts": 3,
        "max_concurrency": 256,
        "lifetime": "detached",
    }
