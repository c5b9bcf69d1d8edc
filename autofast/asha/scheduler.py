"""Asynchronous successive halving (ASHA; Li et al., MLSys 2020) with an ask/tell API.

Rungs
-----
Rung ``k`` trains a trial up to resource ``min_resource * eta**k``. Every such value strictly
below ``max_resource`` is a rung, and ``max_resource`` itself is always the last rung; so the last
rung is *clamped* to R rather than overshooting it (``r=1, R=20, eta=2`` gives ``1, 2, 4, 8, 16, 20``;
``r=1, R=16, eta=2`` gives ``1, 2, 4, 8, 16``). Results in the last rung are never promoted.

Scheduling (the paper's ``get_job``)
------------------------------------
:meth:`ASHA.ask` first re-issues jobs that a resumed journal shows as started but never told
(oldest first). Otherwise it scans rungs from the second-highest one down to rung 0 and promotes the
best trial that (a) has a completed result in that rung, (b) ranks ``< floor(n_rung / eta)`` among the
``n_rung`` completed results of that rung (ties broken by lower trial id), (c) was not promoted from
that rung before and (d) has not failed. If no trial is promotable a new trial is started in rung 0
while fewer than ``max_trials`` trials have been started; else ``ask`` returns ``None`` (either wait
for pending jobs or, if :meth:`ASHA.is_finished`, stop).

A promotion *resumes* the trial: ``resource_from`` is the resource it already trained (its rung's
resource) and ``resource_to`` the next rung's, so no epoch is trained twice.

Determinism
-----------
New trials' configs come from a sampler (``random``, ``grid`` or ``tpe``; see
:mod:`autofast.asha.samplers`). With ``random`` (the default) trial ``i``'s config is drawn from
``numpy.random.default_rng([seed, i])``, so the configs depend only on the seed and the trial id (not
on the order of calls), and resuming needs no RNG state. Given the
same sequence of ``ask``/``tell`` calls the scheduler returns the same jobs.

The scheduler is single-threaded: call it from one thread (a driver loop that hands jobs to workers).
"""
from __future__ import annotations

import bisect
import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence


from autofast.asha.samplers import make_sampler
from autofast.asha.space import Dist, parse_space, space_to_data
from autofast.errors import AutofastError

__all__ = ["ASHA", "Job", "rung_resources"]


@dataclass(frozen=True)
class Job:
    """One unit of work: train ``trial_id`` with ``config`` from ``resource_from`` to ``resource_to``.

    ``rung`` is the rung the result will be reported in (pass it back to :meth:`ASHA.tell`).
    ``checkpoint`` is the last checkpoint path recorded for the trial (``None`` if none), to resume from.
    """

    trial_id: int
    config: dict
    rung: int
    resource_from: float
    resource_to: float
    checkpoint: Optional[str] = None


@dataclass
class _Trial:
    trial_id: int
    config: dict
    scores: dict = field(default_factory=dict)  # rung -> score
    failed: bool = False
    error: Optional[str] = None
    checkpoint: Optional[str] = None


def rung_resources(min_resource: float, max_resource: float, eta: float) -> list:
    """Resources of the rungs: ``r * eta**k`` while ``< R``, then ``R`` (see the module docstring)."""
    if not (min_resource > 0):
        raise AutofastError(f"min_resource must be > 0, got {min_resource}")
    if max_resource < min_resource:
        raise AutofastError(f"max_resource ({max_resource}) must be >= min_resource ({min_resource})")
    if not (eta > 1):
        raise AutofastError(f"eta must be > 1, got {eta}; the paper uses 3 or 4, 2 halves each rung")
    out = []
    k = 0
    while True:
        r = min_resource * eta**k
        if r >= max_resource:
            break
        out.append(r)
        k += 1
    out.append(max_resource)
    return out


class ASHA:
    """ASHA scheduler over a search space (see the module docstring for the exact rules).

    Args:
        space: ``dict[str, Dist]`` or plain data accepted by :func:`parse_space`.
        min_resource, max_resource, eta: rung geometry (:func:`rung_resources`).
        max_trials: how many trials (sampled configs) may be started in total.
        seed: config sampling seed.
        mode: ``"max"`` (higher score is better) or ``"min"``.
        sampler: ``"random"``, ``"grid"`` (``grid_points`` per numeric dimension) or ``"tpe"`` (optuna).
    """

    def __init__(
        self,
        space: Mapping[str, Any],
        min_resource: float = 1,
        max_resource: float = 20,
        eta: float = 2,
        max_trials: int = 120,
        seed: int = 0,
        mode: str = "max",
        sampler: str = "random",
        grid_points: int = 3,
        initial: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        if mode not in ("max", "min"):
            raise AutofastError(f"mode must be 'max' or 'min', got {mode!r}")
        if int(max_trials) != max_trials or max_trials < 1:
            raise AutofastError(f"max_trials must be a positive integer, got {max_trials}")
        self.space: dict[str, Dist] = parse_space(space)
        self.min_resource = min_resource
        self.max_resource = max_resource
        self.eta = eta
        self.max_trials = int(max_trials)
        self.seed = int(seed)
        self.mode = mode
        self.rungs = rung_resources(min_resource, max_resource, eta)
        self.sampler_name, self.grid_points = sampler, int(grid_points)
        self.sampler = make_sampler(sampler, self.space, self.seed, mode, self.grid_points)
        if initial and sampler == "grid":
            raise AutofastError("initial configurations do not mix with the grid sampler (it enumerates the space)")
        self.initial = [dict(c) for c in initial]  # the first trials' configurations, then the sampler's
        self._trials: dict[int, _Trial] = {}
        self._rung_results: list[dict[int, float]] = [dict() for _ in self.rungs]  # rung -> {trial: score}
        self._promoted: list[set] = [set() for _ in self.rungs]  # trials promoted *out of* each rung
        # per rung, (sort key, trial id) kept sorted with bisect: every result, and the promotable ones
        # (not yet promoted, not failed). A decision is then O(log n), not a sort per ask().
        self._sorted: list[list] = [[] for _ in self.rungs]
        self._cands: list[list] = [[] for _ in self.rungs]
        self._pending: dict[int, Job] = {}  # trial_id -> job asked but not told (insertion = start order)
        self._reissue: deque = deque()  # trial ids whose jobs must be handed out again after a resume
        self._journal = None

    # ------------------------------------------------------------------ parameters / journal
    def params(self) -> dict:
        """The constructor arguments as plain data (stored in the journal's ``search`` event)."""
        return {
            "space": space_to_data(self.space),
            "min_resource": self.min_resource,
            "max_resource": self.max_resource,
            "eta": self.eta,
            "max_trials": self.max_trials,
            "seed": self.seed,
            "mode": self.mode,
            "sampler": self.sampler_name,
            "grid_points": self.grid_points,
            "initial": [dict(c) for c in self.initial],
        }

    def attach(self, journal) -> "ASHA":
        """Record every event of this (fresh) scheduler into ``journal`` (a :class:`Journal`).

        The journal must be empty; to continue a journaled search use :meth:`resume`.
        """
        if self._trials:
            raise AutofastError("attach a journal before the first ask(); to continue a search use ASHA.resume(path)")
        if journal.has_events():
            raise AutofastError(f"journal {journal.path} already holds a search; use ASHA.resume({str(journal.path)!r})")
        journal.record("search", payload=self.params())
        self._journal = journal
        return self

    @classmethod
    def resume(cls, journal_path, space: Optional[Mapping[str, Any]] = None, **params) -> "ASHA":
        """Rebuild a scheduler from the journal at ``journal_path`` and keep journaling into it.

        The journal's stored parameters are used; any ``space``/``params`` given must match them
        (a mismatch raises :class:`AutofastError`). Jobs started but never told are re-issued by
        :meth:`ask` (oldest first) before any new decision is made.
        """
        from autofast.asha.journal import Journal

        journal = journal_path if isinstance(journal_path, Journal) else Journal(journal_path)
        events = journal.events()
        if not events or events[0]["kind"] != "search":
            raise AutofastError(f"journal {journal.path} holds no search; start one with ASHA(...).attach(Journal(path))")
        stored = dict(events[0]["payload"])
        if space is not None:
            params["space"] = space_to_data(parse_space(space))
        for key, value in params.items():
            if key not in stored:
                raise AutofastError(f"ASHA.resume: unknown parameter {key!r}")
            if value != stored[key]:
                raise AutofastError(
                    f"ASHA.resume: {key}={value!r} differs from the journal's {stored[key]!r}; "
                    "drop the argument or start a new journal"
                )
        sched = cls(**stored)
        for ev in events[1:]:
            sched._replay(ev)
        sched._reissue = deque(sched._pending)
        sched._journal = journal
        return sched

    def _log(self, kind: str, trial_id=None, rung=None, payload=None) -> None:
        if self._journal is not None:
            self._journal.record(kind, trial_id=trial_id, rung=rung, payload=payload)

    def _replay(self, ev: dict) -> None:
        kind, tid, rung, p = ev["kind"], ev["trial_id"], ev["rung"], ev["payload"]
        if kind == "suggest":
            self._trials[tid] = _Trial(tid, dict(p["config"]))
            self.sampler.register(tid, dict(p["config"]))
        elif kind == "promote":
            self._mark_promoted(tid, p["from_rung"])
        elif kind == "start":
            self._pending[tid] = self._make_job(tid, rung)
        elif kind == "result":
            self._apply_result(tid, rung, p["score"])
        elif kind == "fail":
            self._apply_failure(tid, p["error"])
        elif kind == "checkpoint":
            self._trials[tid].checkpoint = p["path"]
        else:
            raise AutofastError(f"journal event #{ev['seq']} has unknown kind {kind!r}; the journal is corrupt or newer")

    # ------------------------------------------------------------------ ask / tell
    def _key(self, score: float) -> float:
        """Sort key: smaller is better. NaN scores rank last."""
        if score != score:  # NaN
            return math.inf
        return -score if self.mode == "max" else score

    def _ranked(self, rung: int) -> list:
        """Trial ids with a result in ``rung``, best first (ties: lower trial id first)."""
        return [tid for _, tid in self._sorted[rung]]

    def _entry(self, rung: int, tid: int) -> tuple:
        return (self._key(self._rung_results[rung][tid]), tid)

    def _mark_promoted(self, tid: int, rung: int) -> None:
        self._promoted[rung].add(tid)
        if tid in self._rung_results[rung]:
            _discard(self._cands[rung], self._entry(rung, tid))

    def _make_job(self, tid: int, rung: int) -> Job:
        t = self._trials[tid]
        return Job(
            trial_id=tid,
            config=dict(t.config),
            rung=rung,
            resource_from=0 if rung == 0 else self.rungs[rung - 1],
            resource_to=self.rungs[rung],
            checkpoint=t.checkpoint,
        )

    def _find_promotion(self) -> Optional[tuple]:
        """(trial_id, from_rung) of the paper's next promotion, or None: the best promotable trial of
        the highest rung whose rank among all that rung's results is inside the top 1/eta."""
        for k in range(len(self.rungs) - 2, -1, -1):
            cands = self._cands[k]
            if cands and bisect.bisect_left(self._sorted[k], cands[0]) < int(len(self._sorted[k]) // self.eta):
                return cands[0][1], k
        return None

    def ask(self) -> Optional[Job]:
        """The next job, or ``None`` when nothing can be scheduled now (see the module docstring)."""
        while self._reissue:
            tid = self._reissue.popleft()
            if tid in self._pending:  # not told meanwhile
                job = self._pending[tid]
                self._log("start", tid, job.rung, {"resource_from": job.resource_from, "resource_to": job.resource_to, "reissue": True})
                return job
        promo = self._find_promotion()
        if promo is not None:
            tid, k = promo
            self._mark_promoted(tid, k)
            self._log("promote", tid, k + 1, {"from_rung": k})
            return self._start(tid, k + 1)
        if len(self._trials) < self.max_trials and not self.sampler.exhausted(len(self._trials)):
            tid = len(self._trials)
            if tid < len(self.initial):
                config = dict(self.initial[tid])
                self.sampler.register(tid, config)
            else:
                config = self.sampler.suggest(tid)
            self._trials[tid] = _Trial(tid, config)
            self._log("suggest", tid, None, {"config": config})
            return self._start(tid, 0)
        return None

    def _start(self, tid: int, rung: int) -> Job:
        job = self._make_job(tid, rung)
        self._pending[tid] = job
        self._log("start", tid, rung, {"resource_from": job.resource_from, "resource_to": job.resource_to})
        return job

    def _check_pending(self, tid: int, rung: Optional[int]) -> None:
        job = self._pending.get(tid)
        if job is None:
            raise AutofastError(f"trial {tid} has no pending job; tell only results of jobs returned by ask()")
        if rung is not None and job.rung != rung:
            raise AutofastError(f"trial {tid}'s pending job is for rung {job.rung}, not rung {rung}; pass job.rung")

    def tell(self, trial_id: int, rung: int, score: float) -> None:
        """Record the score of the pending job of ``trial_id`` in ``rung`` (``mode`` says which is better)."""
        self._check_pending(trial_id, rung)
        score = float(score)
        self._apply_result(trial_id, rung, score)
        self._log("result", trial_id, rung, {"score": score})

    def tell_failed(self, trial_id: int, error: str) -> None:
        """Mark ``trial_id`` failed: its pending job is dropped and it is never promoted again."""
        if trial_id not in self._trials:
            raise AutofastError(f"unknown trial {trial_id}; tell_failed only trials returned by ask()")
        self._apply_failure(trial_id, str(error))
        self._log("fail", trial_id, None, {"error": str(error)})

    def record_checkpoint(self, trial_id: int, rung: int, path: str) -> None:
        """Note that ``trial_id`` saved a checkpoint at ``path`` after ``rung``; later jobs carry it."""
        if trial_id not in self._trials:
            raise AutofastError(f"unknown trial {trial_id}; record checkpoints only for trials returned by ask()")
        self._trials[trial_id].checkpoint = str(path)
        self._log("checkpoint", trial_id, rung, {"path": str(path)})

    def _apply_result(self, tid: int, rung: int, score: float) -> None:
        self._pending.pop(tid, None)
        if tid in self._rung_results[rung]:  # a re-reported result replaces the old one
            old = self._entry(rung, tid)
            _discard(self._sorted[rung], old)
            _discard(self._cands[rung], old)
        self._trials[tid].scores[rung] = score
        self.sampler.observe(tid, rung, score)
        self._rung_results[rung][tid] = score
        entry = self._entry(rung, tid)
        bisect.insort(self._sorted[rung], entry)
        if tid not in self._promoted[rung] and not self._trials[tid].failed:
            bisect.insort(self._cands[rung], entry)

    def _apply_failure(self, tid: int, error: str) -> None:
        self._pending.pop(tid, None)
        t = self._trials[tid]
        t.failed, t.error = True, error
        self.sampler.failed(tid)
        for rung in t.scores:
            _discard(self._cands[rung], self._entry(rung, tid))

    # ------------------------------------------------------------------ summaries
    def pending(self) -> list:
        """Jobs asked but not yet told, oldest first."""
        return list(self._pending.values())

    def is_finished(self) -> bool:
        """True when no job is pending and :meth:`ask` has nothing left to hand out."""
        return (
            not self._pending
            and (len(self._trials) >= self.max_trials or self.sampler.exhausted(len(self._trials)))
            and self._find_promotion() is None
        )

    def best(self, latest: bool = False) -> Optional[tuple]:
        """``(trial_id, config, score, rung)`` of the best result in the highest rung any trial reached; with
        ``latest``, of the best of every trial's LAST result (its highest rung; ties: the higher rung, then the
        lower trial id).

        ``latest`` suits a search that a time budget ended early, with every trial on one lr schedule to a
        fixed horizon: a lower-rung score is taken mid-schedule and is usually below what the same trial
        reaches later, so a trial that scores above the top rung's lone finisher from a lower rung is the
        better bet (splice: 0.972 at 24 epochs vs 0.963 at 48), and the lone finisher that improved with more
        epochs keeps that result (motif: 0.99 at rung 3 vs 0.96 at rung 2).
        Results of trials that failed later still count (their earlier result was completed).
        ``None`` if no result was told yet.
        """
        if latest:
            last = [(self._key(t.scores[r]), -r, tid, r) for tid, t in self._trials.items() if t.scores
                    for r in [max(t.scores)]]
            if not last:
                return None
            _, _, tid, rung = min(last)
            return tid, dict(self._trials[tid].config), self._trials[tid].scores[rung], rung
        for k in range(len(self.rungs) - 1, -1, -1):
            ranked = self._ranked(k)
            if ranked:
                tid = ranked[0]
                return tid, dict(self._trials[tid].config), self._rung_results[k][tid], k
        return None

    def trials(self) -> list:
        """One dict per started trial: id, config, status, highest rung, trained resource, scores, error."""
        out = []
        for tid, t in self._trials.items():
            top = max(t.scores) if t.scores else -1
            if t.failed:  # the time budget stopping a job is no failure of the trial: its earlier rungs stand
                status = "budget-cut" if (t.error or "").startswith("BudgetExhausted") else "failed"
            elif tid in self._pending:
                status = "running"
            elif top == len(self.rungs) - 1:
                status = "completed"
            else:
                status = "paused"
            out.append(
                {
                    "trial_id": tid,
                    "config": dict(t.config),
                    "status": status,
                    "rung": top,
                    "resource": self.rungs[top] if top >= 0 else 0,
                    "scores": dict(t.scores),
                    "error": t.error,
                    "checkpoint": t.checkpoint,
                }
            )
        return out


def _discard(sorted_list: list, entry: tuple) -> None:
    """Remove ``entry`` from a bisect-sorted list if present."""
    i = bisect.bisect_left(sorted_list, entry)
    if i < len(sorted_list) and sorted_list[i] == entry:
        del sorted_list[i]
