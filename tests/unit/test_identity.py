"""Identity rules (mixpanel-behavior.md §9) over a dict-backed graph: no database."""

from __future__ import annotations

from typing import Any

import orjson

from trackyard.service.identity import (
    CLUSTER_CAP,
    IdentityLink,
    apply_links,
    links_from_events,
)
from trackyard.settings import Settings
from trackyard.validate.common import Limits
from trackyard.validate.events import DAY_MS, Event, EventRules, validate_event

NOW_MS = 1_795_694_400_000
RULES = EventRules("track", False, NOW_MS, Limits.from_settings(Settings()), 5 * DAY_MS, 3_600_000)


class DictGraph:
    """The IdentityGraph protocol over a dict, as the stores implement it over a table."""

    def __init__(self) -> None:
        self.links: dict[str, str] = {}

    def canonical(self, distinct_id: str) -> str | None:
        return self.links.get(distinct_id)

    def cluster_size(self, canonical_id: str) -> int:
        return 1 + sum(1 for c in self.links.values() if c == canonical_id)

    def relink(self, old: str, new: str) -> None:
        for member, canonical in list(self.links.items()):
            if canonical == old:
                self.links[member] = new
        self.links[old] = new

    def resolve(self, distinct_id: str) -> str:
        return self.links.get(distinct_id, distinct_id)


def event(name: str = "e", **props: Any) -> Event:
    result = validate_event({"event": name, "properties": props}, 0, RULES)
    assert isinstance(result, Event)
    return result


def run(mode: str, *events: Event) -> DictGraph:
    graph = DictGraph()
    apply_links(graph, links_from_events(events, mode))  # type: ignore[arg-type]
    return graph


# Simplified ------------------------------------------------------------------------


def test_anonymous_then_identified() -> None:
    graph = run(
        "simplified",
        event(**{"$device_id": "d1"}),
        event(**{"$device_id": "d1", "$user_id": "alice"}),
    )
    assert graph.resolve("$device:d1") == "alice"


def test_distinct_id_without_prefix_counts_as_the_user() -> None:
    graph = run("simplified", event(distinct_id="alice", **{"$device_id": "d1"}))
    assert graph.resolve("$device:d1") == "alice"


def test_two_devices_one_user() -> None:
    graph = run(
        "simplified",
        event(**{"$device_id": "d1", "$user_id": "alice"}),
        event(**{"$device_id": "d2", "$user_id": "alice"}),
    )
    assert graph.resolve("$device:d1") == graph.resolve("$device:d2") == "alice"


def test_first_user_wins_a_device_and_users_never_merge() -> None:
    graph = run(
        "simplified",
        event(**{"$device_id": "d1", "$user_id": "alice"}),
        event(**{"$device_id": "d1", "$user_id": "bob"}),
    )
    assert graph.resolve("$device:d1") == "alice"
    assert graph.resolve("bob") == "bob"


def test_device_id_with_prefix_has_one_stripped() -> None:
    graph = run("simplified", event(**{"$device_id": "$device:d1", "$user_id": "alice"}))
    assert graph.links == {"$device:d1": "alice"}


def test_identity_events_do_nothing_in_simplified_mode() -> None:
    graph = run("simplified", event("$create_alias", distinct_id="alice", alias="a2"))
    assert graph.links == {}


# Original --------------------------------------------------------------------------


def test_identify_merges_the_anonymous_id() -> None:
    graph = run("original", event("$identify", **{"$identified_id": "alice", "$anon_id": "anon-1"}))
    assert graph.resolve("anon-1") == "alice"


def test_identify_from_current_js_fields() -> None:
    graph = run(
        "original", event("$identify", distinct_id="alice", **{"$anon_distinct_id": "anon-1"})
    )
    assert graph.resolve("anon-1") == "alice"


def test_identify_does_not_move_an_already_merged_anonymous_id() -> None:
    graph = run(
        "original",
        event("$identify", **{"$identified_id": "alice", "$anon_id": "anon-1"}),
        event("$identify", **{"$identified_id": "bob", "$anon_id": "anon-1"}),
    )
    assert graph.resolve("anon-1") == "alice"


def test_alias_chain() -> None:
    graph = run(
        "original",
        event("$create_alias", distinct_id="alice", alias="a1"),
        event("$create_alias", distinct_id="a1", alias="a2"),
        event("$create_alias", distinct_id="bob", alias="a1"),  # a1 is taken: ignored
    )
    assert graph.resolve("a1") == graph.resolve("a2") == "alice"


def test_merge_joins_two_clusters() -> None:
    graph = run(
        "original",
        event("$create_alias", distinct_id="alice", alias="a1"),
        event("$create_alias", distinct_id="bob", alias="b1"),
        event("$merge", **{"$distinct_ids": ["a1", "b1"]}),
    )
    assert {graph.resolve(i) for i in ("alice", "a1", "bob", "b1")} == {"alice"}


def test_merge_respects_the_cluster_cap() -> None:
    graph = DictGraph()
    big = [IdentityLink("alias", f"a{i}", "big") for i in range(CLUSTER_CAP - 1)]
    apply_links(graph, [*big, IdentityLink("alias", "c1", "small")])
    assert graph.cluster_size("big") == CLUSTER_CAP
    apply_links(graph, [IdentityLink("merge", "small", "big")])
    assert graph.resolve("small") == "small"  # 500 + 2 would pass the cap


def test_merge_needs_exactly_two_ids() -> None:
    assert run("original", event("$merge", **{"$distinct_ids": ["a", "b", "c"]})).links == {}


def test_no_links_from_plain_events() -> None:
    assert links_from_events([event(distinct_id="x", n=orjson.dumps(1).decode())], "original") == []
