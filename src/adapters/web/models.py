"""The API's one contract: pydantic models of what requests may carry and of what responses hold.
They validate input (with messages that name the problem and the choices), serialize output, and
make the OpenAPI document (contract.py). Ranges and vocabularies come from the domain."""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import asdict
from datetime import datetime
from difflib import get_close_matches
from typing import Annotated, Any, ClassVar, Literal, Self, TypeVar, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    computed_field,
    model_validator,
)
from pydantic_core import PydanticCustomError

from src.application.domain import bounds
from src.application.domain.bounds import Bound
from src.application.domain.errors import InvalidParameter
from src.application.domain.model import (
    Direction,
    Endpoint,
    MaxTokensField,
    Metric,
    Run,
    RunSource,
    RunStatus,
    SweepLoad,
)
from src.application.domain.ranking import (
    DataSelection,
    GroupBy,
    MetricHistory,
    MetricRanking,
    OverallEntry,
    OverallRanking,
    RankingEntry,
    Scope,
    Statistic,
    Window,
)
from src.application.services.changes import Estimated
from src.application.services.measures import Slo
from src.application.services.ranking import METHODS, WIN_RATE
from src.application.services.sweeps import doubling
from src.application.services.workloads import DISTRIBUTIONS, Workload
from src.application.use_cases.campaigns import CampaignReport
from src.application.use_cases.monitoring import EndpointStatus, LatencyStatus, NewestRuns
from src.application.use_cases.rankings import WINDOW_SPANS
from src.application.use_cases.sweeps import SweepReport

# ---------------------------------------------------------------------------------------------
# Field types: each check raises its own message; `parsed` turns it into an InvalidParameter.

DIGITS = re.compile(r"[0-9]{1,20}")  # ASCII digits only: int() would take "١٢" or "+1_0"
# A stored row's id in a URL path: outside the bound no route matches (a 404, never a query the
# database cannot take), and spectree documents the bound from the rule.
ID_IN_PATH = f"int(min={bounds.ROW_ID.low}, max={bounds.ROW_ID.high})"


def refuse(message: str, choices: list[str] | None = None) -> PydanticCustomError:
    # The message travels in the context: user input in it must not be read as a template.
    return PydanticCustomError("jounce", "{message}", {"message": message, "choices": choices})


def shown(raw: Any) -> str:
    """A query value as an error message may quote it: short and printable."""
    return repr(str(raw)[:50])


def as_json(raw: Any) -> str:
    """A body value as an error message may quote it: as JSON, short."""
    try:
        return json.dumps(raw)[:50]
    except (ValueError, TypeError, RecursionError):
        return type(raw).__name__


def _range_schema(bound: Bound, kind: str) -> dict[str, Any]:
    if bound.open_below:
        return {"type": kind, "exclusiveMinimum": bound.low, "maximum": bound.high}
    return {"type": kind, "minimum": bound.low, "maximum": bound.high}


def query_whole(bound: Bound) -> Any:
    """A whole number in a query string: decimal digits within the bound."""

    def check(raw: Any, info: ValidationInfo) -> int:
        name = info.field_name or "value"
        if not isinstance(raw, str) or not DIGITS.fullmatch(raw):
            raise refuse(f"{name} must be a whole number {bound.range}, got {shown(raw)}")
        return _within(bound, name, int(raw))

    return Annotated[int, BeforeValidator(check), WithJsonSchema(_range_schema(bound, "integer"))]


def json_whole(bound: Bound) -> Any:
    """A whole number in a JSON body: a JSON integer (not "10", 2.0, 1e6 or true) within the bound."""

    def check(raw: Any, info: ValidationInfo) -> int:
        name = info.field_name or "value"
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise refuse(f"{name} must be a whole number {bound.range} (a JSON integer), got {as_json(raw)}")
        return _within(bound, name, raw)

    return Annotated[int, BeforeValidator(check), WithJsonSchema(_range_schema(bound, "integer"))]


def json_number(bound: Bound) -> Any:
    """A finite JSON number within the bound."""

    def check(raw: Any, info: ValidationInfo) -> float:
        name = info.field_name or "value"
        if isinstance(raw, bool) or not isinstance(raw, int | float) or not bound.admits(raw):
            raise refuse(f"{name} must be a number {bound.range}, got {as_json(raw)}")
        return float(raw)

    return Annotated[float, BeforeValidator(check), WithJsonSchema(_range_schema(bound, "number"))]


def json_bool() -> Any:
    """A JSON true or false (not "false", 0 or null)."""

    def check(raw: Any, info: ValidationInfo) -> bool:
        if not isinstance(raw, bool):
            raise refuse(f"{info.field_name or 'value'} must be true or false, got {as_json(raw)}", ["true", "false"])
        return raw

    return Annotated[bool, BeforeValidator(check), WithJsonSchema({"type": "boolean"})]


def _within(bound: Bound, name: str, value: int) -> int:
    if not bound.admits(value):
        raise refuse(f"{bound.explained(name)}, got {value}")
    return value


def one_of(choices: list[str]) -> Any:
    """One of `choices`; present but empty is refused (a form's empty option is left out first)."""

    def check(raw: Any, info: ValidationInfo) -> str:
        name = info.field_name or "value"
        if raw == "":
            raise refuse(f"{name} is empty: leave it out for the default", choices)
        if raw not in choices:
            raise refuse(f"unknown {name} {shown(raw)}", choices)
        return str(raw)

    return Annotated[str, BeforeValidator(check), WithJsonSchema({"type": "string", "enum": choices})]


def text(max_length: int = 100) -> Any:
    """A printable string, stripped; the core says whether empty is acceptable."""

    def check(raw: Any, info: ValidationInfo) -> str:
        name = info.field_name or "value"
        if not isinstance(raw, str):
            raise refuse(f"{name} must be a string")
        value = raw.strip()
        if len(value) > max_length:
            raise refuse(f"{name} is longer than {max_length} characters")
        if not value.isprintable():
            raise refuse(f"{name} must not contain control characters")
        return value

    return Annotated[str, BeforeValidator(check), WithJsonSchema({"type": "string", "maxLength": max_length})]


def parse_weights(raw: Any) -> dict[str, float]:
    """`TTFT:2,TPS:1` into {"TTFT": 2.0, "TPS": 1.0}."""
    parsed: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in str(raw).split(","))):
        name, separator, value = part.partition(":")
        try:
            weight = float(value)
        except ValueError:
            weight = -1.0
        if not separator or not 0 <= weight < math.inf:
            raise refuse(f"weights must look like TTFT:2,TPS:1 (finite, not negative), got {part[:50]!r}")
        parsed[name.strip()] = weight
    return parsed


Weights = Annotated[
    dict[str, float],
    BeforeValidator(parse_weights),
    WithJsonSchema({"type": "string", "example": "TTFT:2,TPS:1"}),
]


M = TypeVar("M", bound=BaseModel)


def parsed(model: type[M], values: Any) -> M:
    """`values` checked by `model`; the first problem as an InvalidParameter (a 400)."""
    try:
        return model.model_validate(values)
    except ValidationError as error:
        raise invalid(error, model) from None


def invalid(error: ValidationError, model: type[BaseModel]) -> InvalidParameter:
    problems = error.errors()
    unknown = sorted(p["loc"] for p in problems if p["type"] == "extra_forbidden")
    if unknown:
        names = ", ".join(".".join(map(str, path)) for path in unknown)
        return InvalidParameter(f"unknown field {shown(names)}", choices=_fields_at(model, unknown[0][:-1]))
    problem = problems[0]
    name = ".".join(map(str, problem["loc"])) if problem["loc"] else None  # workload.input_tokens
    context = problem.get("ctx") or {}
    message = context.get("message") or (f"{name} is required" if problem["type"] == "missing" else problem["msg"])
    field = str(problem["loc"][-1]) if problem["loc"] else ""
    if name and message.startswith(field + " "):  # a nested field by its path: slo.ttft_ms
        message = name + message[len(field) :]
    return InvalidParameter(message, choices=context.get("choices"), parameter=name)


def _fields_at(model: type[BaseModel], path: tuple[int | str, ...]) -> list[str]:
    """The fields of the model nested at `path` (a body's object within an object)."""
    for name in path:
        annotation = model.model_fields[str(name)].annotation
        inner = [a for a in (get_args(annotation) or (annotation,)) if isinstance(a, type) and issubclass(a, BaseModel)]
        if not inner:
            return []
        model = inner[0]
    return sorted(model.model_fields)


# ---------------------------------------------------------------------------------------------
# Requests. Queries ignore parameters they do not name (links carry utm_ and the like) unless the
# name is a misspelt parameter; bodies refuse unknown fields. Either, ignored, would silently mean
# a default: `statstic=p99` the mean.

STATISTICS = [s.value for s in Statistic]
SOURCES = [s.value for s in RunSource]


def without_null_defaults(schema: dict[str, Any]) -> None:
    """A field left out means "the default", which None stands for here: the document says
    nothing rather than a default its own schema refuses."""
    for field in schema.get("properties", {}).values():
        if "default" in field and field["default"] is None:
            del field["default"]


def misspelt(names: Iterable[str], parameters: Collection[str]) -> tuple[str, str] | None:
    """The first of `names` that is no parameter but close to one (a letter or two apart), with
    that one."""
    for name in names:
        if name not in parameters and (near := get_close_matches(name, parameters, n=1, cutoff=0.8)):
            return name, near[0]
    return None


class Query(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, json_schema_extra=without_null_defaults)

    @model_validator(mode="before")
    @classmethod
    def no_misspelt_parameter(cls, values: Any) -> Any:
        if isinstance(values, Mapping) and (found := misspelt(values, cls.model_fields)):
            message = f"unknown parameter {shown(found[0])}; did you mean {found[1]}?"
            raise refuse(message, choices=sorted(cls.model_fields))
        return values


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra=without_null_defaults)
    example: ClassVar[str]  # a valid body, quoted by the error a malformed one gets


class ScopeQuery(Query):
    """Which data: one run by id, or the latest run or a window of runs of one source."""

    statistic: one_of(STATISTICS) = Field(Statistic.MEAN.value, description="What to rank by")  # type: ignore[valid-type]
    window: one_of([w.value for w in Window]) = Field(  # type: ignore[valid-type]
        None, description="The latest completed run (the default), or every run completed in a period"
    )
    run_id: query_whole(bounds.ROW_ID) = Field(None, description="One completed run instead of a window")  # type: ignore[valid-type]
    source: one_of(SOURCES) = Field(  # type: ignore[valid-type]
        RunSource.SIMULATED.value,
        description="Simulated runs, or measured runs of real endpoints (latest: each subject's newest run)",
    )
    group_by: one_of([g.value for g in GroupBy]) = Field(  # type: ignore[valid-type]
        GroupBy.LLM.value,
        description="Measured runs: rank LLMs (an LLM's endpoints pooled) or endpoints (provider x model)",
    )
    plan: text(20) = Field(  # type: ignore[valid-type]
        None,
        description="Measured runs: the plan key to rank under (runs of different plans are never pooled); "
        "needed only where the runs have several, and the error then lists them",
    )
    campaign_id: query_whole(bounds.ROW_ID) = Field(None, description="Measured runs: one campaign's runs")  # type: ignore[valid-type]

    @model_validator(mode="after")
    def one_scope(self) -> Self:
        if sum(given is not None for given in (self.run_id, self.window, self.campaign_id)) > 1:
            raise refuse("give one of run_id, window and campaign_id")
        return self

    @property
    def scope(self) -> Scope:
        return Scope(self.run_id, Window(self.window or Window.LATEST), RunSource(self.source), GroupBy(self.group_by),
                     self.plan, self.campaign_id)  # fmt: skip


class Formatted(Query):
    format: one_of(["json", "csv"]) = Field(None, description="CSV also with `Accept: text/csv`")  # type: ignore[valid-type]


class NamesAMetric(Query):
    """A query of one metric. Without metric_name the core refuses it, listing the catalogue's
    metrics: only the database knows them."""

    @model_validator(mode="before")
    @classmethod
    def metric_name_left_to_the_core(cls, values: Any) -> Any:
        if "metric_name" in values or not cls.model_fields["metric_name"].is_required():  # a page's default
            return values
        return {**values, "metric_name": ""}


class MetricQuery(ScopeQuery, NamesAMetric):
    metric_name: text() = Field(description="The metric, e.g. TTFT (see /metric-definitions)")  # type: ignore[valid-type]


class MetricRankingQuery(MetricQuery, Formatted):
    pass


class OverallQuery(ScopeQuery):
    method: one_of(list(METHODS)) = Field(  # type: ignore[valid-type]
        WIN_RATE,
        description="winrate: HELM's mean win rate (the share of rivals beaten per metric, exact ties half)",
    )
    weights: Weights = Field(
        default_factory=dict,
        description="Metric weights, 0 to leave one out; not given: e2e_latency and RPS 0 (they follow from TTFT "
        "and TPS), the others 1",
    )


class OverallRankingQuery(OverallQuery, Formatted):
    pass


class HistoryQuery(Formatted, NamesAMetric):
    metric_name: text() = Field(description="The metric")  # type: ignore[valid-type]
    statistic: one_of(STATISTICS) = Statistic.MEAN.value  # type: ignore[valid-type]
    window: one_of([w.value for w in WINDOW_SPANS]) = Field(Window.DAY.value, description="The period")  # type: ignore[valid-type]
    limit: query_whole(bounds.HISTORY_RUNS) = Field(100, description="How many of the newest runs (of the plan's)")  # type: ignore[valid-type]
    source: one_of(SOURCES) = RunSource.SIMULATED.value  # type: ignore[valid-type]
    plan: text(20) = Field(  # type: ignore[valid-type]
        None,
        description="Measured runs: the plan key whose runs to follow (plans are never mixed in a line); "
        "needed only where the period's runs have several, and the error then lists them",
    )


class RunListQuery(Query):
    limit: query_whole(bounds.PAGE_SIZE) = Field(20, description="Page size")  # type: ignore[valid-type]
    offset: query_whole(bounds.OFFSET) = Field(0, description="Runs to skip")  # type: ignore[valid-type]
    status: one_of([s.value for s in RunStatus]) = Field(None, description="Only this status")  # type: ignore[valid-type]
    endpoint: text() = Field(None, description="Only this endpoint's measured runs")  # type: ignore[valid-type]
    source: one_of([s.value for s in RunSource]) = Field(None, description="Only simulated or measured runs")  # type: ignore[valid-type]


class RunRequest(Body):
    example = '{"samples_per_pair": 1000}'
    samples_per_pair: json_whole(bounds.SAMPLES_PER_PAIR) = Field(  # type: ignore[valid-type]
        None, description="default: SIMULATION_SAMPLES_PER_PAIR"
    )
    seed: json_whole(bounds.SEED) = Field(None, description="default: random")  # type: ignore[valid-type]
    concurrency: json_whole(bounds.CONCURRENCY) = Field(  # type: ignore[valid-type]
        None, description="Requests each LLM's deployment serves at once; default: SIMULATION_CONCURRENCY"
    )


class SloIn(Body):
    example = '{"ttft_ms": 1000, "itl_ms": 50}'
    ttft_ms: json_number(bounds.SLO_MS) = Field(None, description="A good request's TTFT is at most this")  # type: ignore[valid-type]
    itl_ms: json_number(bounds.SLO_MS) = Field(None, description="Its inter-token latency is at most this")  # type: ignore[valid-type]
    e2e_ms: json_number(bounds.SLO_MS) = Field(None, description="Its e2e latency is at most this")  # type: ignore[valid-type]
    attainment: json_number(bounds.ATTAINMENT) = Field(  # type: ignore[valid-type]
        0.95, description="The share of requests sent that must be good (0.95: the thresholds are p95s)"
    )

    def to_domain(self) -> Slo:
        return Slo(self.ttft_ms, self.itl_ms, self.e2e_ms, self.attainment)


class WorkloadIn(Body):
    example = '{"input_tokens": 512, "distribution": "normal", "spread": 64}'
    input_tokens: json_whole(bounds.INPUT_TOKENS) = Field(  # type: ignore[valid-type]
        description="Each prompt's length in tokens (cl100k_base), or the mean of the lengths drawn"
    )
    distribution: one_of(list(DISTRIBUTIONS)) = Field("fixed", description="How prompt lengths are drawn")  # type: ignore[valid-type]
    spread: json_whole(bounds.INPUT_SPREAD) = Field(0, description="normal: the standard deviation; uniform: +-")  # type: ignore[valid-type]
    shared_prefix_tokens: json_whole(bounds.INPUT_SPREAD) = Field(0, description="A prefix every prompt starts with")  # type: ignore[valid-type]
    seed: json_whole(bounds.SEED) = Field(0, description="The prompts' seed: the same workload, the same prompts")  # type: ignore[valid-type]

    def to_domain(self) -> Workload:
        return Workload(self.input_tokens, self.distribution, self.spread, self.shared_prefix_tokens, self.seed)


class PlanIn(Body):
    """What a measured run sends: its plan."""

    requests: json_whole(bounds.REQUESTS) = 50  # type: ignore[valid-type]
    concurrency: json_whole(bounds.STREAMS) = Field(1, description="Requests in flight at once")  # type: ignore[valid-type]
    rate: json_number(bounds.RATE) = Field(None, description="Poisson arrivals per second instead")  # type: ignore[valid-type]
    burstiness: json_number(bounds.BURSTINESS) = Field(  # type: ignore[valid-type]
        1.0, description="With a rate: gamma-distributed gaps of this shape (1: Poisson; below 1: bursts)"
    )
    warmup: json_whole(bounds.WARMUP) = Field(None, description="default: BENCHMARK_WARMUP_REQUESTS")  # type: ignore[valid-type]
    max_tokens: json_whole(bounds.MAX_TOKENS) = Field(None, description="default: BENCHMARK_MAX_TOKENS")  # type: ignore[valid-type]
    reuse_connections: json_bool() = Field(  # type: ignore[valid-type]
        True,
        description="Keep connections alive across requests; false: a fresh connection per request, whose "
        "TTFT includes its set-up (each request's timeline holds that part)",
    )
    slo: SloIn | None = Field(None, description="A service-level objective: the run reports its goodput and attainment")
    workload: WorkloadIn | None = Field(
        None, description="Prompts drawn to lengths in tokens; default: one fixed prompt"
    )
    force_output: json_bool() = Field(  # type: ignore[valid-type]
        False,
        description="Ask for exactly max_tokens (min_tokens, ignore_eos: vLLM and SGLang); mismatches are counted",
    )


class BenchmarkRequest(PlanIn):
    example = '{"endpoint": "gpt-4o", "requests": 50}'
    endpoint: text() = Field(description="The endpoint's name (see /endpoints)")  # type: ignore[valid-type]


class CampaignRequest(PlanIn):
    example = '{"endpoints": ["openai-gpt-4o", "azure-gpt-4o"], "requests": 20}'
    endpoints: list[text()] = Field(  # type: ignore[valid-type]
        description=f"The endpoints' names ({bounds.CAMPAIGN_ENDPOINTS.range}), each sent the same prompts alongside "
        "the others'; concurrency is each one's"
    )


LOAD = bounds.Bound(0, max(bounds.STREAMS.high, bounds.RATE.high), open_below=True)  # either kind's; checked per kind


MAX_TOKENS_FIELDS = [field.value for field in MaxTokensField]
STREAM_USAGE = (
    "Whether requests ask for token usage in the stream (stream_options.include_usage); false for an API "
    "that refuses fields it does not know: the tokenizer then counts the tokens"
)


class EndpointIn(Body):
    example = ('{"name": "openai-gpt-4o", "llm": "GPT-4o", "base_url": "https://api.openai.com/v1", '
               '"model": "gpt-4o", "api_key_env": "OPENAI_API_KEY"}')  # fmt: skip
    name: text() = Field(description="Its name in plans, rankings and pages")  # type: ignore[valid-type]
    llm: text() = Field(description="The catalogue LLM it serves (see /llms)")  # type: ignore[valid-type]
    base_url: text(500) = Field(  # type: ignore[valid-type]
        description="http(s), no credentials; public, or in ENDPOINT_ALLOWED_NETWORKS; never link-local"
    )
    model: text(200) = Field(description="The model id the API expects")  # type: ignore[valid-type]
    api_key_env: text() | None = Field(  # type: ignore[valid-type]
        None, description="The environment variable holding its key (NAME_API_KEY, or one of ENDPOINT_KEY_VARIABLES)"
    )
    max_tokens_field: one_of(MAX_TOKENS_FIELDS) = Field(  # type: ignore[valid-type]
        Endpoint.max_tokens_field.value,
        description="The body field its API reads the output limit from: max_completion_tokens for OpenAI's "
        "reasoning models, which refuse max_tokens",
    )
    stream_usage: json_bool() = Field(Endpoint.stream_usage, description=STREAM_USAGE)  # type: ignore[valid-type]


class EndpointChange(Body):
    example = '{"model": "gpt-4o-2024-08-06"}'
    base_url: text(500) = None  # type: ignore[valid-type]
    model: text(200) = None  # type: ignore[valid-type]
    api_key_env: text() | None = Field(None, description="null: no key")  # type: ignore[valid-type]
    max_tokens_field: one_of(MAX_TOKENS_FIELDS) = None  # type: ignore[valid-type]
    stream_usage: json_bool() = None  # type: ignore[valid-type]

    def changes(self) -> dict[str, Any]:
        """The fields given (an api_key_env of null included: the endpoint then sends no key)."""
        return {name: getattr(self, name) for name in self.model_fields_set}


class SweepRequest(BenchmarkRequest):
    example = '{"endpoint": "gpt-4o", "requests": 200, "load": "concurrency", "up_to": 64}'
    load: one_of([load.value for load in SweepLoad]) = Field(  # type: ignore[valid-type]
        SweepLoad.CONCURRENCY.value, description="What the stages raise: requests in flight, or arrivals per second"
    )
    loads: list[json_number(LOAD)] | None = Field(  # type: ignore[valid-type]
        None, description="The stages' loads, rising; or give up_to"
    )
    start: json_number(LOAD) = Field(1.0, description="With up_to: the first stage's load")  # type: ignore[valid-type]
    up_to: json_number(LOAD) = Field(  # type: ignore[valid-type]
        None, description="Doubling from start while at most this: 1, 2, 4, ... (instead of loads)"
    )
    min_gain: json_number(bounds.MIN_GAIN) = Field(  # type: ignore[valid-type]
        0.05, description="Stop once a stage's output throughput rises less than this share over the best before"
    )
    max_error_rate: json_number(bounds.MAX_ERROR_RATE) = Field(  # type: ignore[valid-type]
        0.05, description="Stop once more than this share of a stage's requests fail"
    )

    def stage_loads(self) -> list[float]:
        if (self.loads is None) == (self.up_to is None):
            raise InvalidParameter("give loads (a rising list) or up_to (doubling from start), one of them",
                                   parameter="loads", choices=["loads", "up_to"])  # fmt: skip
        return self.loads if self.loads is not None else doubling(self.start, self.up_to)


# ---------------------------------------------------------------------------------------------
# Responses.


def timestamp(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


Timestamp = Annotated[
    datetime, PlainSerializer(timestamp, return_type=str), WithJsonSchema({"type": "string", "format": "date-time"})
]


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class RunOut(Out):
    id: int
    status: RunStatus
    source: RunSource
    seed: int
    samples_per_pair: int | None = Field(description="Simulated runs: samples per LLM and metric")
    requests: int | None = Field(description="Measured runs: requests in the plan, warm-ups aside")
    sample_count: int
    slot: str | None = Field(description="The schedule tick that made it, if any")
    created_at: Timestamp
    started_at: Timestamp | None
    finished_at: Timestamp | None
    error: str | None
    endpoint_id: int | None = Field(description="Measured runs: the endpoint measured")
    details: dict[str, Any] | None = Field(
        description="Simulated runs: the load (concurrency); measured runs: plan, load, errors, overhead, tokens"
    )
    requested_by: str | None = Field(description="key:<id>, bootstrap, schedule or cli")
    sweep_id: int | None = Field(description="Measured runs: the sweep it is a stage of, if any")
    campaign_id: int | None = Field(description="Measured runs: the campaign it is one endpoint's part of, if any")
    invalid: str | None = Field(
        description="Why its measurements cannot be trusted (a measured run whose client was the bottleneck): "
        "rankings of the latest run and of windows leave it out; rank it alone with run_id"
    )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def duration_seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


class RequestRecord(Out):
    """One measured request as it happened: a line of GET /runs/{run_id}/requests (JSON Lines).
    Seconds on the client's monotonic clock; every time but sent_s is from the request's own start."""

    model_config = ConfigDict(extra="forbid")
    request: int = Field(description="Its place in the order the run's measured requests were sent, from 0")
    sent_s: float = Field(description="When it was sent, from the start of the run's measured requests")
    connect_s: float = Field(description="Connection set-up (TCP, TLS) inside it; 0 on a connection kept alive")
    headers_s: float | None = Field(description="The response's status and headers")
    first_chunk_s: float | None = Field(description="The first streamed event, whatever it carried")
    first_reasoning_s: float | None = Field(description="The first reasoning token, where the API streams them")
    first_token_s: float | None = Field(description="The first content token: this request's TTFT")
    end_s: float = Field(description="The end of the stream ([DONE]), or when it failed")
    chunks: list[tuple[float, int | None, int | None]] = Field(
        description="[arrival, content tokens, reasoning tokens] of each event that carried text (by the tokenizer)"
    )
    output_tokens: int | None = Field(description="From the usage report, else counted by the tokenizer")
    tokenizer_tokens: int | None = Field(description="The reply's content tokens by the tokenizer (cl100k_base)")
    prompt_tokens: int | None = Field(description="The prompt's length by the tokenizer, as the client sent it")
    input_tokens: int | None = Field(description="From the usage report")
    tokens_from_usage: bool
    usage: dict[str, Any] | None = Field(description="The API's usage report, as it sent it")
    finish_reason: str | None = Field(description="Why the reply ended, as the API said: stop, length, ...")
    error: str | None = Field(
        description="http_429, http_5xx, http_4xx, http_3xx (a redirect, never followed), http_2xx (not 200), "
        "timeout, connection, broken_stream or stream_error"
    )
    error_detail: str | None = Field(
        None, description="What the server said: the status and its body's start, or the stream's error message"
    )
    client_overhead_s: float = Field(description="Time the client spent in its own parsing, not waiting")


class RunEnvelope(Out):
    run: RunOut

    @classmethod
    def of(cls, run: Run) -> RunEnvelope:
        return cls(run=RunOut.model_validate(run))


class RunList(Out):
    runs: list[RunOut]
    total: int
    limit: int
    offset: int


class StageOut(Out):
    """One stage of a sweep: its load and what its run measured (null: not measured)."""

    load: float
    run_id: int
    status: RunStatus
    invalid: str | None = Field(description="Why its figures are its client's, not the endpoint's")
    error: str | None
    requests_sent: int
    failed_requests: int
    output_tokens_per_second: float | None
    requests_per_second: float | None
    mean_in_flight: float | None = Field(
        description="The requests in flight on average: the concurrency its run held (null: not reported)"
    )
    arrivals_held_back: int | None = Field(
        description="At a rate: arrivals that found the plan's concurrency in flight and waited (null: back to back)"
    )
    ttft_p50_ms: float | None
    ttft_p99_ms: float | None
    itl_p50_ms: float | None
    e2e_p50_ms: float | None
    slo_met: bool | None = Field(description="Whether its run met the plan's SLO (null: no SLO asked)")
    power: float | None = Field(description="Output tokens/s per second of median e2e latency: highest at the knee")


class SweepOut(Out):
    id: int
    endpoint: str
    status: RunStatus
    load: SweepLoad
    loads: list[float] = Field(description="The loads it may run, in order; it stops early when saturated")
    plan: dict[str, Any] = Field(description="Each stage's plan but its load")
    min_gain: float
    max_error_rate: float
    created_at: Timestamp
    finished_at: Timestamp | None
    requested_by: str | None
    stop_reason: str | None = Field(description="Why it ended: what it found, or why it failed")
    stages: list[StageOut]
    knee: StageOut | None = Field(description="The stage of the most throughput per second of median latency")
    largest_load_meeting_slo: float | None = Field(description="The highest load of a trusted stage that met the SLO")


class SweepEnvelope(Out):
    sweep: SweepOut

    @classmethod
    def of(cls, report: SweepReport) -> SweepEnvelope:
        fields = asdict(report.sweep) | {"endpoint": report.endpoint, "stages": report.stages, "knee": report.knee,
                                         "largest_load_meeting_slo": report.largest_load_meeting_slo}  # fmt: skip
        return cls(sweep=SweepOut.model_validate(fields))


class LLMOut(Out):
    name: str
    vendor: str
    family: str | None = None
    size: str | None = None


class LLMIn(Body):
    example = '{"name": "Qwen 2.5 72B", "vendor": "Alibaba", "family": "Qwen 2.5", "size": "72B"}'
    name: text() = Field(description="Its name in the catalogue, rankings and pages")  # type: ignore[valid-type]
    vendor: text()  # type: ignore[valid-type]
    family: text() | None = None  # type: ignore[valid-type]
    size: text(40) | None = Field(None, description="e.g. 72B")  # type: ignore[valid-type]


class LLMEnvelope(Out):
    llm: LLMOut


class LLMList(Out):
    llms: list[LLMOut]


class MetricOut(Out):
    name: str
    description: str
    unit: str
    direction: Direction
    lower_bound: float
    upper_bound: float
    quantiles: dict[str, float] = Field(
        description="The quantile of the raw values each statistic reads: tails are the slow tail, so on a "
        "higher-is-better metric p99 is the 1st percentile"
    )

    @model_validator(mode="before")
    @classmethod
    def read_quantiles(cls, metric: object) -> object:
        if isinstance(metric, Metric):
            quantiles = {str(s): metric.raw_quantile(s.tail) for s in Statistic if s.tail is not None}
            return {**{f: getattr(metric, f) for f in cls.model_fields if f != "quantiles"}, "quantiles": quantiles}
        return metric


class MetricList(Out):
    metrics: list[MetricOut]


class EndpointOut(Out):
    id: int
    name: str
    llm: str = Field(description="The catalogue LLM it serves, as /llms names it")
    llm_id: int
    base_url: str | None = Field(description="admins only")
    model: str
    api_key_env: str | None = Field(description="admins only")
    max_tokens_field: str = Field(description="The body field its API reads the output limit from")
    stream_usage: bool = Field(description=STREAM_USAGE)
    created_at: Timestamp

    @classmethod
    def of(cls, endpoint: Endpoint, llm: str, with_address: bool) -> EndpointOut:
        """Its URL and the name of its key's variable only for admins (`with_address`)."""
        fields = {name: getattr(endpoint, name) for name in cls.model_fields if name != "llm"}
        shown = cls.model_validate(fields | {"llm": llm})
        return shown if with_address else shown.model_copy(update={"base_url": None, "api_key_env": None})


class EndpointList(Out):
    endpoints: list[EndpointOut]


class EndpointEnvelope(Out):
    endpoint: EndpointOut


class Health(Out):
    status: Literal["ok"] = "ok"


class Ready(Out):
    status: Literal["ready", "unavailable"]
    checks: dict[str, str] = Field(description="database and cache: ok, or what failed")
    failing: list[str] | None = Field(None, exclude_if=lambda failing: failing is None)


class Quota(Out):
    name: str
    limit: int
    used: int
    asked: int


class ErrorDetail(Out):
    status: int
    message: str
    choices: list[str] | None = Field(None, description="The valid values", exclude_if=lambda v: v is None)
    quota: Quota | None = Field(None, description="The quota a 429 is about", exclude_if=lambda v: v is None)


class Error(Out):
    error: ErrorDetail


NO_DATA = {  # why a ranking is empty, and what fills it
    RunSource.SIMULATED: "no completed run in this window yet: results will appear after the next simulation run",
    RunSource.MEASURED: "no completed measured run in this window yet: results will appear after an endpoint is "
    "benchmarked (POST /benchmarks, or on its schedule)",
}


class PlanOut(Out):
    key: str = Field(description="Pass it as plan= to rank under this plan")
    description: str
    runs: int = Field(description="Runs of this plan covered")


class Selection(Out):
    name: str = Field(description="The window, `run` for one run asked for by id, or `campaign`")
    runs: int
    first_finished_at: Timestamp | None
    last_finished_at: Timestamp | None
    plan: PlanOut | None = Field(None, description="Measured rankings: the one plan of every run covered")
    campaign_id: int | None = Field(None, description="Measured rankings of one campaign's runs")

    @classmethod
    def of(cls, selection: DataSelection) -> Selection:
        name = "campaign" if selection.campaign_id else str(selection.window) if selection.window else "run"
        return cls(
            name=name,
            runs=selection.runs,
            first_finished_at=selection.first_finished_at,
            last_finished_at=selection.last_finished_at,
            plan=PlanOut.model_validate(selection.plan) if selection.plan else None,
            campaign_id=selection.campaign_id,
        )


SIMULATED_BASIS = (
    "simulated runs: this ranks the catalogue's assumed latency profiles (sources in catalogue.json), "
    "not measured endpoints"
)
MEASURED_BASIS = "measured runs: requests sent to real endpoints"


def covering(selection: DataSelection | None, source: RunSource) -> dict[str, Any]:
    """What a ranking covers: its source and what that means, its window of runs, and the run when it is one."""
    basis = {"source": source, "basis": SIMULATED_BASIS if source is RunSource.SIMULATED else MEASURED_BASIS}
    if selection is None:
        return {**basis, "window": None, "run": None, "detail": NO_DATA[source]}
    run = RunOut.model_validate(selection.run) if selection.run else None
    return {**basis, "window": Selection.of(selection), "run": run}


Detail = Annotated[str | None, Field(description="Why there are no results", exclude_if=lambda v: v is None)]


class Interval(Out):
    low: float | None = Field(description="null: too few samples to bound this side")
    high: float | None = Field(description="null: too few samples to bound this side")
    sufficient: bool = Field(description="Both sides bounded at 95%; otherwise the rank is not a confident order")


class RankInterval(Out):
    low: int = Field(description="The best rank the data allow at 95%")
    high: int = Field(description="The worst rank the data allow at 95%")


Endpoint_ = Annotated[
    str | None, Field(description="Ranked by endpoint: the endpoint (llm is its LLM)", exclude_if=lambda v: v is None)
]


class RankingResult(Out):
    rank: int
    rank95: RankInterval = Field(description="From pairwise tests of every pair, Holm-corrected at 5%")
    llm: str
    endpoint: Endpoint_ = None
    vendor: str
    value: float
    ci95: Interval
    resolution: float = Field(
        description="Relative accuracy of value and ci95 apart from sampling: 0 when computed from raw values, "
        "0.01 when read from merged sketches (windows)"
    )
    statistically_tied: bool = Field(description="Not told apart from another subject at 5% (Holm over every pair)")
    tied_with: list[str] = Field(description="The LLMs (or endpoints) it is not told apart from")
    mean_value: float
    median: float
    p90: float
    p95: float
    p99: float
    std: float
    min: float
    max: float
    n: int

    @classmethod
    def of(cls, entry: RankingEntry, statistic: Statistic) -> RankingResult:
        s = entry.statistics
        low, high = entry.rank_interval
        return cls(rank=entry.rank, rank95=RankInterval(low=low, high=high), llm=entry.subject.llm.name,
                   endpoint=entry.subject.endpoint, vendor=entry.subject.llm.vendor, value=entry.value,
                   ci95=Interval(low=entry.interval.low, high=entry.interval.high,
                                 sufficient=entry.interval.sufficient),
                   resolution=s.resolution(statistic), statistically_tied=bool(entry.tied_with),
                   tied_with=list(entry.tied_with), mean_value=s.mean, median=s.p50, p90=s.p90, p95=s.p95,
                   p99=s.p99, std=s.std, min=s.minimum, max=s.maximum, n=s.n)  # fmt: skip


class MetricRankingOut(Out):
    metric: MetricOut
    statistic: Statistic
    source: RunSource
    basis: str = Field(description="What the ranking ranks: simulated runs rank the catalogue's assumptions")
    window: Selection | None
    run: RunOut | None
    detail: Detail = None
    results: list[RankingResult]

    @classmethod
    def of(cls, ranking: MetricRanking) -> MetricRankingOut:
        return cls(
            metric=MetricOut.model_validate(ranking.metric),
            statistic=ranking.statistic,
            results=[RankingResult.of(entry, ranking.statistic) for entry in ranking.entries],
            **covering(ranking.selection, ranking.source),
        )

    def csv(self) -> str:
        header = ["rank", "rank95_low", "rank95_high", "llm", "vendor", "value", "ci95_low", "ci95_high",
                  "ci95_sufficient", "resolution", "tied_with", "mean_value", "median", "p90", "p95", "p99", "std",
                  "min", "max", "n", "endpoint"]  # fmt: skip
        rows = [[r.rank, r.rank95.low, r.rank95.high, r.llm, r.vendor, r.value, r.ci95.low, r.ci95.high,
                 r.ci95.sufficient, r.resolution, ";".join(r.tied_with), r.mean_value, r.median, r.p90, r.p95,
                 r.p99, r.std, r.min, r.max, r.n, r.endpoint or ""] for r in self.results]  # fmt: skip
        return csv_text(header, rows)


class Standing(Out):
    value: float
    rank: int
    score: float


class ScoreInterval(Out):
    low: float
    high: float


class OverallResult(Out):
    rank: int
    rank95: RankInterval = Field(description="The 95% interval of its rank, from the bootstrap of the scores")
    llm: str
    endpoint: Endpoint_ = None
    vendor: str
    score: float = Field(ge=0, le=1, description="The weighted mean of its win rates")
    score95: ScoreInterval = Field(description="Parametric bootstrap from each value's 95% interval")
    mean_value: float = Field(description="The score, under the original's field name")
    metrics: dict[str, Standing]

    @classmethod
    def of(cls, entry: OverallEntry) -> OverallResult:
        return cls(
            rank=entry.rank,
            rank95=RankInterval(low=entry.rank_interval[0], high=entry.rank_interval[1]),
            llm=entry.subject.llm.name,
            endpoint=entry.subject.endpoint,
            vendor=entry.subject.llm.vendor,
            score=entry.score,
            score95=ScoreInterval(low=entry.score_interval[0], high=entry.score_interval[1]),
            mean_value=entry.score,
            metrics={name: Standing.model_validate(standing) for name, standing in entry.by_metric.items()},
        )


class OverallRankingOut(Out):
    method: str
    statistic: Statistic
    weights: dict[str, float]
    source: RunSource
    basis: str = Field(description="What the ranking ranks: simulated runs rank the catalogue's assumptions")
    window: Selection | None
    run: RunOut | None
    detail: Detail = None
    results: list[OverallResult]

    @classmethod
    def of(cls, ranking: OverallRanking) -> OverallRankingOut:
        return cls(
            method=ranking.method,
            statistic=ranking.statistic,
            weights=ranking.weights,
            results=[OverallResult.of(entry) for entry in ranking.entries],
            **covering(ranking.selection, ranking.source),
        )

    def csv(self) -> str:
        metrics = list(self.results[0].metrics) if self.results else []
        header = ["rank", "rank95_low", "rank95_high", "llm", "vendor", "score", "score95_low", "score95_high"]
        for name in metrics:
            header += [f"{name}_value", f"{name}_rank", f"{name}_score"]
        header.append("endpoint")
        rows = []
        for result in self.results:
            row: list[Any] = [result.rank, result.rank95.low, result.rank95.high, result.llm, result.vendor,
                              result.score, result.score95.low, result.score95.high]  # fmt: skip
            for name in metrics:
                standing = result.metrics[name]
                row += [standing.value, standing.rank, standing.score]
            rows.append([*row, result.endpoint or ""])
        return csv_text(header, rows)


class Point(Out):
    run_id: int
    finished_at: Timestamp
    value: float


class Series(Out):
    llm: str
    endpoint: str | None = Field(
        description="Measured runs: the endpoint whose runs these are (a series each); "
        "null for simulated runs (a series an LLM)"
    )
    points: list[Point]


class HistoryOut(Out):
    metric: MetricOut
    statistic: Statistic
    window: Window
    series: list[Series] = Field(description="One per LLM (simulated) or endpoint (measured), oldest point first")
    plan: PlanOut | None = Field(description="Measured history: the one plan of every run in it")

    @classmethod
    def of(cls, history: MetricHistory) -> HistoryOut:
        return cls(
            metric=MetricOut.model_validate(history.metric),
            statistic=history.statistic,
            window=history.window,
            series=[
                Series(llm=s.llm.name, endpoint=s.endpoint, points=[Point.model_validate(p) for p in points])
                for s, points in history.series.items()
            ],
            plan=PlanOut.model_validate(history.plan) if history.plan else None,
        )

    def csv(self) -> str:
        # The endpoint last, as in rankings: scripts reading the first four columns are unaffected.
        rows = [[p.run_id, timestamp(p.finished_at), s.llm, p.value, s.endpoint or ""] for s in self.series
                for p in s.points]  # fmt: skip
        return csv_text(["run_id", "finished_at", "llm", "value", "endpoint"], rows)


def csv_text(header: list[str], rows: list[list[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


class CampaignRunOut(Out):
    endpoint: str
    run: RunOut


class CampaignOut(Out):
    id: int
    status: RunStatus = Field(description="Its runs': finished when every one is, completed if any completed")
    created_at: Timestamp
    requested_by: str | None
    runs: list[CampaignRunOut] = Field(description="One measured run per endpoint, in the order asked")
    ranking: OverallRankingOut | None = Field(
        description="Once finished: its endpoints ranked on every metric's median (ranked by one metric: "
        "/metrics/?campaign_id=...&group_by=endpoint)"
    )


class CampaignEnvelope(Out):
    campaign: CampaignOut

    @classmethod
    def of(cls, report: CampaignReport, ranking: OverallRanking | None) -> CampaignEnvelope:
        runs = [CampaignRunOut(endpoint=name, run=RunOut.model_validate(run))
                for name, run in zip(report.endpoints, report.runs, strict=True)]  # fmt: skip
        return cls(campaign=CampaignOut(
            id=report.campaign.id or 0, status=report.status, created_at=report.campaign.created_at,
            requested_by=report.campaign.requested_by, runs=runs,
            ranking=OverallRankingOut.of(ranking) if ranking else None,
        ))  # fmt: skip


class EstimateOut(Out):
    value: float
    ci95: Interval

    @classmethod
    def of(cls, estimated: Estimated) -> EstimateOut:
        low, high = estimated.interval.low, estimated.interval.high
        return cls(value=estimated.value, ci95=Interval(low=low, high=high, sufficient=estimated.interval.sufficient))


class ChangeOut(Out):
    changed: bool = Field(
        description="The runs' permutation test rejects at 1% (Bonferroni over the 4 watched) and it moved 10% at least"
    )
    worse: bool = Field(description="It moved the wrong way")
    relative: float = Field(description="The latest runs' geometric mean of the statistic over the baseline's, less 1")
    p_value: float
    baseline: EstimateOut


class LatencyOut(Out):
    quantiles: dict[str, EstimateOut] = Field(description="median, p90, p95, p99 over the latest window (seconds)")
    changes: dict[str, ChangeOut] = Field(description="Against the baseline, of the median and p90; empty without one")


class SloOut(Out):
    attainment: float = Field(description="Requests that met the SLO over those sent, in the latest window")
    ci95: Interval = Field(description="Runs as clusters; open with fewer than 2 runs")
    target: float
    requests: int


class EndpointStatusOut(Out):
    endpoint: str
    llm: str
    plan: PlanOut = Field(description="The plan of its newest run: only its runs of that plan are read")
    runs: int = Field(description="Valid runs in the latest window")
    baseline_runs: int = Field(description="Valid runs in the baseline before it")
    last_finished_at: Timestamp
    changed: bool = Field(description="Any watched statistic changed")
    ttft: LatencyOut
    itl: LatencyOut = Field(description="Inter-token latency per request, (e2e - TTFT) / (n - 1)")
    output_tokens_per_second: float = Field(description="The mean of its runs' output throughput")
    requests: int
    error_rates: dict[str, float] = Field(description="Failed requests by kind, over those sent")
    slo: SloOut | None = Field(description="When its plan has an SLO")

    @classmethod
    def of(cls, status: EndpointStatus) -> EndpointStatusOut:
        ttft, itl = (cls._latency(latency) for latency in status.latencies)
        slo = status.slo
        return cls(
            endpoint=status.endpoint.name, llm=status.llm.name, plan=PlanOut.model_validate(status.plan),
            runs=status.runs, baseline_runs=status.baseline_runs, last_finished_at=status.last_finished_at,
            changed=status.changed, ttft=ttft, itl=itl, output_tokens_per_second=status.output_tokens_per_second,
            requests=status.requests, error_rates=status.error_rates,
            slo=SloOut(attainment=slo.attainment, target=slo.target, requests=slo.requests,
                       ci95=Interval(low=slo.interval.low, high=slo.interval.high, sufficient=slo.interval.sufficient))
            if slo else None,
        )  # fmt: skip

    @staticmethod
    def _latency(latency: LatencyStatus) -> LatencyOut:
        return LatencyOut(
            quantiles={str(s): EstimateOut.of(e) for s, e in latency.quantiles.items()},
            changes={str(s): ChangeOut(changed=c.changed, worse=c.worse, relative=c.relative, p_value=c.p_value,
                                       baseline=EstimateOut.of(c.baseline)) for s, c in latency.changes.items()},
        )  # fmt: skip


class FailingOut(Out):
    endpoint: str
    llm: str
    run_id: int = Field(description="Its newest finished run")
    finished_at: Timestamp
    reason: str = Field(description="Why it failed (what the endpoint said), or why it was left out")
    client_bound: bool = Field(
        description="It completed but was left out: Jounce's client, not the endpoint, was the bottleneck"
    )

    @classmethod
    def of(cls, newest: NewestRuns) -> FailingOut:
        run = newest.finished
        return cls(endpoint=newest.endpoint.name, llm=newest.llm.name, run_id=run.id, finished_at=run.finished_at,
                   reason=run.error or run.invalid or "", client_bound=newest.client_bound)  # fmt: skip


class EndpointStatusList(Out):
    window_hours: float
    baseline_hours: float
    endpoints: list[EndpointStatusOut]
    failing: list[FailingOut] = Field(
        description="Endpoints whose newest run failed or was left out of its results, however long ago"
    )
