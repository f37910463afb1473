"""Classification as text to text (mT5's protocol): the input is the task's text(s) behind a
task prefix, the target the label name; evaluation greedy-decodes the label word.

The prefix is the name of the task that trains the head (`train_task`, else the task), so a
target evaluated on another task's training (XNLI after MNLI) reads the prefix it was trained
with; NLI tasks name their fields premise / hypothesis, others sentence1 / sentence2.
"""

from xstilts_jax.data import features as F
from xstilts_jax.evaluation import evaluate, text_to_text
from xstilts_jax.formats.base import Format, rows_with_targets
from xstilts_jax.tasks.registry import NLI_LABELS
from xstilts_jax.tasks.spec import TaskSpec


def prefix(spec: TaskSpec) -> str:
  return spec.train_task or spec.name


def fields(spec: TaskSpec) -> tuple[str, str, str]:
  """(single sentence, first, second) field names of the input text."""
  if set(spec.labels) == set(NLI_LABELS):
    return ("sentence", "premise", "hypothesis")
  return ("sentence", "sentence1", "sentence2")


def _features(spec, examples, tokenizer, length):
  return F.text_to_text_classification_features(
      examples, tokenizer, spec.labels, length, prefix=prefix(spec), fields=fields(spec)
  )


def _text(ex) -> str:
  return ex.text_a if ex.text_b is None else f"{ex.text_a} {ex.text_b}"


FORMAT = Format(
    name="text_to_text_classification",
    head_kind="seq2seq",
    features=_features,
    train_keys=("input_ids", "attention_mask", "labels"),
    trainable=rows_with_targets,
    text=_text,
    evaluate=text_to_text.evaluate_text_to_text_classification,
    write=evaluate.lines_text,
    labelled=False,  # the seq2seq head writes label words; its width is the vocabulary
)
