"""flask commands: seed, simulate, create-api-key, purge-samples, serve (the embedded default)."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable
from typing import ParamSpec, TextIO, TypeVar

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from werkzeug.serving import run_simple

from src.adapters.tasks.inprocess import InProcessScheduler
from src.application.domain import bounds
from src.application.domain.errors import DomainError
from src.application.domain.model import COMMAND_LINE, Endpoint, MaxTokensField, Role, RunStatus, SweepLoad
from src.application.services.measures import Slo
from src.application.services.sweeps import doubling
from src.application.services.workloads import DISTRIBUTIONS, Workload
from src.application.use_cases.accounts import AccountUseCases
from src.application.use_cases.benchmarks import BenchmarkPlan, BenchmarkUseCases
from src.application.use_cases.campaigns import CampaignUseCases
from src.application.use_cases.catalogue import CatalogueUseCases
from src.application.use_cases.schedules import ScheduledMeasurements
from src.application.use_cases.simulation import SimulationUseCases
from src.application.use_cases.sweeps import SweepSpec, SweepUseCases
from src.infrastructure.schedule import parse_schedule

T = TypeVar("T")
P = ParamSpec("P")


def _get(cls: type[T]) -> T:
    return current_app.extensions["injector"].get(cls)


def telling_refusals(command: Callable[P, None]) -> Callable[P, None]:
    """Ends a command the domain refused with the refusal as its error (exit status 1), as click
    ends one given a bad option, not with a traceback."""

    @functools.wraps(command)
    def told(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            command(*args, **kwargs)
        except DomainError as error:
            raise click.ClickException(str(error)) from error

    return told


def within(bound: bounds.Bound) -> click.ParamType:
    """The option type of a domain bound: whole numbers unless the bound is open below or its ends
    are real numbers."""
    if bound.open_below or isinstance(bound.low, float) or isinstance(bound.high, float):
        return click.FloatRange(bound.low, bound.high, min_open=bound.open_below)
    return click.IntRange(int(bound.low), int(bound.high))


def register_commands(app: Flask) -> None:
    for command in (seed, simulate, create_api_key, users, purge_samples, serve, llms, endpoints, benchmark):
        app.cli.add_command(command)


@click.command()
@with_appcontext
def seed() -> None:
    """Add the catalogue's LLMs and metrics to the database (idempotent)."""
    added = _get(CatalogueUseCases).seed()
    click.echo(f"catalogue seeded: {added} new entries")


@click.command()
@with_appcontext
@click.option("--samples-per-pair", type=within(bounds.SAMPLES_PER_PAIR), default=None,
              help="default: SIMULATION_SAMPLES_PER_PAIR")  # fmt: skip
@click.option("--seed", "seed_value", type=within(bounds.SEED), default=None, help="default: random")
@click.option("--concurrency", type=within(bounds.CONCURRENCY), default=None,
              help="requests each LLM's deployment serves at once; default: SIMULATION_CONCURRENCY")  # fmt: skip
@click.option("--enqueue", is_flag=True, help="hand the run to the Celery workers instead of running it here")
@telling_refusals
def simulate(samples_per_pair: int | None, seed_value: int | None, concurrency: int | None, enqueue: bool) -> None:
    """Run one simulation and print its summary (seeding the catalogue first if it is empty)."""
    _get(CatalogueUseCases).seed()
    simulations = _get(SimulationUseCases)
    if enqueue:
        run = simulations.request(seed_value, samples_per_pair, concurrency=concurrency)
        click.echo(f"run {run.id} queued (seed {run.seed})")
        return
    queued = simulations.queue(seed_value, samples_per_pair, concurrency=concurrency)
    with click.progressbar(length=12, label=f"run {queued.id}: LLMs simulated") as bar:
        run = simulations.execute(queued.id or 0, progress=lambda done, total: bar.update(1))
    seconds = (run.finished_at - run.started_at).total_seconds()  # type: ignore[operator]
    load = (run.details or {}).get("concurrency")
    click.echo(
        f"run {run.id} {run.status}: {run.sample_count:,} samples in {seconds:.2f} s (seed {run.seed},"
        f" concurrency {load})"
    )
    _print_summary(simulations, run.id or 0)


def _print_summary(simulations: SimulationUseCases, run_id: int) -> None:
    columns = (("TTFT", "p50", "TTFT p50 s"), ("TTFT", "p95", "TTFT p95 s"), ("TPS", "mean", "TPS mean"),
               ("e2e_latency", "p50", "e2e p50 s"), ("RPS", "mean", "RPS"))  # fmt: skip
    click.echo(f"{'LLM':<20}" + "".join(f"{title:>12}" for _, _, title in columns))
    for llm, by_metric in simulations.summaries(run_id).items():
        if by_metric:  # a measured run covers one LLM
            cells = (by_metric.get(metric) for metric, _, _ in columns)
            values = [
                getattr(cell, field) if cell else None for cell, (_, field, _) in zip(cells, columns, strict=True)
            ]
            click.echo(f"{llm:<20}" + "".join(f"{v:>12.3f}" if v is not None else f"{'-':>12}" for v in values))


ROLE = click.Choice([role.value for role in Role])


@click.command("create-api-key")
@with_appcontext
@click.option("--name", required=True, help="what the key is for")
@click.option("--role", type=ROLE, default=Role.READER.value, show_default=True)
@click.option("--user", "user_email", default=None, help="the account that owns the key (its role caps the key's)")
@telling_refusals
def create_api_key(name: str, role: str, user_email: str | None) -> None:
    """Issue an API key and print it (it is shown once; only its hash is stored)."""
    accounts = _get(AccountUseCases)
    user_id = accounts.user_by_email(user_email).id if user_email else None
    issued = accounts.issue_api_key(name, user_id, Role(role))
    click.echo(issued.secret)


@click.group()
def users() -> None:
    """Accounts registered on the web."""


@users.command("set-role")
@click.argument("email")
@click.argument("role", type=ROLE)
@with_appcontext
@telling_refusals
def set_role(email: str, role: str) -> None:
    """Let an account issue keys up to ROLE (self-registered accounts are readers)."""
    user = _get(AccountUseCases).set_role(email, Role(role))
    click.echo(f"{user.email} is now {user.role}")


@users.command("list")
@with_appcontext
def list_users() -> None:
    """Every account: its role, when it registered, and its active keys."""
    for user, keys in _get(AccountUseCases).users():
        click.echo(f"{user.email}: {user.role}, registered {user.created_at:%Y-%m-%d %H:%M} UTC,"
                   f" {keys} active key{'' if keys == 1 else 's'}")  # fmt: skip


@click.group()
def llms() -> None:
    """The LLM catalogue: the twelve of catalogue.json, and those added."""


@llms.command("add")
@click.option("--name", required=True)
@click.option("--vendor", required=True)
@click.option("--family", default=None, help="e.g. 'Qwen 2.5'")
@click.option("--size", default=None, help="e.g. 72B")
@with_appcontext
@telling_refusals
def add_llm(name: str, vendor: str, family: str | None, size: str | None) -> None:
    llm = _get(CatalogueUseCases).add_llm(name, vendor, family, size)
    click.echo(f"LLM {llm.name} ({llm.vendor}) added")


@llms.command("list")
@with_appcontext
def list_llms() -> None:
    for llm in _get(CatalogueUseCases).llms():
        click.echo(" ".join(filter(None, [llm.name, f"({llm.vendor})", llm.family, llm.size])))


@click.group()
def endpoints() -> None:
    """The OpenAI-compatible endpoints that measured runs benchmark."""


@endpoints.command("add")
@click.option("--name", required=True)
@click.option("--llm", "llm_name", required=True, help="the catalogue LLM it serves, e.g. 'GPT-4o'")
@click.option("--base-url", required=True, help="e.g. https://api.openai.com/v1")
@click.option("--model", required=True, help="the model id the API expects")
@click.option("--api-key-env", default=None, help="the environment variable holding its key")
@click.option("--max-tokens-field", type=click.Choice([f.value for f in MaxTokensField]),
              default=Endpoint.max_tokens_field.value,
              show_default=True, help="the body field its API reads the output limit from (OpenAI's reasoning "
              "models: max_completion_tokens)")  # fmt: skip
@click.option("--stream-usage/--no-stream-usage", default=Endpoint.stream_usage, show_default=True,
              help="ask for token usage in the stream (stream_options); off for an API that refuses fields it does "
              "not know: the tokenizer then counts")  # fmt: skip
@with_appcontext
@telling_refusals
def add_endpoint(
    name: str, llm_name: str, base_url: str, model: str, api_key_env: str | None, max_tokens_field: str,
    stream_usage: bool,
) -> None:  # fmt: skip
    endpoint = _get(BenchmarkUseCases).add_endpoint(
        name, llm_name, base_url, model, api_key_env, max_tokens_field=max_tokens_field, stream_usage=stream_usage
    )
    click.echo(f"endpoint {endpoint.name} added ({endpoint.base_url}, model {endpoint.model})")


@endpoints.command("change")
@click.argument("name")
@click.option("--base-url", default=None)
@click.option("--model", default=None)
@click.option("--api-key-env", default=None, help="the environment variable holding its key; '' for none")
@click.option("--max-tokens-field", type=click.Choice([f.value for f in MaxTokensField]), default=None)
@click.option("--stream-usage/--no-stream-usage", default=None)
@with_appcontext
@telling_refusals
def change_endpoint(name: str, **given: str | bool | None) -> None:
    """Change what endpoint NAME is sent to and how; its runs keep what they measured."""
    changes = {field: value for field, value in given.items() if value is not None}
    if not changes:
        raise click.UsageError("nothing to change: give --base-url, --model, --api-key-env, --max-tokens-field or "
                               "--stream-usage/--no-stream-usage")  # fmt: skip
    if "api_key_env" in changes:
        changes["api_key_env"] = changes["api_key_env"] or None
    endpoint = _get(BenchmarkUseCases).change_endpoint(name, changes)
    click.echo(f"endpoint {endpoint.name} changed: {', '.join(sorted(changes))}")


@endpoints.command("remove")
@click.argument("name")
@with_appcontext
@telling_refusals
def remove_endpoint(name: str) -> None:
    """Remove endpoint NAME; one with measured runs or sweeps is kept, since they refer to it."""
    _get(BenchmarkUseCases).remove_endpoint(name)
    click.echo(f"endpoint {name} removed")


@endpoints.command("list")
@with_appcontext
def list_endpoints() -> None:
    serving = _get(CatalogueUseCases).llm_names()
    for endpoint in _get(BenchmarkUseCases).endpoints():
        key = f"key in ${endpoint.api_key_env}" if endpoint.api_key_env else "no key"
        usage = "" if endpoint.stream_usage else "; no usage asked"
        click.echo(f"{endpoint.name} ({serving[endpoint.llm_id]}): {endpoint.base_url} model {endpoint.model}"
                   f" ({key}; limit in {endpoint.max_tokens_field}{usage})")  # fmt: skip


@click.command()
@click.option("--endpoint", "endpoint_name", required=True,
              help="an endpoint's name; several, comma-separated: a campaign, measured side by side")  # fmt: skip
@click.option("--requests", type=within(bounds.REQUESTS), default=50, show_default=True)
@click.option("--concurrency", type=within(bounds.STREAMS), default=1, show_default=True)
@click.option("--rate", type=within(bounds.RATE), default=None,
              help="Poisson arrivals per second instead of back-to-back requests")  # fmt: skip
@click.option("--burstiness", type=within(bounds.BURSTINESS), default=1.0, show_default=True,
              help="with --rate: gamma-distributed gaps of this shape (1: Poisson; below 1: bursts)")  # fmt: skip
@click.option("--warmup", type=within(bounds.WARMUP), default=None, help="default: BENCHMARK_WARMUP_REQUESTS")
@click.option("--max-tokens", type=within(bounds.MAX_TOKENS), default=None, help="default: BENCHMARK_MAX_TOKENS")
@click.option("--fresh-connections", is_flag=True,
              help="a new connection per request: its TTFT includes the set-up")  # fmt: skip
@click.option("--slo-ttft-ms", type=within(bounds.SLO_MS), default=None, help="SLO: a good request's TTFT")
@click.option("--slo-itl-ms", type=within(bounds.SLO_MS), default=None, help="SLO: its inter-token latency")
@click.option("--slo-e2e-ms", type=within(bounds.SLO_MS), default=None, help="SLO: its e2e latency")
@click.option("--slo-attainment", type=within(bounds.ATTAINMENT), default=0.95, show_default=True,
              help="SLO: the share of requests that must be good")  # fmt: skip
@click.option(
    "--input-tokens",
    type=within(bounds.INPUT_TOKENS),
    default=None,
    help="prompts drawn to this length in tokens (or its mean); default: one fixed prompt",
)
@click.option("--input-distribution", type=click.Choice(DISTRIBUTIONS), default="fixed", show_default=True)
@click.option("--input-spread", type=within(bounds.INPUT_SPREAD), default=0, help="normal: sd; uniform: +-")
@click.option("--shared-prefix-tokens", type=within(bounds.INPUT_SPREAD), default=0)
@click.option("--workload-seed", type=within(bounds.SEED), default=0, show_default=True)
@click.option("--force-output", is_flag=True, help="ask for exactly --max-tokens (min_tokens, ignore_eos)")
@click.option(
    "--prompts-file",
    type=click.File(encoding="utf-8"),
    default=None,
    help='JSON Lines, {"prompt": "..."} a line: sent in turn (not with --input-tokens)',
)
@click.option("--sweep", "sweep_loads", default=None,
              help="a sweep: these loads in turn (1,2,4,8), a run each, until throughput stops rising")  # fmt: skip
@click.option("--sweep-up-to", type=float, default=None, help="a sweep doubling from 1 while at most this")
@click.option("--sweep-load", type=click.Choice([load.value for load in SweepLoad]), default="concurrency",
              show_default=True, help="what a sweep raises")  # fmt: skip
@click.option("--min-gain", type=within(bounds.MIN_GAIN), default=0.05, show_default=True,
              help="a sweep stops once throughput rises less than this over the best stage before")  # fmt: skip
@click.option("--max-error-rate", type=within(bounds.MAX_ERROR_RATE), default=0.05, show_default=True,
              help="a sweep stops once more of a stage's requests fail")  # fmt: skip
@click.option("--enqueue", is_flag=True, help="hand the run (or sweep) to the Celery workers")  # fmt: skip
@with_appcontext
@telling_refusals
def benchmark(
    endpoint_name: str, requests: int, concurrency: int, rate: float | None, burstiness: float, warmup: int | None,
    max_tokens: int | None, fresh_connections: bool, slo_ttft_ms: float | None, slo_itl_ms: float | None,
    slo_e2e_ms: float | None, slo_attainment: float, input_tokens: int | None, input_distribution: str,
    input_spread: int, shared_prefix_tokens: int, workload_seed: int, force_output: bool,
    prompts_file: TextIO | None, sweep_loads: str | None, sweep_up_to: float | None, sweep_load: str,
    min_gain: float, max_error_rate: float, enqueue: bool,
) -> None:  # fmt: skip
    """Measure an endpoint: TTFT, output speed, e2e latency and RPS of streamed chat completions;
    with --sweep or --sweep-up-to, at rising loads until it saturates; several endpoints together,
    then ranked (a campaign)."""
    benchmarks = _get(BenchmarkUseCases)
    asked = (slo_ttft_ms, slo_itl_ms, slo_e2e_ms)
    slo = Slo(*asked, attainment=slo_attainment) if any(v is not None for v in asked) else None
    workload = (
        Workload(input_tokens, input_distribution, input_spread, shared_prefix_tokens, workload_seed)
        if input_tokens
        else None
    )
    prompts = read_prompts(prompts_file) if prompts_file else ()
    plan = benchmarks.plan(
        requests, concurrency=concurrency, rate=rate, burstiness=burstiness, warmup=warmup, max_tokens=max_tokens,
        reuse_connections=not fresh_connections, slo=slo, workload=workload, force_output=force_output,
        prompts=prompts,
    )  # fmt: skip
    names = [name.strip() for name in endpoint_name.split(",") if name.strip()]
    if len(names) > 1:
        return _campaign(names, plan, enqueue)
    if sweep_loads or sweep_up_to:
        loads = _loads(sweep_loads) if sweep_loads else doubling(1, sweep_up_to or 1)
        spec = SweepSpec(SweepLoad(sweep_load), tuple(loads), min_gain, max_error_rate)
        return _sweep(endpoint_name, plan, spec, enqueue)
    if enqueue:
        run = benchmarks.request(endpoint_name, plan)
        click.echo(f"measured run {run.id} queued")
        return
    queued = benchmarks.queue(endpoint_name, plan)
    with click.progressbar(length=requests, label=f"run {queued.id}: requests") as bar:
        run = benchmarks.execute(queued.id or 0, progress=lambda done, total: bar.update(1))
    details = run.details or {}
    if run.status is not RunStatus.COMPLETED:
        raise click.ClickException(f"run {run.id} failed: {run.error}")
    click.echo(json.dumps({"run": run.id, "status": str(run.status), **details}, indent=2, default=str))
    _print_summary(_get(SimulationUseCases), run.id or 0)


def _loads(listed: str) -> list[float]:
    try:
        return [float(load) for load in listed.split(",")]
    except ValueError:
        raise click.BadParameter(
            f"loads are numbers separated by commas, got {listed[:50]!r}", param_hint="--sweep"
        ) from None


def _sweep(endpoint_name: str, plan: BenchmarkPlan, spec: SweepSpec, enqueue: bool) -> None:
    sweeps = _get(SweepUseCases)
    if enqueue:
        click.echo(f"sweep {sweeps.request(endpoint_name, plan, spec, COMMAND_LINE).id} queued")
        return
    queued = sweeps.queue(endpoint_name, plan, spec, COMMAND_LINE)
    click.echo(
        f"sweep {queued.id}: {plan.requests} requests a stage at {spec.load} {', '.join(f'{v:g}' for v in spec.loads)}"
    )
    report = sweeps.execute(queued.id or 0)
    click.echo(
        f"{spec.load:>12} {'run':>5} {'tokens/s':>10} {'in flight':>10} {'TTFT p50 ms':>12} {'e2e p50 ms':>11} "
        f"{'failed':>7}  SLO met"
    )
    for stage in report.stages:
        click.echo(f"{stage.load:>12g} {stage.run_id:>5} {stage.output_tokens_per_second or 0:>10,.0f} "
                   f"{stage.mean_in_flight or 0:>10.1f} "
                   f"{stage.ttft_p50_ms or 0:>12,.1f} {stage.e2e_p50_ms or 0:>11,.1f} {stage.error_rate:>7.1%}  "
                   f"{'-' if stage.slo_met is None else 'yes' if stage.slo_met else 'no'}")  # fmt: skip
    click.echo(f"{report.sweep.status}: {report.sweep.stop_reason}")
    if report.knee:
        click.echo(f"knee: {spec.load} {report.knee.load:g}")
    if report.largest_load_meeting_slo is not None:
        click.echo(f"largest {spec.load} meeting the SLO: {report.largest_load_meeting_slo:g}")


def _campaign(names: list[str], plan: BenchmarkPlan, enqueue: bool) -> None:
    campaigns = _get(CampaignUseCases)
    if enqueue:
        click.echo(f"campaign {campaigns.request(names, plan, COMMAND_LINE).campaign.id} queued")
        return
    queued = campaigns.queue(names, plan, COMMAND_LINE)
    click.echo(f"campaign {queued.campaign.id}: {plan.requests} requests to each of {', '.join(names)}, side by side")
    report = campaigns.execute(queued.campaign.id or 0)
    for name, run in zip(report.endpoints, report.runs, strict=True):
        why = run.error or run.invalid
        failed = f", {run.failed_requests}" if run.failed_requests else ""
        click.echo(f"  {name}: run {run.id} {run.status}{f' ({why})' if why else ''}{failed}")
    for metric in ("TTFT", "TPS"):
        ranked = campaigns.ranked_on(report, metric)
        click.echo(f"{metric} median, best first: " + ", ".join(
            f"{e.rank}. {e.subject.name} {e.value:.4g} [{_bound(e.interval.low)}, {_bound(e.interval.high)}]"
            + (f" (tied with {', '.join(e.tied_with)})" if e.tied_with else "") for e in ranked.entries
        ))  # fmt: skip


def _bound(value: float | None) -> str:
    return "open" if value is None else f"{value:.4g}"


def read_prompts(lines: Iterable[str]) -> tuple[str, ...]:
    """A JSONL prompt file's prompts, blank lines skipped; a faulty line is named by its number."""
    prompts = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            prompt = json.loads(line)["prompt"]
        except (ValueError, KeyError, TypeError):
            fault = f'line {number} is not a JSON object with a "prompt"'
            raise click.BadParameter(fault, param_hint="--prompts-file") from None
        if not isinstance(prompt, str) or not prompt:
            raise click.BadParameter(f"line {number}: the prompt must be text", param_hint="--prompts-file")
        prompts.append(prompt)
    return tuple(prompts)


@click.command("purge-samples")
@with_appcontext
def purge_samples() -> None:
    """Drop raw samples older than SAMPLE_RETENTION_DAYS (summaries stay)."""
    days = _get(SimulationUseCases).purge_expired_samples()
    click.echo(f"removed samples of {days} day(s)")


@click.command()
@with_appcontext
@click.option("--host", default="127.0.0.1")
@click.option("--port", type=int, default=None, help="default: PORT")
def serve(host: str, port: int | None) -> None:
    """The embedded default: seed, simulate once if nothing ran yet, schedule runs, serve."""
    settings = current_app.extensions["settings"]
    simulations = _get(SimulationUseCases)
    _get(CatalogueUseCases).seed()
    _, completed = simulations.list(1, 0, RunStatus.COMPLETED)
    if not completed:
        run = simulations.run_now()
        click.echo(f"first start: simulated run {run.id} ({run.sample_count:,} samples)")
    # The scheduler's thread has no app context: it takes the injector itself, not current_app.
    injector = current_app.extensions["injector"]
    measurements = [(m, parse_schedule(m.schedule)) for m in settings.measurement_schedules]
    InProcessScheduler(parse_schedule(settings.simulation_schedule), lambda: injector.get(SimulationUseCases),
                       measurements, lambda: injector.get(ScheduledMeasurements)).start()  # fmt: skip
    port = port or settings.port
    click.echo(f"\nJounce serves http://{host}:{port}  (simulations on schedule {settings.simulation_schedule!r})")
    if settings.bootstrap_api_key:
        click.echo(f"try: curl -H 'api-key: {settings.bootstrap_api_key}' 'http://{host}:{port}/runs'\n")
    # Flask refuses app.run() inside a flask command; werkzeug's server is what it would start.
    run_simple(host, port, current_app._get_current_object(), threaded=True)  # type: ignore[attr-defined]
