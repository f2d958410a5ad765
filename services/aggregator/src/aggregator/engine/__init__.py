"""The correlation engine: a pure, deterministic library (no Faust, Kafka or MongoDB imports)."""

from aggregator.engine.commands import CommandResult
from aggregator.engine.config import CorrelationConfig, config_from_mapping, load_config
from aggregator.engine.correlator import CorrelationEngine, Outcome
from aggregator.engine.linker import Linker, link_in_process
from aggregator.engine.masks import mask
from aggregator.engine.store import EngineStore, MemoryStore
from aggregator.engine.templates import TemplateMiner, fingerprint
from incident_shared.topology import Topology

__all__ = [
    "CommandResult",
    "CorrelationConfig",
    "CorrelationEngine",
    "EngineStore",
    "Linker",
    "MemoryStore",
    "Outcome",
    "TemplateMiner",
    "Topology",
    "config_from_mapping",
    "fingerprint",
    "link_in_process",
    "load_config",
    "mask",
]
