"""AI providers behind one small interface, each through its official async SDK."""

from summarizer.providers.base import Completion, Provider, ProviderError

__all__ = ["Completion", "Provider", "ProviderError"]
