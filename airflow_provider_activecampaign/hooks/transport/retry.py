"""The retry policy (tenacity), shared by ``Retrying`` and ``AsyncRetrying``."""

from __future__ import annotations

import logging
import random
from typing import Any

from tenacity import RetryCallState, retry_if_exception

from airflow_provider_activecampaign.exceptions import (
    ActiveCampaignAuthError,
    ActiveCampaignError,
    ActiveCampaignRateLimitError,
)
from airflow_provider_activecampaign.hooks import metrics
from airflow_provider_activecampaign.hooks.transport.answers import TRANSIENT_FORBIDDEN_RETRIES
from airflow_provider_activecampaign.hooks.transport.settings import TransportSettings

#: The package's logger (not this module's): throttling lines are counted by name (syncs/history).
log = logging.getLogger("airflow_provider_activecampaign.hooks.transport")


def _is_retryable(error: BaseException) -> bool:
    return isinstance(error, ActiveCampaignError) and error.retryable


#: Longest pause between two attempts of one call.
MAX_BACKOFF = 30.0


class RetryPolicy:
    """How long one call waits out throttling and transient failures, and when it gives up.

    A 429 (or the importer's "Rate limit exceeded") means ActiveCampaign did not act: the call waits
    ``Retry-After`` (or backs off exponentially when there is none), with a little jitter so that
    throttled workers do not come back in step, for as long as ``max_wait`` allows. Server and
    network errors on calls that are safe to repeat back off with full jitter (0.5, 1, 2 … 30 s),
    also within ``max_wait``, and at most ``max_retries`` times when that is set. The same object
    serves ``tenacity.Retrying`` and ``AsyncRetrying``; one is made per call.
    """

    def __init__(self, settings: TransportSettings, logger: Any = None) -> None:
        self.settings = settings
        self.log = logger or log
        self.throttles = 0
        self.failures = 0
        #: 403s to reads with a key that worked (see :data:`TRANSIENT_FORBIDDEN_RETRIES`).
        self.forbidden = 0
        #: Seconds this call was told to wait so far (its sleeps; never less than the real time).
        self.waited = 0.0
        self.gave_up = False

    def _elapsed(self, state: RetryCallState) -> float:
        return max(self.waited, state.seconds_since_start or 0.0)

    def stop(self, state: RetryCallState) -> bool:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, ActiveCampaignRateLimitError):
            self.throttles += 1
        elif isinstance(error, ActiveCampaignAuthError):
            self.forbidden += 1
            self.gave_up = self.forbidden > TRANSIENT_FORBIDDEN_RETRIES or (
                self._elapsed(state) >= self.settings.max_wait
            )
            return self.gave_up
        else:
            self.failures += 1
        limit = self.settings.max_retries
        self.gave_up = self._elapsed(state) >= self.settings.max_wait or (
            not isinstance(error, ActiveCampaignRateLimitError)
            and limit is not None
            and self.failures > limit
        )
        return self.gave_up

    def wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, ActiveCampaignRateLimitError):
            retry_after = error.retry_after
            base = (
                float(retry_after)
                if retry_after is not None
                else min(MAX_BACKOFF, 2.0 ** (self.throttles - 1))
            )
            pause = base + random.uniform(0, 0.1 * base + 0.1)
        elif isinstance(error, ActiveCampaignAuthError):
            pause = random.uniform(0.5, 1.0) * 2.0**self.forbidden  # 1-2, 2-4, 4-8 s
        else:
            pause = random.uniform(0, min(MAX_BACKOFF, 0.5 * 2 ** (self.failures - 1)))
        pause = max(0.0, min(pause, self.settings.max_wait - self._elapsed(state)))
        if isinstance(error, ActiveCampaignRateLimitError):
            metrics.record_throttled_wait(pause)
        self.waited = self._elapsed(state) + pause
        return pause

    def before_sleep(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        summary = getattr(error, "summary", str(error))
        if isinstance(error, ActiveCampaignRateLimitError):
            self.log.warning(
                "Throttled by ActiveCampaign: waiting %.1f s (throttled for %.0f s so far, %d times; "
                "waiting up to max_wait=%.0f s): %s",
                state.upcoming_sleep,
                self._elapsed(state) - state.upcoming_sleep,
                self.throttles,
                self.settings.max_wait,
                summary,
            )
            return
        limit = self.settings.max_retries
        self.log.warning(
            "Retrying in %.1f s (attempt %d%s, within max_wait=%.0f s): %s",
            state.upcoming_sleep,
            state.attempt_number + 1,
            f" of {limit + 1}" if limit is not None else "",
            self.settings.max_wait,
            summary,
        )

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``tenacity.Retrying`` and ``tenacity.AsyncRetrying`` alike."""
        return {
            "stop": self.stop,
            "wait": self.wait,
            "retry": retry_if_exception(_is_retryable),
            "before_sleep": self.before_sleep,
            "reraise": True,
        }

    def explain(self, error: BaseException) -> None:
        """Say in the final error how long the call was retried, when it was."""
        if not isinstance(error, ActiveCampaignError) or not error.retryable or not self.gave_up:
            return
        attempts = self.throttles + self.failures + self.forbidden
        tries = f"{attempts} attempt{'' if attempts == 1 else 's'}"
        if isinstance(error, ActiveCampaignAuthError):
            note = (
                f"ActiveCampaign answered 403 to {tries} over {self.waited:.0f} s, although this key "
                "worked shortly before: not a passing 403, so the key or its user's permissions changed."
            )
        elif isinstance(error, ActiveCampaignRateLimitError):
            note = (
                f"Still throttled after {self.waited:.0f} s of waiting and {tries} "
                f"(max_wait={self.settings.max_wait:.0f} s); ActiveCampaign acted on none of them."
            )
        else:
            # Whole seconds rounded down: "over N s" stays true (1.6 s is over 1 s, not over 2 s).
            span = "within 1 s" if self.waited < 1 else f"over {int(self.waited)} s"
            note = f"Gave up after {tries} {span}."
        error.amend(note)


def retry_kwargs(settings: TransportSettings, logger: Any = None) -> dict[str, Any]:
    """Keyword arguments for ``tenacity.Retrying`` and ``AsyncRetrying`` (a fresh policy each call)."""
    return RetryPolicy(settings, logger).kwargs()
