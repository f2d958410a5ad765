"""The service topology: which services correlate together, and so share a Kafka partition.

It is read from the `[topology]` table of the correlation config (CORRELATION_CONFIG). The
aggregator groups by it; producers key events by `correlation_key(service)` so that everything that
can join one incident lands on one partition, in the order it was produced.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class Topology:
    """Service groups and dependencies.

    `groups` name sets of services that correlate (and partition) together; `depends_on` maps a
    service to the services it calls. Services joined by a declared dependency fall into the same
    correlation group even when no group names them, so that a cascade is seen by one worker.
    """

    groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    depends_on: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def group_index(self) -> dict[str, str]:
        """service -> correlation key, for every service the topology names."""
        parent: dict[str, str] = {}

        def find(x: str) -> str:
            parent.setdefault(x, x)
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        def union(a: str, b: str) -> None:
            ra, rb = find(a), find(b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)

        names: dict[str, str] = {}
        for group, members in sorted(self.groups.items()):
            for member in members:
                names.setdefault(member, group)
                union(members[0], member)
        for service, deps in sorted(self.depends_on.items()):
            for dep in deps:
                union(service, dep)
        components: dict[str, list[str]] = {}
        for service in list(parent):
            components.setdefault(find(service), []).append(service)
        index: dict[str, str] = {}
        for component in components.values():
            if len(component) == 1 and component[0] not in names:
                continue
            # A component takes the name of its alphabetically first named group, else of its first service.
            named = sorted({names[m] for m in component if m in names})
            key = named[0] if named else sorted(component)[0]
            for member in component:
                index[member] = key
        return index


def topology_from_mapping(data: Mapping[str, Any]) -> Topology:
    """The topology from a parsed correlation config (its `[topology]` table)."""
    topo = dict(data.get("topology", {}))
    return Topology(
        groups={str(k): tuple(map(str, v)) for k, v in dict(topo.get("groups", {})).items()},
        depends_on={str(k): tuple(map(str, v)) for k, v in dict(topo.get("depends_on", {})).items()},
    )


def load_topology(path: str | Path | None) -> Topology:
    """The topology of the correlation config at `path`; none (every service alone) if it is missing."""
    if path is None or not Path(path).exists():
        return Topology()
    with Path(path).open("rb") as fh:
        return topology_from_mapping(tomllib.load(fh))


class CorrelationKeys:
    """service -> correlation key (its group, or itself), computed once from a topology."""

    def __init__(self, topology: Topology) -> None:
        self._index = topology.group_index()

    def __call__(self, service: str) -> str:
        return self._index.get(service, service)
