"""OpenAI, or any OpenAI-compatible server (OPENAI_BASE_URL), through the official async SDK."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

import openai
from pydantic import SecretStr

from summarizer.prompt import ANSWER_SCHEMA, TOOL_NAME, Prompt
from summarizer.providers.base import Completion, ProviderError, classify_status

ResponseFormat = Literal["json_schema", "json_object", "none"]


class OpenAIProvider:
    name = "openai"

    def __init__(
        self,
        *,
        api_key: SecretStr,
        model: str,
        base_url: str | None,
        timeout: float,
        response_format: ResponseFormat = "json_schema",
    ) -> None:
        self.model = model
        self._timeout = timeout
        self._format = response_format
        # Self-hosted compatible servers often need no key; the SDK insists on one being set.
        key = api_key.get_secret_value() or "not-needed"
        self._client = openai.AsyncOpenAI(api_key=key, base_url=base_url, max_retries=0, timeout=timeout)
        # OpenAI's own newer models want max_completion_tokens; compatible servers know max_tokens.
        self._tokens_param = "max_tokens" if base_url else "max_completion_tokens"

    def _response_format(self) -> dict[str, Any] | None:
        if self._format == "json_schema":
            return {"type": "json_schema", "json_schema": {"name": TOOL_NAME, "schema": ANSWER_SCHEMA, "strict": True}}
        if self._format == "json_object":
            return {"type": "json_object"}
        return None

    async def complete(self, prompt: Prompt, *, max_output_tokens: int) -> Completion:
        extra: dict[str, Any] = {self._tokens_param: max_output_tokens}
        response_format = self._response_format()
        if response_format is not None:
            extra["response_format"] = response_format
        try:
            async with asyncio.timeout(self._timeout):
                response = await self._client.chat.completions.create(
                    model=self.model,
                    messages=[
                        {"role": "system", "content": prompt.system},
                        {"role": "user", "content": prompt.user},
                    ],
                    **extra,
                )
        except (TimeoutError, openai.APITimeoutError) as exc:
            raise ProviderError("timeout", f"no answer within {self._timeout}s", retryable=True) from exc
        except openai.APIConnectionError as exc:
            raise ProviderError("connection", str(exc), retryable=True) from exc
        except openai.APIStatusError as exc:
            raise classify_status(exc.status_code, _message(exc), exc.response.headers) from exc
        choice = response.choices[0] if response.choices else None
        content = choice.message.content if choice is not None else None
        usage = response.usage
        return Completion(
            raw=content,
            input_tokens=(usage.prompt_tokens or 0) if usage else 0,
            output_tokens=(usage.completion_tokens or 0) if usage else 0,
            model=response.model or self.model,
            stop_reason=choice.finish_reason if choice is not None else None,
        )

    async def close(self) -> None:
        await self._client.close()


def _message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict):
            return str(error.get("message", ""))[:300]
    return str(exc)[:300]
