"""Anthropic Claude through the official async SDK (Messages API), answering through a forced tool."""

from __future__ import annotations

import asyncio
from typing import Any

import anthropic
from pydantic import SecretStr

from summarizer.prompt import ANSWER_SCHEMA, TOOL_NAME, Prompt
from summarizer.providers.base import Completion, ProviderError, classify_status


class ClaudeProvider:
    name = "anthropic"

    def __init__(self, *, api_key: SecretStr, model: str, base_url: str | None, timeout: float) -> None:
        self.model = model
        self._timeout = timeout
        # Retries are ours (tenacity, with the breaker and budget in the loop), so the SDK's are off.
        self._client = anthropic.AsyncAnthropic(
            api_key=api_key.get_secret_value(), base_url=base_url, max_retries=0, timeout=timeout
        )

    async def complete(self, prompt: Prompt, *, max_output_tokens: int) -> Completion:
        try:
            async with asyncio.timeout(self._timeout):
                message = await self._client.messages.create(
                    model=self.model,
                    max_tokens=max_output_tokens,
                    system=prompt.system,
                    messages=[{"role": "user", "content": prompt.user}],
                    tools=[
                        {
                            "name": TOOL_NAME,
                            "description": "Record the assessment of the incident.",
                            "input_schema": ANSWER_SCHEMA,
                        }
                    ],
                    tool_choice={"type": "tool", "name": TOOL_NAME},
                )
        except (TimeoutError, anthropic.APITimeoutError) as exc:
            raise ProviderError("timeout", f"no answer within {self._timeout}s", retryable=True) from exc
        except anthropic.APIConnectionError as exc:
            raise ProviderError("connection", str(exc), retryable=True) from exc
        except anthropic.APIStatusError as exc:
            raise classify_status(exc.status_code, _message(exc), exc.response.headers) from exc
        raw: dict[str, Any] | str | None = None
        texts: list[str] = []
        for block in message.content:
            if block.type == "tool_use" and block.name == TOOL_NAME:
                raw = block.input if isinstance(block.input, dict) else None
                break
            if block.type == "text":
                texts.append(block.text)
        if raw is None and texts:
            raw = "\n".join(texts)
        return Completion(
            raw=raw,
            input_tokens=message.usage.input_tokens or 0,
            output_tokens=message.usage.output_tokens or 0,
            model=message.model or self.model,
            stop_reason=message.stop_reason,
        )

    async def close(self) -> None:
        await self._client.close()


def _message(exc: anthropic.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return str(body["error"].get("message", ""))[:300]
    return str(exc)[:300]
