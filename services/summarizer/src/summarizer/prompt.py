"""The prompt (a versioned template file) and the structured answer it asks for.

Untrusted text never reaches the model outside the data fence: the digest is JSON, its `<` and `>`
are escaped (so no string in it can close the fence), and the fence name carries a random nonce per
request. The answer is validated against one fixed shape; extra keys are dropped, cited evidence is
checked against the digest, and anything unusable is an `InvalidOutput` (the caller falls back).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import resources
from string import Template
from typing import Any, Final

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from incident_shared.schemas import Incident, IncidentSummary
from incident_shared.schemas.incidents import SummaryEvidence, SummaryUsage
from summarizer.digest import Digest

PROMPT_NAME: Final = "incident_summary"
PROMPT_VERSION: Final = "incident_summary.v1"
TOOL_NAME: Final = "record_incident_summary"
MAX_ACTIONS: Final = 6

# One schema for the Anthropic tool and the OpenAI `json_schema` response format (strict-compatible:
# every property required, no additional properties).
ANSWER_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "properties": {
        "summary": {
            "type": "string",
            "description": "Two or three sentences: what, where, since when, how big.",
        },
        "rootCause": {"type": "string", "description": "The most likely root cause and the evidence for it."},
        "suggestedActions": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Three to five concrete first actions, most useful first.",
        },
        "confidence": {"type": "number", "description": "0 to 1: how well the evidence supports the cause."},
        "evidenceTemplates": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Template ids (T1...).",
        },
        "evidenceServices": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Services relied on.",
        },
    },
    "required": [
        "summary",
        "rootCause",
        "suggestedActions",
        "confidence",
        "evidenceTemplates",
        "evidenceServices",
    ],
    "additionalProperties": False,
}


class InvalidOutput(ValueError):  # noqa: N818 - reads as what it is: the model's output is invalid
    """The model's answer is not usable: not JSON, the wrong shape, or empty where it matters."""


def _clean(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class ModelAnswer(BaseModel):
    """The answer's fixed shape. Keys the model adds are dropped; long strings are cut, not refused."""

    model_config = ConfigDict(extra="ignore")

    summary: str = Field(min_length=1)
    rootCause: str = Field(min_length=1)
    suggestedActions: list[str] = Field(min_length=1)
    confidence: float = Field(ge=0, le=1)
    evidenceTemplates: list[str] = Field(default_factory=list)
    evidenceServices: list[str] = Field(default_factory=list)

    @field_validator("summary", "rootCause", mode="after")
    @classmethod
    def _bounded(cls, v: str) -> str:
        v = _clean(v, 1200)
        if not v:
            raise ValueError("must not be blank")
        return v

    @field_validator("suggestedActions", mode="after")
    @classmethod
    def _actions(cls, v: list[str]) -> list[str]:
        actions = [_clean(a, 300) for a in v if a.strip()][:MAX_ACTIONS]
        if not actions:
            raise ValueError("needs at least one action")
        return actions


@dataclass(frozen=True, slots=True)
class Prompt:
    system: str
    user: str
    version: str
    fence: str


@cache
def _template(name: str = PROMPT_VERSION) -> tuple[Template, Template]:
    text = (resources.files("summarizer") / "prompts" / f"{name}.txt").read_text(encoding="utf-8")
    _, _, rest = text.partition("=== system ===\n")
    system, _, user = rest.partition("=== user ===\n")
    if not system.strip() or not user.strip():
        raise RuntimeError(f"prompt template {name} needs a '=== system ===' and a '=== user ===' section")
    return Template(system.strip()), Template(user.strip())


def fence_json(json_text: str) -> str:
    """JSON made safe to embed between fence markers: `<`, `>` and `&` become unicode escapes.

    Inside JSON these characters only occur in strings, where `\\u003c` is the same character to a
    reader, so the data is unchanged while no string can spell a closing marker.
    """
    return json_text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def build_prompt(digest: Digest, *, nonce: str | None = None) -> Prompt:
    system_t, user_t = _template()
    fence = f"incident-data-{nonce or secrets.token_hex(6)}"
    values = {"fence": fence, "tool": TOOL_NAME, "digest": fence_json(digest.json)}
    return Prompt(
        system=system_t.substitute(values),
        user=user_t.substitute(values),
        version=PROMPT_VERSION,
        fence=fence,
    )


_JSON_BLOCK = re.compile(r"\{.*\}", re.DOTALL)


def parse_answer(raw: dict[str, Any] | str | None) -> ModelAnswer:
    """Validates the model's answer: a dict (tool input) or text holding one JSON object."""
    if raw is None:
        raise InvalidOutput("the model gave no answer")
    if isinstance(raw, str):
        match = _JSON_BLOCK.search(raw)
        if match is None:
            raise InvalidOutput(f"no JSON object in the answer: {raw[:120]!r}")
        try:
            raw = orjson.loads(match.group(0))
        except orjson.JSONDecodeError as exc:
            raise InvalidOutput(f"the answer is not valid JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise InvalidOutput(f"the answer is a {type(raw).__name__}, not an object")
    try:
        return ModelAnswer.model_validate(raw)
    except ValidationError as exc:
        fields = ", ".join(".".join(map(str, e["loc"])) or "answer" for e in exc.errors())
        raise InvalidOutput(f"the answer does not have the expected shape ({fields})") from exc


def to_summary(
    answer: ModelAnswer,
    *,
    digest: Digest,
    incident: Incident,
    provider: str,
    model: str,
    usage: SummaryUsage,
    generated_at: datetime,
) -> IncidentSummary:
    """The published summary: evidence limited to what the digest holds."""
    services = [s for s in dict.fromkeys(x.strip() for x in answer.evidenceServices) if s in digest.services]
    return IncidentSummary(
        incidentId=incident.incidentId,
        basedOnVersion=incident.version,
        kind="ai",
        provider=provider,
        model=model,
        summary=answer.summary,
        rootCause=answer.rootCause,
        suggestedActions=answer.suggestedActions,
        confidence=answer.confidence,
        evidence=SummaryEvidence(templates=digest.fingerprints_for(answer.evidenceTemplates), services=services),
        promptVersion=PROMPT_VERSION,
        usage=usage,
        generatedAt=generated_at,
    )
