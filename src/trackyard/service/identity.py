"""Identity merge: which ids belong together, and which one exports show.

Events are stored with the distinct_id they arrived with. Identity events add
*links* (id -> canonical id) to a per-project graph; reads join through it, so
a merge applies retroactively to every earlier event (mixpanel-behavior.md §9).

Two modes, chosen per project:

* simplified (default, §9.1): an event carrying both `$user_id` and
  `$device_id` links `$device:<device_id>` to the user. First write wins: a
  device linked to one user is never moved to another, and two users are
  never merged. `$identify`, `$create_alias` and `$merge` do nothing.
* original (§9.2): `$identify` merges `$anon_id` into `$identified_id` when
  the anonymous id is not merged yet; `$create_alias` points an alias at a
  distinct_id when the alias is free; `$merge` joins two clusters. A cluster
  never grows past 500 ids.

The rules below run inside the store's transaction, against an
`IdentityGraph` the store implements over its own tables.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import orjson

from trackyard.validate.common import id_string
from trackyard.validate.events import Event

Mode = Literal["simplified", "original"]
MODES: tuple[Mode, ...] = ("simplified", "original")
IDENTITY_EVENTS = frozenset({"$identify", "$create_alias", "$merge"})
CLUSTER_CAP = 500
# The message Mixpanel answers strict /import with in simplified projects (§6.2).
SIMPLIFIED_REJECTS = (
    "identity events are not allowed when project is using simplified identity management"
)


@dataclass(frozen=True, slots=True)
class IdentityLink:
    """`member` (and its cluster) joins the cluster of `target`."""

    kind: Literal["device", "identify", "alias", "merge"]
    member: str
    target: str


class IdentityGraph(Protocol):
    def canonical(self, distinct_id: str) -> str | None:
        """The id `distinct_id` is linked to; None when it is not linked."""

    def cluster_size(self, canonical_id: str) -> int:
        """How many ids resolve to `canonical_id`, itself included."""

    def relink(self, old_canonical: str, new_canonical: str) -> None:
        """Point `old_canonical` and every id linked to it at `new_canonical`."""


def links_from_events(events: Iterable[Event], mode: Mode) -> list[IdentityLink]:
    if mode == "simplified":
        # One comprehension: a generator per event was ~4% of /import's CPU.
        return [
            IdentityLink("device", e.device_id, e.user_id)
            for e in events
            if e.user_id and e.device_id
        ]
    links: list[IdentityLink] = []
    for event in events:
        links.extend(_original_links(event))
    return links


def _original_links(event: Event) -> Iterator[IdentityLink]:
    if event.name not in IDENTITY_EVENTS:
        return
    props: dict[str, Any] = orjson.loads(event.properties)
    if event.name == "$identify":
        # Current JS sends distinct_id + $anon_distinct_id instead (§9.2).
        target = id_string(props.get("$identified_id")) or event.distinct_id
        member = id_string(props.get("$anon_id")) or id_string(props.get("$anon_distinct_id"))
        if member and target and member != target:
            yield IdentityLink("identify", member, target)
    elif event.name == "$create_alias":
        alias = id_string(props.get("alias"))
        if alias and event.distinct_id and alias != event.distinct_id:
            yield IdentityLink("alias", alias, event.distinct_id)
    else:
        ids = props.get("$distinct_ids")
        if isinstance(ids, list) and len(ids) == 2:
            first, second = (id_string(i) for i in ids)
            if first and second and first != second:
                yield IdentityLink("merge", second, first)


def apply_links(graph: IdentityGraph, links: Iterable[IdentityLink]) -> None:
    for link in links:
        _apply(graph, link)


def _apply(graph: IdentityGraph, link: IdentityLink) -> None:
    if link.kind != "merge" and graph.canonical(link.member) is not None:
        return  # first write wins: a device, anonymous id or alias is linked once
    target = graph.canonical(link.target) or link.target
    member = link.member if link.kind != "merge" else graph.canonical(link.member) or link.member
    if member == target:
        return
    if link.kind != "device":
        if graph.cluster_size(member) + graph.cluster_size(target) > CLUSTER_CAP:
            return
    elif graph.canonical(link.target) is not None:
        return  # simplified: a user id is always its own cluster's canonical id
    graph.relink(member, target)
