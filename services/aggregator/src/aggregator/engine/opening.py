"""When a failure becomes an incident: the opening rules, each with its reason.

Events that match no open incident wait in a pending cluster of their failure (their fingerprint,
or the same service failing in similar words or with the same error type). After each of its
events the cluster is judged by these rules, in order; the first that decides wins:

1. `immediate-severity`: an event at `immediate_severity` (5) or above opens an incident at once.
2. `threshold`: fewer than `open_threshold` failures (severity 3+) within `open_window` wait.
3. `warning-burst`: a cluster of warnings only (severity up to `warning_max_severity`) opens only
   as a burst, `open_threshold` of them within `warning_burst_window`; warnings spread more thinly
   are a service's routine chatter (a retried call every few minutes) and wait.
4. `routine-template`: warnings of a template that the service mostly logs at a routine severity
   (1-2) in the same window (a slow request logged at warning level among thousands of normal
   ones) stay events.
   `warning-settle`, `warning-share`: while their service has no baseline yet, warnings wait until
   they have gone on for `warning_settle` (a new service's first lines say little), and while
   they are less than `warning_share` of the service's lines in the burst window (a small share of
   a healthy service's traffic) unless they go on: `warning_sustain_count` within
   `warning_sustain_window`. A silent service bursting warnings opens.
5. `baseline`: a service watched for at least `baseline_min_history` has a usual rate for every
   template (zero for one it never logged). A count in the open window, and in the burst window,
   that is not unusual at that rate (probability above `baseline_p_value`, widened by how little
   history backs the rate: `baseline.surprise`) stays events:
   a template the service emits at a steady low rate opens no incident until it departs from that
   rate. A service with less history is judged by the threshold alone.
6. otherwise the cluster opens an incident, and the decision records the count, the window and,
   when there is one, the usual rate and the probability.

A recurrence of a failure whose incident ended less than `recurrence_window` ago is judged by
rules 1 and 2 alone (its baseline has learned the failure itself) and reopens that incident
instead of opening one.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from dataclasses import dataclass
from typing import Any, Literal

from aggregator.engine.baseline import Baselines, surprise
from aggregator.engine.config import CorrelationConfig
from aggregator.engine.decisions import Decision
from aggregator.engine.state import Pending

Action = Literal["open", "wait", "hold"]


@dataclass(frozen=True, slots=True)
class Verdict:
    """`open`, `wait` (not enough yet) or `hold` (enough, but not unusual: it stays events)."""

    action: Action
    decision: Decision


@dataclass(slots=True)
class Case:
    """One pending cluster at the time of its latest event."""

    pending: Pending
    t: float
    count: int  # failures in the open window
    fp_key: str  # its template's baseline key
    service_key: str  # its service's baseline key
    recurrence: bool  # a recurrence of a recently closed incident


def since(times: list[float], start: float) -> int:
    """How many of the (sorted) `times` are at or after `start`."""
    return len(times) - bisect_left(times, start)


def _per_min(x: float) -> str:
    return f"{x:.2f}/min" if x < 10 else f"{x:.0f}/min"


class OpenPolicy:
    def __init__(self, config: CorrelationConfig, baselines: Baselines) -> None:
        self.config = config
        self.baselines = baselines
        window = config.open_window / 60
        self._too_few = [
            f"{n} failure(s) within {window:.0f} min; {config.open_threshold} open an incident"
            for n in range(config.open_threshold)
        ]

    def too_few(self, count: int) -> dict[str, Any]:
        """The verdict (as kept on the pending cluster) for fewer failures than the threshold."""
        return {"rule": "threshold", "detail": self._too_few[count], "score": count, "action": "wait"}

    def count_in_window(self, p: Pending, t: float) -> int:
        start = t - self.config.open_window
        return since(p.times, start)

    def judge(self, case: Case) -> Verdict:
        cfg = self.config
        p = case.pending
        if p.max_severity >= cfg.immediate_severity:
            return Verdict(
                "open",
                Decision("immediate-severity", f"an event of severity {p.max_severity} opens an incident at once"),
            )
        window_min = cfg.open_window / 60
        if case.count < cfg.open_threshold:
            return Verdict("wait", Decision("threshold", self._too_few[case.count], score=case.count))
        if p.max_severity <= cfg.warning_max_severity and not case.recurrence:
            verdict = self._warnings(case)
            if verdict is not None:
                return verdict
        opened = Decision(
            "threshold",
            f"{case.count} failures of severity 3+ within {window_min:.0f} min (threshold {cfg.open_threshold})",
            score=case.count,
        )
        if case.recurrence:
            return Verdict("open", opened)
        return self._baseline(case, opened)

    def _warnings(self, case: Case) -> Verdict | None:
        cfg = self.config
        p = case.pending
        t = case.t
        in_burst = since(p.times, t - cfg.warning_burst_window)
        if in_burst < cfg.open_threshold:
            return Verdict(
                "wait",
                Decision(
                    "warning-burst",
                    f"warnings only, spread out: {in_burst} within {cfg.warning_burst_window:.0f} s "
                    f"({cfg.open_threshold} needed to open)",
                    score=in_burst,
                ),
            )
        window = max(1, round(cfg.open_window / 60))
        lines = self.baselines.recent(case.fp_key, t, window)
        if lines >= 2 * case.count:
            return Verdict(
                "hold",
                Decision(
                    "routine-template",
                    f"{case.count} of {lines} lines of this template within {window} min were warnings; "
                    "the service mostly logs it at a routine severity",
                    score=case.count / lines,
                ),
            )
        if self.baselines.minutes(case.service_key) * 60 >= cfg.baseline_min_history:
            return None  # the baseline judges them
        if t - p.first < cfg.warning_settle:
            return Verdict(
                "wait",
                Decision(
                    "warning-settle",
                    f"warnings from {p.service}, which has no baseline yet: watched for "
                    f"{cfg.warning_settle:.0f} s before they may open",
                ),
            )
        # Warnings that go on (`warning_sustain_count` within the sustain window) are not chatter,
        # whatever their share of a busy service's lines.
        sustained = since(p.times, t - cfg.warning_sustain_window)
        if sustained >= cfg.warning_sustain_count:
            return None
        # Whole minutes (the store counts per minute) covering at least the burst window.
        minutes = math.ceil(cfg.warning_burst_window / 60) + 1
        start = (int(t // 60) - minutes + 1) * 60
        warnings = since(p.times, start)
        service_lines = max(warnings, self.baselines.recent(case.service_key, t, minutes))
        share = warnings / service_lines
        if share < cfg.warning_share:
            return Verdict(
                "wait",
                Decision(
                    "warning-share",
                    f"{warnings} warnings among {service_lines} lines of {p.service} within {minutes} min "
                    f"({share:.0%}, under {cfg.warning_share:.0%}) and {sustained} within "
                    f"{cfg.warning_sustain_window / 60:.0f} min ({cfg.warning_sustain_count} go on): a small share of "
                    "a service's traffic, judged against its baseline once it has one",
                    score=share,
                ),
            )
        return None

    def _baseline(self, case: Case, opened: Decision) -> Verdict:
        cfg = self.config
        watched = self.baselines.minutes(case.service_key)
        window = max(1, round(cfg.open_window / 60))
        if watched * 60 < cfg.baseline_min_history:
            detail = f"{opened.detail}; {case.pending.service} has {watched} min of history, too little for a baseline"
            return Verdict("open", Decision(opened.rule, detail, score=opened.score))
        rate, history = self.baselines.usual_rate(case.fp_key, case.t, window)
        # Tested over the open window, and over the burst window: a failure that comes back in
        # short bursts (a check failing for a minute every quarter hour) is unusual within its
        # bursts even where its count over ten minutes is not.
        short = cfg.warning_burst_window / 60
        in_short = since(case.pending.times, case.t - cfg.warning_burst_window)
        tests = [
            (case.count, window, surprise(case.count, rate, history, window)),
            (in_short, short, surprise(in_short, rate, history, short)),
        ]
        count, minutes, chance = min(tests, key=lambda x: x[2])
        numbers = (
            f"usual rate {_per_min(rate)} over {history:.0f} min ({rate * minutes:.1f} expected in "
            f"{minutes:.0f} min), probability of {count} or more {chance:.2g}"
        )
        if chance > cfg.baseline_p_value:
            return Verdict(
                "hold",
                Decision(
                    "baseline",
                    f"{count} failures within {minutes:.0f} min is this template's usual rate: {numbers}",
                    score=chance,
                ),
            )
        return Verdict(
            "open",
            Decision(
                "departure",
                f"{count} failures within {minutes:.0f} min (threshold {cfg.open_threshold}), a departure from "
                f"its baseline: {numbers}",
                score=chance,
            ),
        )
