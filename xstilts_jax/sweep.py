"""`xstilts sweep`: the paper's grid as one command per line, for a cluster or a queue.

Baseline; each intermediate task alone; all of them multi-task; each with multilingual masked
LM beside it; translated SQuAD and MNLI per language (XTREME's translate-train sets). Each
line runs one experiment in its own workdir; `--seeds N` repeats the grid with seeds 0..N-1.
"""

from __future__ import annotations

import shlex
from typing import Iterator

from xstilts_jax.tasks import TASK_GROUPS

MLM_LANGUAGES = ("sw", "ur", "te", "mr", "yo")  # low-resource, typologically diverse (research question 1)
TRANSLATED = {
    "translate_train_squad": ("ar", "de", "es", "hi", "vi", "zh"),
    "translate_train_mnli": ("ar", "de", "es", "hi", "ru", "sw", "tr", "vi", "zh"),
}


def experiments() -> Iterator[tuple[str, str]]:
  """(name, config argument) for every experiment of the grid."""
  yield "baseline", ""
  singles = TASK_GROUPS["all_intermediate"]
  for task in singles:
    yield task, f"intermediate={task}"
  yield "multitask", "intermediate=all"
  for task in singles:
    yield f"{task}+mlm", f"intermediate={task},mlm={'+'.join(MLM_LANGUAGES)},mlm_beside"
  yield "mlm-then-all", f"intermediate=all,mlm={'+'.join(MLM_LANGUAGES)}"
  for task, languages in TRANSLATED.items():
    for lang in languages:
      yield f"{task}-{lang}", f"intermediate={task}:{lang}"


def grid(config: str, workdir_root: str, seeds: int = 1) -> list[str]:
  lines = []
  for seed in range(seeds):
    for name, arg in experiments():
      spec = f"{config}:{arg}" if arg else config
      workdir = f"{workdir_root.rstrip('/')}/{name}/seed{seed}"
      lines.append(
          " ".join(
              [
                  "xstilts",
                  "run",
                  "--config",
                  shlex.quote(spec),
                  "--workdir",
                  shlex.quote(workdir),
                  f"--config.seed={seed}",
              ]
          )
      )
  return lines
