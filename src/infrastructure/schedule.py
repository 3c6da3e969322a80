"""Schedules (SIMULATION_SCHEDULE, a measurement schedule's): a cron expression ("*/5 * * * *") or
an interval in seconds ("300")."""

from __future__ import annotations

from datetime import timedelta

from celery.schedules import BaseSchedule, crontab, schedule

from src.infrastructure.errors import ConfigurationError

MIN_INTERVAL_SECONDS = 60  # runs are named by the minute they were scheduled in


def parse_schedule(value: str, what: str = "SIMULATION_SCHEDULE") -> BaseSchedule:
    value = value.strip()
    if value.isdigit():
        seconds = int(value)
        if seconds < MIN_INTERVAL_SECONDS:
            raise ConfigurationError(f"{what} must be at least {MIN_INTERVAL_SECONDS} seconds")
        return schedule(timedelta(seconds=seconds))
    fields = value.split()
    if len(fields) != 5:
        raise ConfigurationError(f"{what} must be seconds or a five-field cron expression, got {value!r}")
    minute, hour, day_of_month, month_of_year, day_of_week = fields
    try:
        return crontab(minute, hour, day_of_week, day_of_month, month_of_year)
    except ValueError as error:
        raise ConfigurationError(f"{what} is not a valid cron expression: {error}") from None
