"""Task specs: what each task is (format, labels, languages, splits, metric, sources)."""

from xstilts_jax.tasks.registry import (
    INTERMEDIATE_TASKS,
    TARGET_TASKS,
    TASK_GROUPS,
    TASKS,
    expand_tasks,
    get_task,
    iso639_3,
)
from xstilts_jax.tasks.spec import TaskSpec

__all__ = [
    "TaskSpec",
    "get_task",
    "TASKS",
    "TASK_GROUPS",
    "INTERMEDIATE_TASKS",
    "TARGET_TASKS",
    "expand_tasks",
    "iso639_3",
]
