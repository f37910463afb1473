"""`xstilts plan`: the steps a config runs, compiled for a real TPU topology by libtpu's
compile-only client (no TPU here), with XLA:TPU's memory plan and cost counts read back."""

import json

from flax import nnx
import numpy as np
import pytest

from xstilts_jax import cli, plan
from xstilts_jax import sharding as shd
from xstilts_jax.errors import ConfigError
from xstilts_jax.models import num_layers
from xstilts_jax.models.xlmr import ModelOptions, XLMRModel, count_params

TINY = [
    "model.build.enabled=true",
    "model.build.hidden_size=64",
    "model.build.num_hidden_layers=2",
    "model.build.num_attention_heads=4",
    "model.build.intermediate_size=128",
    "model.build.vocab_size=1000",
    "model.retrieval_layer=1",
    "eval.batch_size=8",
]


def _config(arg: str, *overrides: str):
  return cli.apply_overrides(cli.load_config(f"xstilts:{arg}"), [*TINY, *overrides])


def test_topology_names():
  assert set(plan.CHIPS) >= {"v4", "v5e", "v5p", "v6e"}
  assert plan.parse_topology("v5e:2x4") == (plan.CHIPS["v5e"], "2x4")
  assert plan.parse_topology("v5e-8") == (plan.CHIPS["v5e"], "2x4")
  assert plan.parse_topology("v4-8") == (plan.CHIPS["v4"], "2x2x1")
  assert plan.parse_topology("v5p-8") == (plan.CHIPS["v5p"], "2x2x1")
  for bad in ("v9:2x2", "v5e:2xx", "v5e-3", "tpu"):
    with pytest.raises(ConfigError):
      plan.parse_topology(bad)
  # The published figures (Cloud TPU docs): HBM GiB, bf16 TFLOP/s, HBM GB/s per chip.
  assert (plan.CHIPS["v5e"].hbm_gib, plan.CHIPS["v5e"].peak_bf16_flops, plan.CHIPS["v5e"].hbm_bytes_per_s) == (
      16.0,
      197e12,
      819e9,
  )
  assert [len(plan.topology_devices(*plan.parse_topology(t))) for t in ("v5e:1x1", "v5e:2x2", "v4-8", "v5p-8")] == [
      1,
      4,
      4,
      4,
  ]


def test_run_steps_follow_the_config():
  # X-STILTs with jiant's settings: SQuAD intermediate at 4 x 256, XQuAD fine-tuned on SQuAD at
  # 4 x 384 with 4 micro-batches, XNLI on MNLI at 4 x 256 with 8, Tatoeba pooled at length 512; eval batches of 8.
  config = _config("intermediate=squad_v1,target=xquad+xnli+tatoeba")
  steps = plan.run_steps(config, batch_unit=4)
  got = [(s.phase, s.task, s.mode, s.head_kind, s.micro_rows, s.accum, s.seq) for s in steps]
  assert got == [
      ("intermediate", "squad_v1", "train", "span", 4, 1, 256),
      ("target:xquad", "squad_v1", "train", "span", 4, 4, 384),
      ("target:xquad dev", "squad_v1", "eval", "span", 8, 1, 384),
      ("eval", "xquad", "eval", "span", 8, 1, 384),
      ("target:xnli", "mnli", "train", "classification", 4, 8, 256),
      ("target:xnli dev", "mnli", "eval", "classification", 8, 1, 256),
      ("eval", "xnli", "eval", "classification", 8, 1, 256),
      ("eval", "tatoeba", "eval", "retrieval", 8, 1, 512),
      ("results", "task embeddings", "eval", "retrieval", 8, 1, 128),
  ]
  assert dict(steps[4].heads)["target"].num_labels == 3
  # Micro-batches are padded to what the batch axes divide: 4 rows over 8 chips become 8.
  assert plan.run_steps(config, batch_unit=8)[0].micro_rows == 8


def test_tiny_train_and_eval_steps_compile_for_v5e_2x2():
  # Dimensions that are multiples of 128 after a 4-way split, so TPU tiles add no padding.
  config = _config(
      "intermediate=squad_v1,target=",
      "intermediate.max_seq_length=64",
      "intermediate.accum_steps=2",
      "model.build.hidden_size=512",
      "model.build.num_attention_heads=8",
      "model.build.intermediate_size=1024",
      "model.build.vocab_size=1024",
  )
  chip, shape = plan.parse_topology("v5e:2x2")
  devices = plan.topology_devices(chip, shape)
  cfg = plan.model_config(config)
  steps = plan.run_steps(config, batch_unit=4)
  assert [(s.mode, s.head_kind) for s in steps] == [("train", "span"), ("eval", "retrieval")]
  n_params = count_params(XLMRModel(cfg, dict(steps[0].heads), rngs=nnx.Rngs(0)))

  reports = {}
  for mesh_shape in ({"data": 1, "fsdp": -1, "tensor": 1}, {"data": -1, "fsdp": 1, "tensor": 1}):
    partitioner = shd.Partitioner.from_config(mesh_shape, config.sharding_rules, devices=devices)
    mesh = partitioner.mesh
    for step in steps if mesh.shape["fsdp"] > 1 else steps[:1]:
      compiled, seconds = plan.compile_step(step, cfg, partitioner, np.float32, ModelOptions())
      r = plan.step_report(step, compiled, seconds, chip, len(devices), cfg)
      reports[(mesh.shape["fsdp"], step.mode)] = r
      assert r["compile_s"] > 0 and r["xla_flops_per_chip"] > 0 and r["xla_bytes_per_chip"] > 0
      assert r["arguments_gib"] > 0 and r["temporaries_gib"] >= 0 and r["code_gib"] > 0
      assert r["fits"] and r["roofline_s"] > 0 and 0 < r["mfu"] < 1
      assert r["per_chip_gib"] == pytest.approx(
          r["arguments_gib"] + r["outputs_gib"] + r["temporaries_gib"] + r["code_gib"]
      )
      assert r["tokens"] == step.rows * step.seq and r["batch"] == step.rows

  gib = 1024**3
  # Replicated (data parallel): every chip holds all float32 parameters and both Adam moments.
  replicated = reports[(1, "train")]["arguments_gib"] * gib
  assert 3 * 4 * n_params <= replicated < 3 * 4 * n_params * 1.05 + 1e5
  # FSDP over 4 chips: the embedding dimension (512) splits 4 ways, so each holds about a quarter.
  fsdp = reports[(4, "train")]["arguments_gib"] * gib
  assert 3 * 4 * n_params / 4 <= fsdp < 3 * 4 * n_params / 4 * 1.1 + 1e5
  # The donated state comes back in place: outputs beyond the arguments are only the metrics.
  assert reports[(4, "train")]["outputs_gib"] * gib < 1e4


class _Compiled:
  """A stand-in for a compiled program with chosen memory and cost figures."""

  def __init__(self, flops, bytes_accessed):
    self.cost = {"flops": flops, "bytes accessed": bytes_accessed}

  def memory_analysis(self):
    import types

    return types.SimpleNamespace(
        argument_size_in_bytes=2 * 1024**3,
        output_size_in_bytes=2 * 1024**3 + 100,
        alias_size_in_bytes=2 * 1024**3,
        temp_size_in_bytes=5 * 1024**3,
        generated_code_size_in_bytes=0,
    )

  def cost_analysis(self):
    return self.cost


def test_roofline_arithmetic():
  from xstilts_jax.models.xlmr import XLMRConfig

  cfg = XLMRConfig(hidden_size=1024, num_hidden_layers=24, intermediate_size=4096)
  step = plan.StepSpec("p", "t", "train", "span", None, (), micro_rows=4, accum=8, seq=384)
  chip = plan.CHIPS["v5e"]
  tokens = 32 * 384
  # 12 h^2 per layer and token (attention 4 h^2, MLP 8 h^2), 2 FLOPs each, x3 for the backward
  # pass, plus 2 x 2 h seq per layer and token for scores and values, x3.
  analytic = 3 * (2 * 24 * 12 * 1024**2 * tokens + 4 * 24 * 1024 * 384 * tokens)
  # Compute-bound, counts complete: time = flops / peak.
  r = plan.step_report(step, _Compiled(analytic / 8 * 1.2, 1e9), 1.0, chip, 8, cfg)
  assert r["model_flops"] == pytest.approx(analytic)
  assert r["loop_scale"] == 1.0 and r["bound"] == "compute"
  assert r["roofline_s"] == pytest.approx(analytic / 8 * 1.2 / 197e12)
  assert r["mfu"] == pytest.approx(1 / 1.2)
  assert r["tokens_per_s"] == pytest.approx(tokens / r["roofline_s"])
  assert r["per_chip_gib"] == pytest.approx(7.0, abs=1e-6) and r["fits"]
  # XLA counted the accumulation loop's body once (an eighth): both counts scale by 8.
  r = plan.step_report(step, _Compiled(analytic / 8 / 8, 1e12 / 8), 1.0, chip, 8, cfg)
  assert r["loop_scale"] == pytest.approx(8.0) and r["bound"] == "memory"
  assert r["roofline_s"] == pytest.approx(1e12 / 819e9)


def test_plan_exits_nonzero_when_a_step_does_not_fit(capsys):
  # 2M x 1024 float32 embeddings: 7.6 GiB of parameters, 23 GiB with Adam's moments, on one 16 GiB chip.
  argv = [
      "plan",
      "--topology",
      "v5e:1x1",
      "--json",
      "--config",
      "xstilts:intermediate=squad_v1,target=",
      *[f"--config.{o}" for o in TINY],
      "--config.model.build.vocab_size=2000000",
      "--config.model.build.hidden_size=1024",
      "--config.model.build.num_hidden_layers=1",
      "--config.model.build.num_attention_heads=16",
      "--config.intermediate.max_seq_length=32",
  ]
  assert cli.main(argv) == 1
  out = json.loads(capsys.readouterr().out)
  assert out["topology"] == "v5e:1x1" and out["chips"] == 1 and out["hbm_gib_per_chip"] == 16.0
  train, embed = out["steps"]
  # XLA:TPU refuses to compile it, saying what it would need; the plan records that.
  assert train["kind"] == "train" and not train["fits"] and train["per_chip_gib"] > 16.0
  assert "RESOURCE_EXHAUSTED" in train["error"]
  embedding_gib = 2_000_000 * 1024 * 4 / 1024**3
  assert embed["kind"] == "eval" and embed["fits"] and embedding_gib < embed["per_chip_gib"] < 16.0
  assert not out["fits"]


# ----------------------------------------------------------------------------- launch/tpu_run.sh


def _tpu_run(tmp_path, plan_exit: int, *args: str):
  """launch/tpu_run.sh with a fake xstilts (exits `plan_exit`) and a fake gcloud, both logging argv."""
  import os
  from pathlib import Path
  import subprocess

  calls = tmp_path / "calls"
  for name, rc in (("xstilts", plan_exit), ("gcloud", 0)):
    fake = tmp_path / name
    fake.write_text(f'#!/bin/sh\necho "{name} $*" >> {calls}\nexit {rc}\n')
    fake.chmod(0o755)
  env = {k: v for k, v in os.environ.items() if k not in ("DRY_RUN", "XSTILTS_TOPOLOGY")}
  env.update(PATH=f"{tmp_path}{os.pathsep}{env['PATH']}", XSTILTS_BIN=str(tmp_path / "xstilts"))
  script = Path(__file__).resolve().parents[1] / "launch" / "tpu_run.sh"
  result = subprocess.run(
      ["bash", str(script), "xs", "--zone", "z", "--workdir", "/mnt/gcs/b/r", *args],
      capture_output=True,
      text=True,
      env=env,
      timeout=30,
  )
  return result, calls.read_text().splitlines() if calls.exists() else []


def test_tpu_run_plans_first_and_refuses_what_does_not_fit(tmp_path):
  run_args = ["--", "--config", "configs/xstilts.py:intermediate=squad_v1", "--config.model.remat=full"]
  result, calls = _tpu_run(tmp_path, 0, "--topology", "v5e-8", *run_args)
  assert result.returncode == 0, result.stderr
  assert calls[0] == "xstilts plan --topology v5e-8 " + " ".join(run_args[1:])
  assert calls[1].startswith("gcloud compute tpus tpu-vm ssh xs")

  (tmp_path / "calls").unlink()
  result, calls = _tpu_run(tmp_path, 1, "--topology", "v5e-8", *run_args)
  assert result.returncode == 2 and "does not fit on v5e-8" in result.stderr and "--skip-plan" in result.stderr
  assert [c.split()[0] for c in calls] == ["xstilts"]  # no TPU command after a refused plan

  (tmp_path / "calls").unlink()
  result, calls = _tpu_run(tmp_path, 1, "--topology", "v5e-8", "--skip-plan", *run_args)
  assert result.returncode == 0 and [c.split()[0] for c in calls] == ["gcloud"]


def test_tpu_preset_fills_the_mesh_and_keeps_jiants_effective_batch():
  plain = cli.load_config("xstilts:intermediate=squad_v1")
  tpu = cli.load_config("xstilts:intermediate=squad_v1,tpu=v5e-8")
  assert dict(tpu.mesh) == {"data": 1, "fsdp": -1, "tensor": 1} and tpu.model.dtype == "bfloat16"
  for task, (batch, accum) in (("xnli", (4, 8)), ("xquad", (4, 4))):  # jiant: 4 x 8 and 4 x 4
    assert (plain.targets.per_task[task]["batch_size"], plain.targets.per_task[task]["accum_steps"]) == (batch, accum)
    assert (tpu.targets.per_task[task]["batch_size"], tpu.targets.per_task[task]["accum_steps"]) == (batch * accum, 1)
  # 4 rows do not fill 8 chips: the intermediate phase keeps jiant's 4 (padded to 8 rows per step).
  assert (tpu.intermediate.batch_size, tpu.intermediate.accum_steps) == (4, 1)
  steps = plan.run_steps(tpu, batch_unit=8)
  assert [(s.phase, s.micro_rows, s.accum) for s in steps if s.mode == "train"][:3] == [
      ("intermediate", 8, 1),
      ("target:xnli", 32, 1),
      ("target:pawsx", 32, 1),
  ]


# ----------------------------------------------------------------------------- mT5 (issue 17)


def _mt5_checkpoint(path, **dims):
  """A config.json of a tiny mT5 (no weights: plan reads shapes only)."""
  hf = dict(
      model_type="mt5",
      architectures=["MT5ForConditionalGeneration"],
      vocab_size=1024,
      d_model=512,
      d_kv=64,
      d_ff=1024,
      num_layers=2,
      num_decoder_layers=2,
      num_heads=8,
      feed_forward_proj="gated-gelu",
      **dims,
  )
  path.mkdir(parents=True, exist_ok=True)
  (path / "config.json").write_text(json.dumps(hf))
  return path


def test_mt5_config_arguments_are_recorded_and_checked():
  from xstilts_jax.models.mt5 import mt5_config

  c = cli.load_config("xstilts:intermediate=squad_v1,model=mt5-large,protocol=text-to-text")
  assert (c.model.checkpoint, c.model.backbone, c.protocol, c.optimizer.name) == (
      "google/mt5-large",
      "mt5",
      "text-to-text",
      "adafactor",
  )
  # T5X's fine-tuning: a constant 1e-3, no warmup, no weight decay, no global-norm clipping.
  for hp in (c.intermediate, c.targets.defaults, c.mlm.phase):
    assert (hp.learning_rate, hp.warmup_fraction, hp.weight_decay, hp.grad_clip_norm) == (1e-3, 0.0, 0.0, 0.0)
  assert plan.model_config(c) == mt5_config("large")
  xlmr = cli.load_config("xstilts:intermediate=squad_v1")
  assert (xlmr.model.backbone, xlmr.protocol, xlmr.intermediate.learning_rate) == ("xlmr", "heads", 1e-5)
  assert "name" not in xlmr.optimizer
  for arg, message in (
      ("model=mt5-tiny", "model='mt5-tiny' is not one of large, base, mt5-small, mt5-base, mt5-large"),
      ("model=larg", "model='larg' is not one of large, base, mt5-small"),
      ("protocol=t2t", "protocol='t2t' is not one of heads, text-to-text"),
      ("protocol=text-to-text", "protocol=text-to-text needs an mT5 model"),
  ):
    with pytest.raises(ConfigError, match=message):
      cli.load_config(f"xstilts:{arg}")


def test_xstilts_run_refuses_a_task_without_a_text_to_text_format_in_one_line(capsys, tmp_path):
  """Before anything is fetched or written (mt5-small is not downloaded here)."""
  config = "xstilts:intermediate=mnli,target=xnli+xquad+panx,model=mt5-small,protocol=text-to-text"
  assert cli.main(["run", "--config", config, "--workdir", str(tmp_path / "w")]) == 2
  err = capsys.readouterr().err.strip()
  assert err == (
      "xstilts: error: targets.tasks: panx (tagging) has no text-to-text format yet "
      "(text-to-text runs classification, span_qa tasks); drop it or use protocol=heads"
  )
  assert not (tmp_path / "w").exists()


def test_read_model_config_reads_mt5_and_names_unknown_model_types(tmp_path):
  from xstilts_jax.errors import ModelError
  from xstilts_jax.models.hf import read_hf_config, read_model_config
  from xstilts_jax.models.mt5 import MT5Config

  ckpt = _mt5_checkpoint(tmp_path / "mt5", relative_attention_num_buckets=16)
  got = read_model_config(ckpt)
  assert isinstance(got, MT5Config)
  assert (got.d_model, got.num_layers, got.num_heads, got.relative_attention_num_buckets) == (512, 2, 8, 16)
  assert read_hf_config(ckpt)["model_type"] == "mt5"
  # A local mT5 directory as model= is an mT5 run (Adafactor), read by plan without the hub.
  c = cli.load_config(f"xstilts:intermediate=squad_v1,model={ckpt}")
  assert (c.model.backbone, c.optimizer.name, plan.model_config(c)) == ("mt5", "adafactor", got)
  (tmp_path / "bert").mkdir()
  (tmp_path / "bert" / "config.json").write_text(json.dumps({"model_type": "bert", "architectures": ["BertModel"]}))
  with pytest.raises(ModelError, match=r"model_type is 'bert', not one of xlm-roberta, mt5 \(architectures"):
    read_model_config(tmp_path / "bert")
  with pytest.raises(ModelError, match="model_type is 'mt5', not one of xlm-roberta"):
    read_hf_config(ckpt, ("xlm-roberta",))


def test_mt5_model_flops_by_hand():
  from xstilts_jax.models.mt5 import mt5_config

  cfg = mt5_config("large")  # d_model 1024, 16 heads x 64, d_ff 2816, 24 layers
  tokens, seq = 8 * 256, 256
  per_token = 4 * 1024 * 1024 + 3 * 1024 * 2816  # q, k, v, o; wi_0, wi_1, wo
  forward = 2 * 24 * per_token * tokens + 4 * 24 * 1024 * seq * tokens
  assert plan.model_flops(cfg, tokens, seq, train=False) == pytest.approx(forward)
  assert plan.model_flops(cfg, tokens, seq, train=True) == pytest.approx(3 * forward)


def test_tiny_mt5_plan_compiles_with_adafactor_for_v5e_2x2(tmp_path):
  """Through `plan` itself: an mT5 encoder with a span head trains with Adafactor, whose
  factored statistics are small, so each chip's arguments are about a quarter of the float32
  parameters (AdamW's two moments would triple them)."""
  from xstilts_jax.models.mt5 import MT5Model

  ckpt = _mt5_checkpoint(tmp_path / "mt5")
  config = cli.apply_overrides(
      cli.load_config(f"xstilts:intermediate=squad_v1,target=,model={ckpt}"),
      ["intermediate.max_seq_length=64", "eval.batch_size=8", "mesh.data=1", "mesh.fsdp=-1"],
  )
  out = plan.plan(config, "v5e:2x2")
  assert (out["backbone"], out["optimizer"], out["mesh"]["fsdp"]) == ("mt5", "adafactor", 4)
  train = out["steps"][0]
  assert (train["phase"], train["kind"], train["head"]) == ("intermediate", "train", "span")
  assert train["fits"] and train["compile_s"] > 0 and 0 < train["mfu"] < 1
  cfg = plan.model_config(config)
  heads = dict(plan.run_steps(config, batch_unit=4)[0].heads)
  n_params = count_params(MT5Model(cfg, heads, rngs=nnx.Rngs(0)))
  arguments = train["arguments_gib"] * 1024**3
  assert 4 * n_params / 4 <= arguments < 4 * n_params / 4 * 1.1 + 1e5
  assert [s["kind"] for s in out["steps"]] == ["train", "eval"] and out["fits"]


def test_plan_refuses_the_text_to_text_protocol_for_now():
  config = cli.load_config("xstilts:intermediate=mnli,target=,model=mt5-small,protocol=text-to-text")
  with pytest.raises(ConfigError, match="protocol 'text-to-text': plan compiles the heads protocol only"):
    plan.plan(config, "v5e:2x2")


@pytest.mark.parametrize("variant, model_type, lm_kind", [("", "XLMRConfig", "mlm"), (",mt5", "MT5Config", "seq2seq")])
def test_the_demo_plan_has_the_backbone_the_demo_builds(variant, model_type, lm_kind):
  """`xstilts plan` of the embedded default plans the small model its backbone builds (mT5 for
  demo:quick,mt5, not an XLM-R of the same sizes) and its LM phases through that model's LM head."""
  config = cli.load_config(f"demo:quick{variant}")
  cfg = plan.model_config(config)
  assert type(cfg).__name__ == model_type
  b = config.model.build
  assert num_layers(cfg) == b.num_hidden_layers and cfg.vocab_size == b.vocab_size
  lm = [s for s in plan.run_steps(config, batch_unit=4) if s.phase in ("pretrain", "mlm")]
  assert [s.phase for s in lm] == ["pretrain", "mlm"]
  assert {(s.head_kind, s.head) for s in lm} == {(lm_kind, lm_kind)}
