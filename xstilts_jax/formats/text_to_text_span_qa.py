"""Extractive QA as text to text (mT5's protocol for XQuAD, MLQA, TyDiQA-GoldP and SQuAD): the
input is "question: ... context: ..." (T5's SQuAD inputs) truncated to max_seq_length, without
span QA's windows; the target is the first gold answer's text, at most
features.TEXT_QA_ANSWER_LENGTH tokens. Evaluation greedy-decodes that many tokens and scores
the decoded text with the task's official QA metric exactly as span QA's answers (all gold
answers, MLQA's normalisation of the language), into the same JSON prediction file.
"""

from xstilts_jax.data import features as F
from xstilts_jax.evaluation import text_to_text
from xstilts_jax.formats.base import Format, rows_with_targets
from xstilts_jax.formats.span_qa import FORMAT as SPAN_QA

FORMAT = Format(
    name="text_to_text_span_qa",
    head_kind="seq2seq",
    features=lambda spec, examples, tokenizer, length: F.text_to_text_span_qa_features(examples, tokenizer, length),
    train_keys=("input_ids", "attention_mask", "labels"),
    trainable=rows_with_targets,
    nothing_to_learn=SPAN_QA.nothing_to_learn,
    text=SPAN_QA.text,
    evaluate=text_to_text.evaluate_text_to_text_span_qa,
    write=SPAN_QA.write,  # span QA's prediction file, read back by its scorer
    suffix=SPAN_QA.suffix,
    score=SPAN_QA.score,
)
