"""An experiment's results: phase 3's per-target records summed up into `results.json`, and the
markdown table of `results.md`, `comparison.md` and the run's last lines (the main experiment
beside its baseline). `analysis/` reads what this module writes; the pipeline supplies what
the run did (the facts below) and the records, and decides which process writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Optional

import numpy as np

from xstilts_jax import atomic
from xstilts_jax.evaluation import metrics as M
from xstilts_jax.evaluation.xtreme_r import xtreme_r_score

SCHEMA = 1


def task_summary(record: Mapping[str, Any]) -> dict:
  """One target's entry of results.json from its eval record (eval/<task>.json): the metric, the
  per-language numbers, each number's mean over the languages that have it, the skipped languages."""
  average = {}
  # first-seen order, not a set's: two processes must write the same bytes
  for key in dict.fromkeys(k for scores in record["languages"].values() for k in scores):
    average[key] = float(np.mean([s[key] for s in record["languages"].values() if key in s]))
  return {
      "metric": record["metric"],
      "languages": record["languages"],
      "average": average,
      "skipped": record.get("skipped", {}),
  }


def experiment_results(
    experiment: str,
    records: Mapping[str, Mapping[str, Any]],
    *,
    intermediate: list[str],
    mlm_first: list[str],
    mlm_beside: list[str],
    seed: int,
    model: str,
    synthetic_languages: Optional[dict],
    task_embeddings: dict,
    task_embeddings_fisher: dict,
    task_diversity: dict,
    skipped_rows: dict,
    qa_answer_text: str,
    benchmark: str,
    backbone: str,
    protocol: str,
    data_subset: Optional[dict],
    fingerprint: str,
) -> dict:
  """The content of <exp>/results.json (schema 1) from the eval records of its targets, in the
  config's target order, and what the run did: the MLM phases it ran (a baseline beside an
  MLM-beside run does none), the model, the data. On synthetic data every language a task was
  evaluated in counts towards the XTREME scores; on real data, the benchmarks' own languages."""
  tasks = {target: task_summary(rec) for target, rec in records.items()}
  splits = {target: rec["split"] for target, rec in records.items()}
  scores = {t: r["languages"] for t, r in tasks.items()}
  languages = {t: list(r["languages"]) for t, r in tasks.items()} if synthetic_languages else None
  results = {
      "schema": SCHEMA,
      "experiment": experiment,
      "intermediate": list(intermediate),
      "mlm_languages": mlm_first + mlm_beside,
      "mlm_beside": bool(mlm_beside),
      "mlm": {"first": mlm_first, "beside": mlm_beside},
      "translated": any(":" in t for t in intermediate),
      "seed": seed,
      "model": model,
      "data": "synthetic" if synthetic_languages else "xtreme",
      "eval_split": splits,
      "tasks": tasks,
      "xtreme": M.xtreme_score(scores, languages),
      "xtreme_r": xtreme_r_score(scores, languages),
      "languages": synthetic_languages or {},
      "task_embeddings": task_embeddings,  # TextEmb, from the base encoder
      "task_embeddings_fisher": task_embeddings_fisher,  # TaskEmb, from the model each phase trained
      "task_diversity": task_diversity,
      "skipped_rows": skipped_rows,
      "qa_answer_text": qa_answer_text,  # span-QA answer text: offsets | xtreme
      "benchmark": benchmark,
      "backbone": backbone,
      "protocol": protocol,
      # {task, subset, ...} when data.data_dir is a subset written by `xstilts select`, else None
      "data_subset": data_subset,
  }
  results["fingerprint"] = fingerprint
  return results


def results_table(results: dict, baseline: Optional[dict] = None) -> str:
  """Markdown: one row per target task, one column per language, the task's main number."""
  lines = []
  for task, rec in results["tasks"].items():
    langs = list(rec["languages"])
    head = f"| {task} ({rec['metric']}) | " + " | ".join(langs) + " | avg |"
    lines += [head, "|" + "---|" * (len(langs) + 2)]

    def row(r, name):
      vals = [M.main_score(r["metric"], r["languages"][l]) if l in r["languages"] else float("nan") for l in langs]
      return f"| {name} | " + " | ".join(f"{v:.1f}" for v in vals) + f" | {np.nanmean(vals):.1f} |", vals

    text, mine = row(rec, results["experiment"])
    lines.append(text)
    if baseline and task in baseline["tasks"]:
      btext, base = row(baseline["tasks"][task], "baseline")
      delta = [a - b for a, b in zip(mine, base)]
      lines += [btext, "| delta | " + " | ".join(f"{d:+.1f}" for d in delta) + f" | {np.nanmean(delta):+.1f} |"]
    lines.append("")
  for key, name in (("xtreme", "XTREME"), ("xtreme_r", "XTREME-R")):
    score = (results.get(key) or {}).get("overall")
    if score is None:
      continue
    lines.append(f"{name}-style score over these tasks and languages: {score:.1f}")
    base = ((baseline or {}).get(key) or {}).get("overall")
    if base is not None:
      lines.append(f"baseline: {base:.1f}  (delta {score - base:+.1f})")
  return "\n".join(lines) + "\n"


def write_results(exp: Path, results: dict) -> None:
  """<exp>/results.json, whole or not at all."""
  atomic.write_json(exp / "results.json", results)


def write_tables(root: Path, experiment: str, main: dict, baseline: Optional[dict] = None) -> str:
  """The table of `main` (beside `baseline`, when there is one) as <root>/<experiment>/results.md
  and, with a baseline, <root>/comparison.md, each whole or not at all; returns the table."""
  table = results_table(main, baseline)
  atomic.write_text(root / experiment / "results.md", table)
  if baseline:
    atomic.write_text(root / "comparison.md", table)
  return table
