"""The format registry: every task resolves, unknown names fail in one line, and no code
outside the format modules and the head / loss tables branches on a format's or kind's name."""

from pathlib import Path
import re

import pytest

from xstilts_jax import formats
from xstilts_jax.data.examples import (
    Answer,
    ClassificationExample,
    MultipleChoiceExample,
    SentenceExample,
    SpanQAExample,
    TaggingExample,
)
from xstilts_jax.errors import ConfigError
from xstilts_jax.models import mt5, mt5_hf
from xstilts_jax.models.hf import HF_HEADS
from xstilts_jax.models.xlmr import HEADS
from xstilts_jax.tasks import registry
from xstilts_jax.tasks.spec import FORMATS as SPEC_FORMATS
from xstilts_jax.tasks.spec import TaskSpec
from xstilts_jax.train.steps import HEADLESS, LABEL_KEYS, LOSSES

PACKAGE = Path(formats.__file__).resolve().parents[1]


def test_every_registered_task_format_resolves():
  assert registry.TASKS
  for name, spec in registry.TASKS.items():
    assert formats.get_format(spec.format).name == spec.format, name


def test_registry_names_every_format_the_specs_know():
  assert tuple(formats.FORMATS) == SPEC_FORMATS


def test_unknown_format_is_a_one_line_error():
  with pytest.raises(ConfigError) as err:
    formats.get_format("seq2seq_poetry")
  message = str(err.value)
  assert "seq2seq_poetry" in message and "\n" not in message
  assert "classification" in message  # names what is known


def test_trained_formats_have_a_head_its_weights_and_a_loss():
  trained = {n: f for n, f in formats.FORMATS.items() if f.train_keys}
  assert set(trained) == {
      "classification",
      "multiple_choice",
      "span_qa",
      "tagging",
      "mlm",
      "text_to_text_classification",
      "text_to_text_span_qa",
      "retrieval_qa",
      "entity_retrieval",
  }
  for name, f in trained.items():
    # XLM-R's heads and weights, or mT5's (text to text: the seq2seq head); the dual encoder has none
    assert (
        (f.head_kind in HEADS and f.head_kind in HF_HEADS)
        or (f.head_kind in mt5.MT5_HEADS and f.head_kind in mt5_hf.HF_HEADS)
        or (f.dual_encoder and f.head_kind in HEADLESS)
    ), name
    assert f.loss is LOSSES[f.head_kind], name
    assert set(f.train_keys) <= {"input_ids", "attention_mask", *LABEL_KEYS[f.head_kind]}, name
  assert set(LABEL_KEYS) == set(LOSSES)  # plan.py's abstract batches read the label keys of every loss
  assert formats.get_format("retrieval").head_kind in HF_HEADS  # the bare encoder
  assert formats.get_format("retrieval").loss is None


def test_train_keys_are_features_the_builder_makes(small_tokenizer):
  specs_and_examples = {
      "classification": (
          TaskSpec("t", "classification", "accuracy", labels=("no", "yes"), max_seq_length=16),
          [ClassificationExample("a", "It rains.", "It is wet.", "yes")],
      ),
      "multiple_choice": (
          TaskSpec("t", "multiple_choice", "accuracy", num_choices=2, max_seq_length=16),
          [MultipleChoiceExample("a", "The sky is", ("blue", "loud"), 0)],
      ),
      "span_qa": (
          TaskSpec("t", "span_qa", "squad", max_seq_length=64),
          [SpanQAExample("a", "Who sleeps?", "The dog sleeps.", (Answer("The dog", 0),))],
      ),
      "tagging": (
          TaskSpec("t", "tagging", "f1", labels=("DET", "NOUN"), max_seq_length=16),
          [TaggingExample("a", ("The", "dog"), ("DET", "NOUN"))],
      ),
      "mlm": (TaskSpec("t", "mlm", "mlm_accuracy", max_seq_length=16), [SentenceExample("a", "The dog sleeps.")]),
  }
  for name, (spec, examples) in specs_and_examples.items():
    fmt = formats.get_format(name)
    feats = formats.task_features(spec, examples, small_tokenizer)
    assert set(fmt.train_keys) <= set(feats), name
    assert fmt.trainable(examples, feats) == 1, name


def test_prediction_files_follow_xtreme_names_and_read_back(tmp_path):
  assert formats.prediction_file_name(registry.get_task("xquad"), "de") == "test-de.json"
  assert formats.prediction_file_name(registry.get_task("pawsx"), "fr", "dev") == "dev-fr.tsv"
  spec = registry.get_task("udpos")
  tags = [["DET", "NOUN"], ["PRON", "VERB", "PUNCT"]]
  path = formats.write_predictions(tmp_path / "p.tsv", spec, tags)
  assert path.read_text(encoding="utf-8") == "DET\nNOUN\n\nPRON\nVERB\nPUNCT\n"
  assert formats.score_files(spec, path, path)["num_examples"] == 2


def test_no_format_ladders_outside_the_format_modules():
  """`format ==` / `kind ==` / `... in (` branches live only in formats/ and the head and loss
  tables (models.xlmr.HEADS, models.mt5.MT5_HEADS, their transformers tables, train.steps.LOSSES).
  demo/ uses `kind` for its grammar's noun phrases, not formats. (Masked LM's "any language" is
  the format's any_language flag: the pipeline gives the spec the language before loading.)"""
  pattern = re.compile(r"\b(format|kind)\s*(==|!=|in \()")
  found = []
  for path in sorted(PACKAGE.rglob("*.py")):
    rel = path.relative_to(PACKAGE).as_posix()
    if rel.startswith(("formats/", "demo/")):
      continue
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
      if pattern.search(line.split("#")[0]):
        found.append(f"{rel}:{n}: {line.strip()}")
  assert not found, "branches on a format's name outside xstilts_jax/formats:\n" + "\n".join(found)
