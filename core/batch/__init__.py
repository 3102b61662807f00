"""Batch jobs at scale: many photos and motions in one call, on a local process pool or on Ray.

    from avatar_studio.core.batch import JobDefaults, run_batch
    summary = run_batch("photos/", "out/", defaults=JobDefaults(motions=["walk.npz"]), workers=2)

See jobs.py (what JOBS may be, how jobs become tasks), runner.py (scheduling, progress, resume),
engines.py (local pool, Ray) and results.py (the results manifest).
"""
from .jobs import OUTPUT_KINDS, Job, JobDefaults, Task, plan_tasks, read_jobs
from .results import RESULTS_NAME
from .runner import BatchSummary, run_batch

__all__ = ["OUTPUT_KINDS", "RESULTS_NAME", "BatchSummary", "Job", "JobDefaults", "Task", "plan_tasks", "read_jobs",
           "run_batch"]
