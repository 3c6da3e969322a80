"""Measured runs: real requests to OpenAI-compatible endpoints, stored like simulated runs.

Each request streams a chat completion, timed on the monotonic clock (what each figure means:
services/measures.py). Warm-up requests are sent first and left out; errors are counted by kind
and never become samples; every measured request's record is kept with the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import re
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from injector import inject

from src.application.domain import bounds
from src.application.domain.errors import Conflict, InvalidParameter, NotFound
from src.application.domain.model import (
    COMMAND_LINE,
    Caller,
    Endpoint,
    MaxTokensField,
    MetricSummary,
    Role,
    Run,
    RunSource,
    RunStatus,
)
from src.application.ports.cache import AbstractCache
from src.application.ports.clock import Clock
from src.application.ports.llm_client import (
    AbstractChatStreams,
    AbstractLLMClient,
    AbstractResolver,
    AbstractSecrets,
    AbstractTokenizer,
    ChatRequest,
    RequestOutcome,
)
from src.application.ports.task_queue import AbstractTaskQueue
from src.application.ports.telemetry import AbstractTelemetry
from src.application.ports.unit_of_work import AbstractUnitOfWork
from src.application.services import measures, timelines
from src.application.services.addresses import Network, check_addresses, networks, url_host
from src.application.services.load import Driven, LoadShape, Watched, drive, on_own_loop, watched
from src.application.services.measures import (
    ClientLimits,
    Slo,
    arrivals_held_back,
    count_tokens,
    measurement_details,
    self_check,
    slo_report,
    worst_check,
)
from src.application.services.plans import prompts_digest
from src.application.services.shards import START_SPREAD_S, WHOLE, Shard, ShardResult, merge
from src.application.services.workloads import FOR_MEASURING, FOR_WARM_UP, Workload
from src.application.use_cases.quotas import Quotas, Work, benchmark_work
from src.application.use_cases.run_lifecycle import Completed, Failed, RunLifecycle, described, store_pair

DEFAULT_PROMPT = (
    "Explain, in about three hundred words, how a hash table resolves collisions, "
    "and compare separate chaining with open addressing."
)
KEY_VARIABLE = re.compile(r"^[A-Z][A-Z0-9_]{0,91}_API_KEY$")
# An endpoint's fields that can change; its name and LLM stay.
CHANGEABLE = ("base_url", "model", "api_key_env", "max_tokens_field", "stream_usage")


@dataclass(frozen=True)
class BenchmarkSettings:
    prompt: str = DEFAULT_PROMPT
    max_tokens: int = 256
    timeout_s: float = 60.0
    warmup: int = 2
    max_duration_s: float = 600.0  # a run sends nothing new after this long
    client_limits: ClientLimits = field(default_factory=ClientLimits)
    # A run with more requests in flight is split across workers (make benchmark-measurement
    # gives a worker's ceiling), its shards starting together this long after it is handed over.
    streams_per_worker: int = 400
    shard_start_delay_s: float = 5.0
    # Where endpoints may be (services/addresses.py): loopback by default, for a local server.
    allowed_networks: tuple[Network, ...] = networks(["127.0.0.0/8", "::1/128"])
    # The environment variables an endpoint may take its key from; None: any NAME_API_KEY but the
    # service's own API_KEY (never SECRET_KEY, DATABASE_URL, ...).
    key_variables: tuple[str, ...] | None = None


@dataclass(frozen=True)
class BenchmarkPlan:
    """What a measured run sends: validated before the run is queued."""

    requests: int
    concurrency: int = 1
    rate: float | None = None
    burstiness: float = 1.0  # with a rate: the gamma shape of the gaps (1: Poisson; below 1: bursts)
    warmup: int = 2
    max_tokens: int = 256
    # Kept-alive connections (as SDKs and serving clients keep them), or a fresh one per request,
    # whose TTFT then includes its TCP and TLS set-up (each request's timeline holds that part).
    reuse_connections: bool = True
    slo: Slo | None = None
    workload: Workload | None = None  # None: the settings' one prompt for every request
    prompts: tuple[str, ...] = ()  # given prompts (a JSONL file's), sent in turn; not with a workload
    force_output: bool = False  # ask for exactly max_tokens (min_tokens, ignore_eos); mismatches are counted

    @classmethod
    def of(cls, stored: dict[str, Any], prompts: tuple[str, ...] = ()) -> BenchmarkPlan:
        """The plan as a run's details hold it, with the given prompts it names."""
        given = {name: value for name, value in stored.items() if name not in ("load", "prompt_tokens")}
        return cls(**_with_values(given) | {"prompts": prompts})

    def stored(self) -> dict[str, Any]:
        """The plan as a run's details keep it: given prompts by their digest and count (kept inline,
        a 5 MB prompt file made every answer that shows the run 5 MB)."""
        fields = asdict(self) | {"prompts": []}
        if self.prompts:
            fields["prompts"] = {"sha256": prompts_digest(self.prompts), "count": len(self.prompts)}
        return fields

    def __post_init__(self) -> None:
        bounds.REQUESTS.check("requests", self.requests)
        bounds.STREAMS.check("concurrency", self.concurrency)
        bounds.WARMUP.check("warmup", self.warmup)
        bounds.MAX_TOKENS.check("max_tokens", self.max_tokens)
        if self.rate is not None:
            bounds.RATE.check("rate", self.rate)
        bounds.BURSTINESS.check("burstiness", self.burstiness)
        if self.prompts:
            bounds.PROMPTS.check("prompts", len(self.prompts))
            bounds.PROMPT_CHARS.check("the prompts' characters", sum(map(len, self.prompts)))
            if self.workload is not None:
                raise InvalidParameter("give prompts or a workload, not both", parameter="prompts")
        if self.burstiness != 1.0 and self.rate is None:
            raise InvalidParameter("burstiness shapes arrivals at a rate: give a rate too", parameter="burstiness")

    @property
    def shape(self) -> LoadShape:
        return LoadShape(self.concurrency, self.rate, self.burstiness)

    def work(self, prompt_tokens: int) -> Work:
        """What a run of this plan costs its caller's quotas, its prompts holding `prompt_tokens`."""
        return benchmark_work(self.requests, self.warmup, self.max_tokens, prompt_tokens)

    def part(self, shard: Shard) -> BenchmarkPlan:
        """What one shard of the run sends: its share of the requests, streams and warm-ups, and of
        the arrival rate."""
        return replace(
            self,
            requests=shard.share(self.requests),
            concurrency=max(1, shard.share(self.concurrency)),
            warmup=shard.share(self.warmup),
            rate=None if self.rate is None else self.rate / shard.count,
        )


def checked_plan(
    settings: BenchmarkSettings,
    requests: int,
    *,
    concurrency: int = 1,
    rate: float | None = None,
    warmup: int | None = None,
    max_tokens: int | None = None,
    reuse_connections: bool = True,
    slo: Slo | None = None,
    burstiness: float = 1.0,
    workload: Workload | None = None,
    force_output: bool = False,
    prompts: tuple[str, ...] = (),
) -> BenchmarkPlan:
    """A checked plan; warm-up and output length default to the settings. A plan whose arrivals
    alone would last longer than the duration cap is refused."""
    plan = BenchmarkPlan(
        requests=requests,
        concurrency=concurrency,
        rate=rate,
        burstiness=burstiness,
        warmup=settings.warmup if warmup is None else warmup,
        max_tokens=max_tokens or settings.max_tokens,
        reuse_connections=reuse_connections,
        slo=slo,
        workload=workload,
        force_output=force_output,
        prompts=prompts,
    )
    cap = settings.max_duration_s
    if rate is not None and requests / rate > cap:
        raise InvalidParameter(
            f"{requests} requests at {rate} per second take about {requests / rate:,.0f} s; "
            f"a run may last at most {cap:,.0f} s (BENCHMARK_MAX_DURATION_SECONDS)"
        )
    return plan


def _with_values(fields: dict[str, Any]) -> dict[str, Any]:
    """Plain fields of a plan with its SLO and workload made values (a stored plan's, a schedule's)."""
    slo, workload = fields.get("slo"), fields.get("workload")
    return fields | {"slo": Slo(**slo) if slo else None, "workload": Workload(**workload) if workload else None}


PLAN_FIELDS = ("requests", "concurrency", "rate", "burstiness", "warmup", "max_tokens", "reuse_connections", "slo",
               "workload", "force_output")  # fmt: skip


def plan_from(fields: dict[str, Any], settings: BenchmarkSettings) -> BenchmarkPlan:
    """A checked plan from plain values, as POST /benchmarks takes them (a schedule's plan)."""
    given = dict(fields)
    if unknown := sorted(set(given) - set(PLAN_FIELDS)):
        raise InvalidParameter(f"unknown plan field {unknown[0]!r}", choices=list(PLAN_FIELDS))
    try:
        return checked_plan(settings, **_with_values(given))
    except TypeError as error:  # a field missing, unknown inside slo or workload, or of the wrong type
        raise InvalidParameter(f"the plan does not fit: {error}", choices=list(PLAN_FIELDS)) from None


Target = tuple[Run, Endpoint, BenchmarkPlan, ChatRequest]  # a run to measure, where, what and how to send


class BenchmarkUseCases:
    @inject
    def __init__(
        self,
        uow: AbstractUnitOfWork,
        client: AbstractLLMClient,
        tokenizer: AbstractTokenizer,
        secrets: AbstractSecrets,
        resolver: AbstractResolver,
        task_queue: AbstractTaskQueue,
        cache: AbstractCache,
        clock: Clock,
        settings: BenchmarkSettings,
        telemetry: AbstractTelemetry,
        quotas: Quotas,
    ):
        self.uow = uow
        self.client = client
        self.tokenizer = tokenizer
        self.secrets = secrets
        self.resolver = resolver
        self.task_queue = task_queue
        self.clock = clock
        self.settings = settings
        self.lifecycle = RunLifecycle(uow, cache, clock, telemetry, quotas)

    def add_endpoint(
        self,
        name: str,
        llm_name: str,
        base_url: str,
        model: str,
        api_key_env: str | None,
        caller: Caller = COMMAND_LINE,
        max_tokens_field: str = Endpoint.max_tokens_field,
        stream_usage: bool = Endpoint.stream_usage,
    ) -> Endpoint:
        caller.require(Role.ADMIN, "adding an endpoint")
        self._check_address(base_url)
        self._check_key_variable(api_key_env)
        field = _max_tokens_field(max_tokens_field)
        if not 1 <= len(name.strip()) <= 100:
            raise InvalidParameter("an endpoint needs a name of 1 to 100 characters", parameter="name")
        _check_model(model)
        with self.uow:
            llms = {llm.name: llm for llm in self.uow.catalogue.llms()}
            if llm_name not in llms:
                raise InvalidParameter(f"unknown LLM {llm_name!r}", choices=sorted(llms))
            llm_id = llms[llm_name].id
            assert llm_id is not None  # read from the store
            endpoint = Endpoint(
                name=name.strip(),
                llm_id=llm_id,
                base_url=base_url.rstrip("/"),
                model=model.strip(),
                api_key_env=api_key_env,
                created_at=self.clock.now(),
                max_tokens_field=field,
                stream_usage=stream_usage,
            )
            try:  # a taken name is found when it is added, or at the latest when committed
                self.uow.endpoints.add(endpoint)
                self.uow.commit()
            except Conflict:
                raise Conflict(f"an endpoint is already named {name!r}") from None
        return endpoint

    def change_endpoint(self, name: str, changes: dict[str, Any], caller: Caller = COMMAND_LINE) -> Endpoint:
        """Change an endpoint's base_url, model, api_key_env (None: no key), max_tokens_field or
        stream_usage; its runs keep theirs."""
        caller.require(Role.ADMIN, "changing an endpoint")
        if unknown := sorted(set(changes) - set(CHANGEABLE)):
            raise InvalidParameter(f"an endpoint's {unknown[0]} cannot be changed", choices=list(CHANGEABLE))
        if "model" in changes:
            _check_model(changes["model"])
        if "base_url" in changes:
            self._check_address(changes["base_url"])
            changes = changes | {"base_url": changes["base_url"].rstrip("/")}
        if "api_key_env" in changes:
            self._check_key_variable(changes["api_key_env"])
        if "max_tokens_field" in changes:
            changes = changes | {"max_tokens_field": _max_tokens_field(changes["max_tokens_field"])}
        with self.uow:
            endpoint = self._named(name)
            for field_name, value in changes.items():
                setattr(endpoint, field_name, value)
            self.uow.commit()
        return endpoint

    def remove_endpoint(self, name: str, caller: Caller = COMMAND_LINE) -> None:
        caller.require(Role.ADMIN, "removing an endpoint")
        with self.uow:
            endpoint = self._named(name)
            try:
                self.uow.endpoints.remove(endpoint)
                self.uow.commit()
            except Conflict:
                raise Conflict(f"endpoint {name!r} has measured runs or sweeps, which keep it") from None

    def _named(self, name: str) -> Endpoint:
        """The endpoint of that name, in the unit of work open now."""
        endpoint = self.uow.endpoints.get_by_name(name)
        if endpoint is None:
            names = [e.name for e in self.uow.endpoints.list()]
            raise NotFound(f"no endpoint is named {name[:100]!r}; known: {', '.join(names) or 'none'}")
        return endpoint

    def _check_address(self, base_url: str) -> None:
        host = url_host(base_url)
        check_addresses(host, self.resolver.addresses(host), self.settings.allowed_networks)

    def _check_key_variable(self, name: str | None) -> None:
        if name is None:
            return
        allowed = self.settings.key_variables
        if allowed is None:
            if not KEY_VARIABLE.match(name):  # API_KEY, the service's own, is not NAME_API_KEY
                message = ("api_key_env must name a variable such as OPENAI_API_KEY (NAME_API_KEY, not the "
                           f"service's own API_KEY), got {name[:100]!r}")  # fmt: skip
                raise InvalidParameter(message, parameter="api_key_env")
        elif name not in allowed:
            raise InvalidParameter(f"api_key_env {name[:100]!r} is not one of ENDPOINT_KEY_VARIABLES",
                                   choices=list(allowed), parameter="api_key_env")  # fmt: skip

    def plan(self, requests: int, **choices: Any) -> BenchmarkPlan:
        """A checked plan (see `checked_plan`)."""
        return checked_plan(self.settings, requests, **choices)

    def requests(self, run_id: int) -> list[dict[str, Any]]:
        """A measured run's requests as they happened (services/timelines.py), in the order sent."""
        with self.uow:
            run = self.uow.runs.get(run_id)
            if run is None:
                raise NotFound(f"run {run_id} does not exist")
            if run.source is not RunSource.MEASURED:
                raise NotFound(f"run {run_id} is simulated: only measured runs send requests")
            records = self.uow.timelines.get(run_id)
        if records is None:
            if run.status is not RunStatus.COMPLETED:
                raise Conflict(f"run {run_id} is {run.status}: requests are kept when a run completes")
            raise NotFound(f"run {run_id}'s requests are no longer kept (they go with its raw samples)")
        return records

    def endpoints(self) -> list[Endpoint]:
        with self.uow:
            return self.uow.endpoints.list()

    def endpoint(self, name: str) -> Endpoint:
        with self.uow:
            return self._named(name)

    def queue(
        self, endpoint_name: str, plan: BenchmarkPlan, caller: Caller = COMMAND_LINE, sweep_id: int | None = None
    ) -> Run:
        caller.require(Role.OPERATOR, "starting a measured run")
        prompt_tokens = self.prompt_tokens(plan)
        self.keep_prompts(plan)
        run = self.new_run(self.endpoint(endpoint_name), plan, caller, prompt_tokens, sweep_id=sweep_id)
        return self.lifecycle.add(run, caller, plan.work(prompt_tokens))

    def new_run(
        self, endpoint: Endpoint, plan: BenchmarkPlan, caller: Caller, prompt_tokens: int, seed: int | None = None,
        sweep_id: int | None = None, campaign_id: int | None = None,
    ) -> Run:  # fmt: skip
        """A measured run of the plan, not yet added; its seed times its arrivals (fresh when None)."""
        return Run(
            seed=bounds.fresh_seed() if seed is None else seed,
            created_at=self.clock.now(),
            source=RunSource.MEASURED,
            endpoint_id=endpoint.id,
            details={"plan": plan.stored() | {"load": plan.shape.describe(), "prompt_tokens": prompt_tokens}},
            requested_by=caller.identity,
            sweep_id=sweep_id,
            campaign_id=campaign_id,
        )

    def keep_prompts(self, plan: BenchmarkPlan) -> None:
        """Keeps the plan's given prompts, if any, before a run names them by their digest."""
        if plan.prompts:
            with self.uow:
                self.uow.prompt_sets.add(prompts_digest(plan.prompts), plan.prompts)
                self.uow.commit()

    def request(self, endpoint_name: str, plan: BenchmarkPlan, caller: Caller = COMMAND_LINE) -> Run:
        """Queue a measured run for the workers; a run that cannot be handed over is failed."""
        run = self.queue(endpoint_name, plan, caller)
        shards = self.shards(plan)
        if shards == 1:
            self.lifecycle.hand_over(run, self.task_queue.enqueue_benchmark)
            return run
        start_at = self.clock.now().timestamp() + self.settings.shard_start_delay_s
        self.lifecycle.hand_over(run, lambda run_id: self.task_queue.enqueue_benchmark_shards(run_id, shards, start_at))
        return run

    def shards(self, plan: BenchmarkPlan) -> int:
        """How many workers the plan's streams need (each shard sends one request at least)."""
        return min(plan.requests, math.ceil(plan.concurrency / self.settings.streams_per_worker))

    def execute(self, run_id: int, progress: Callable[[int, int], None] | None = None) -> Run:
        """Measure the run's endpoint and store the results; a finished run is returned as it is."""
        return self.measure_together([run_id], progress)[0]

    def measure_shard(self, run_id: int, shard: Shard, worker: str) -> ShardResult:
        """Send one shard's share of the run (services/shards.py) and hand back what it measured;
        the merge stores the run. A shard that cannot measure says why in its result."""
        run = self.lifecycle.start(run_id, RunSource.MEASURED)
        nothing = ShardResult(shard.index, worker, [], 0.0, 0.0, 0.0, [], [], 0.0)
        if run.is_finished:
            return replace(nothing, error=f"run {run_id} had already finished")
        endpoint, plan = self._target(run)
        request = self._chat_request(endpoint, plan)
        if isinstance(request, str):
            return replace(nothing, error=request)
        try:
            sent = on_own_loop(self._send([request], plan, run.seed, None, shard), self.client.new_event_loop)
        except Exception as error:  # the merge fails the run with the reason
            return replace(nothing, error=described(error)[:300])
        (driven,) = sent.driven
        return ShardResult(shard.index, worker, driven.outcomes, sent.origin, sent.origin_wall, driven.wall,
                           sent.lags, driven.lateness, sent.cpu_s, held=driven.held)  # fmt: skip

    def merge_shards(self, run_id: int, results: list[ShardResult]) -> Run:
        """One run of its shards' requests: stored, summarized and ranked as if one worker sent them."""
        return self.lifecycle.execute(run_id, RunSource.MEASURED, lambda run: self._merged(run, results))

    def _merged(self, run: Run, results: list[ShardResult]) -> Completed | Failed:
        results = sorted(results, key=lambda r: r.index)
        if failed := [r for r in results if r.error]:
            return Failed("; ".join(f"shard {r.index} ({r.worker}): {r.error}" for r in failed))
        endpoint, plan = self._target(run)
        merged = merge(results)
        limits = self.settings.client_limits
        checks = [self_check(r.lags, r.cpu_s, r.wall, r.lateness, limits) for r in results]
        checked = worst_check(checks, [f"shard {r.index} ({r.worker})" for r in results])
        if (spread := max(merged.starts) - min(merged.starts)) > START_SPREAD_S:
            checked["reasons"].append(f"its shards started {spread:.1f} s apart (more than {START_SPREAD_S:g} s)")
        shards = [
            {"index": r.index, "worker": r.worker, "requests_sent": len(r.outcomes), "started_s": start,
             "self_check": check}
            for r, start, check in zip(results, merged.starts, checks, strict=True)
        ]  # fmt: skip
        held = arrivals_held_back(plan.rate, sum(r.held for r in results))
        return self._result(run, endpoint, plan, merged.outcomes, merged.wall, 0.0, checked, {"shards": shards} | held)

    def measure_together(self, run_ids: list[int], progress: Callable[[int, int], None] | None = None) -> list[Run]:
        """Measure runs of one plan and seed (one run, or a campaign's) side by side in one time
        window, from one event loop (`_send`). The client's self-check is theirs together: it
        served them all. A run whose endpoint cannot be sent to fails alone; a fault of the client
        fails them all. Runs already finished are returned as they are."""
        targets: list[Target] = []
        for run_id in run_ids:
            run = self.lifecycle.start(run_id, RunSource.MEASURED)
            if run.is_finished:
                continue
            endpoint, plan = self._target(run)
            request = self._chat_request(endpoint, plan)
            if isinstance(request, str):
                self.fail([run_id], request)
            else:
                targets.append((run, endpoint, plan, request))
        if targets:
            self._measure_targets(targets, progress)
        with self.uow:
            return [found for run_id in run_ids if (found := self.uow.runs.get(run_id)) is not None]

    def _measure_targets(
        self,
        targets: list[tuple[Run, Endpoint, BenchmarkPlan, ChatRequest]],
        progress: Callable[[int, int], None] | None,
    ) -> None:
        first, _, plan, _ = targets[0]
        try:
            sending = self._send([request for *_, request in targets], plan, first.seed, progress)
            sent = on_own_loop(sending, self.client.new_event_loop)
        except Exception as error:
            self.fail([run.id for run, *_ in targets if run.id], described(error))
            raise
        wall = max(driven.wall for driven in sent.driven)
        lateness = [late for driven in sent.driven for late in driven.lateness]
        checked = self_check(sent.lags, sent.cpu_s, wall, lateness, self.settings.client_limits)
        for (run, endpoint, plan, _), driven in zip(targets, sent.driven, strict=True):
            assert run.id is not None
            self.lifecycle.execute(
                run.id, RunSource.MEASURED, self._storing(endpoint, plan, driven, sent.origin, checked)
            )

    def _storing(
        self, endpoint: Endpoint, plan: BenchmarkPlan, driven: Driven, origin: float, checked: dict[str, Any]
    ) -> Callable[[Run], Completed | Failed]:
        """The lifecycle's work for a run whose requests were sent: its result from them."""
        held = arrivals_held_back(plan.rate, driven.held)
        return lambda run: self._result(run, endpoint, plan, driven.outcomes, driven.wall, origin, checked, held)

    def fail(self, run_ids: list[int], reason: str) -> None:
        """Fail these runs for this reason (runs already finished are left as they are)."""
        for run_id in run_ids:
            self.lifecycle.execute(run_id, RunSource.MEASURED, lambda _: Failed(reason))

    def _target(self, run: Run) -> tuple[Endpoint, BenchmarkPlan]:
        assert run.endpoint_id is not None  # a measured run's
        with self.uow:
            endpoint = self.uow.endpoints.get(run.endpoint_id)
            named = run.plan.get("prompts")
            prompts = self.uow.prompt_sets.get(named["sha256"]) if named else ()
        assert endpoint is not None and prompts is not None  # prompts are kept before a run names them
        return endpoint, BenchmarkPlan.of(run.plan, prompts)

    def _result(
        self, run: Run, endpoint: Endpoint, plan: BenchmarkPlan, sent: list[RequestOutcome], wall: float,
        origin: float, checked: dict[str, Any], more: dict[str, Any] | None = None,
    ) -> Completed | Failed:  # fmt: skip
        """The run's results from the requests it sent: completed (its samples stored when the
        lifecycle completes it), or failed when no request succeeded."""
        outcomes = count_tokens(sent, self.tokenizer)
        details = measurement_details(outcomes, wall, self.tokenizer.name) | {
            "plan": run.plan,
            "not_sent_duration_cap": plan.requests - len(outcomes),
            "self_check": checked,
            **(more or {}),
        }
        if plan.slo is not None:
            details["slo"] = slo_report(outcomes, wall, plan.slo)
        succeeded = [o for o in outcomes if o.error is None]
        if plan.force_output:  # replies of another length than asked: the endpoint ignored the request
            details["output_length_mismatches"] = sum(o.output_tokens != plan.max_tokens for o in succeeded)
        if not succeeded:
            errors = ", ".join(f"{kind}: {count}" for kind, count in details["errors"].items())
            said = next(iter(details["first_errors"].values()), None)
            return Failed(f"no request succeeded ({errors})" + (f"; the first said: {said}" if said else ""), details)
        invalid = f"client-bound: {'; '.join(checked['reasons'])}" if checked["reasons"] else None
        store = lambda locked: self._store(locked, endpoint.llm_id, outcomes, origin, wall)  # noqa: E731
        return Completed(store, details, invalid)

    async def _send(
        self,
        targets: list[ChatRequest],
        plan: BenchmarkPlan,
        seed: int,
        progress: Callable[[int, int], None] | None,
        shard: Shard = WHOLE,
    ) -> Watched[list[Driven]]:
        """Send the plan (a shard's part of it) to each target side by side, from one event loop:
        the same prompts in the same order on the same arrival schedule, each target its own
        connections and its own requests in flight."""
        done = 0
        part = plan.part(shard)
        total = part.requests * len(targets)

        def on_done(_: RequestOutcome) -> None:
            nonlocal done
            done += 1
            if progress:
                progress(done, total)

        warmups = self._requests(targets, plan, FOR_WARM_UP, plan.warmup, shard)
        measured = self._requests(targets, plan, FOR_MEASURING, plan.requests, shard)
        async with contextlib.AsyncExitStack() as stack:
            pools = [
                await stack.enter_async_context(self.client.connect(plan.reuse_connections, part.concurrency))
                for _ in targets
            ]
            # Warm-ups open the connections and warm the server's caches, all at once: never measured.
            warming = LoadShape(part.concurrency)
            await asyncio.gather(
                *(drive(_sender(p, w), part.warmup, warming) for p, w in zip(pools, warmups, strict=True))
            )
            if shard.start_at is not None:  # the run's other shards start at the same moment
                await asyncio.sleep(max(0.0, shard.start_at - time.time()))
            max_s = self.settings.max_duration_s
            drives = [
                drive(_sender(p, m), part.requests, part.shape, seed + shard.index, on_done, max_s)
                for p, m in zip(pools, measured, strict=True)
            ]
            return await watched(asyncio.gather(*drives))

    def run_now(
        self, endpoint_name: str, plan: BenchmarkPlan, progress: Callable[[int, int], None] | None = None
    ) -> Run:
        run = self.queue(endpoint_name, plan)
        assert run.id is not None
        return self.execute(run.id, progress)

    def _chat_request(self, endpoint: Endpoint, plan: BenchmarkPlan) -> ChatRequest | str:
        """The request to send, or why it cannot be sent."""
        try:  # its host may have come to point somewhere it may not
            self._check_address(endpoint.base_url)
        except InvalidParameter as error:
            return str(error)
        api_key = None
        if endpoint.api_key_env:
            api_key = self.secrets.get(endpoint.api_key_env)
            if not api_key:
                return f"the environment variable {endpoint.api_key_env} (the endpoint's key) is not set"
        return ChatRequest(
            endpoint.base_url, endpoint.model, api_key, self.settings.prompt, plan.max_tokens, self.settings.timeout_s,
            max_tokens_field=endpoint.max_tokens_field, stream_usage=endpoint.stream_usage,
            force_output=plan.force_output,
        )  # fmt: skip

    def prompt_tokens(self, plan: BenchmarkPlan) -> int:
        """The tokens of every prompt the plan sends, warm-ups' too: they cost as replies do, so
        the tokens quota counts them."""
        return sum(self._prompts(plan, FOR_WARM_UP, plan.warmup, texts=False)[1]) + sum(
            self._prompts(plan, FOR_MEASURING, plan.requests, texts=False)[1]
        )

    def _requests(
        self, targets: list[ChatRequest], plan: BenchmarkPlan, purpose: str, count: int, shard: Shard
    ) -> list[Iterator[ChatRequest]]:
        """Each target's requests of the shard to send, in order: the same prompts for each,
        drawn once before any is sent."""
        prompts, lengths = self._prompts(plan, purpose, count)
        picked = shard.picks(list(zip(prompts, lengths, strict=True)))
        return [iter([replace(base, prompt=p, prompt_tokens=n) for p, n in picked]) for base in targets]

    def _prompts(
        self, plan: BenchmarkPlan, purpose: str, count: int, texts: bool = True
    ) -> tuple[list[str], list[int]]:
        """The prompts sent for `purpose`, in order, and their lengths in tokens: the workload's
        drawn ones, a file's in turn from the first (warm-ups then send the default prompt, so they
        warm no cache for them), or the default. `texts=False` leaves a workload's undrawn."""
        if plan.workload is not None:
            drawn = plan.workload.prompts(count, self.tokenizer, purpose) if texts else []
            return drawn, plan.workload.lengths(count, purpose)
        given = plan.prompts if plan.prompts and purpose == FOR_MEASURING else (self.settings.prompt,)
        turns = list(itertools.islice(itertools.cycle(zip(given, self.tokenizer.counts(given), strict=True)), count))
        return [p for p, _ in turns], [n for _, n in turns]

    def _store(
        self, run: Run, llm_id: int, outcomes: list[RequestOutcome], origin: float, wall: float
    ) -> list[MetricSummary]:
        assert run.id is not None
        metrics = {m.name: m for m in self.uow.catalogue.metrics() if m.id is not None}
        day = self.clock.now().date()
        self.uow.timelines.add(run.id, timelines.records(outcomes, origin), day)
        values = measures.samples([o for o in outcomes if o.error is None], wall)
        return [
            store_pair(self.uow, run.id, llm_id, metrics[name], array, day, array.size)
            for name, array in values.items()
            if array.size
        ]


def _check_model(model: str) -> None:
    if not 1 <= len(model.strip()) <= 200:
        raise InvalidParameter("an endpoint needs a model of 1 to 200 characters", parameter="model")


def _max_tokens_field(value: str) -> MaxTokensField:
    try:
        return MaxTokensField(value)
    except ValueError:
        choices = [field.value for field in MaxTokensField]
        message = f"unknown max_tokens_field {str(value)[:50]!r}"
        raise InvalidParameter(message, choices=choices, parameter="max_tokens_field") from None


def _sender(streams: AbstractChatStreams, requests: Iterator[ChatRequest]) -> Callable[[], Awaitable[RequestOutcome]]:
    """What sends the next of these requests on these connections."""
    return lambda: streams.stream(next(requests))
