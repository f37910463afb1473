"""The training engine: sharded == single device, accumulation == big batch, torch AdamW parity,
checkpoints across meshes, SIGKILL + resume == uninterrupted, two hosts == one."""

import dataclasses
import json
import os
from pathlib import Path
import shutil
import signal
import socket
import subprocess
import sys
import time

from flax import nnx
import jax
import numpy as np
import pytest
from tiny_xlmr import TINY_XLMR
import torch
import transformers as T

from xstilts_jax import load_hf
from xstilts_jax import sharding as shd
from xstilts_jax.models.xlmr import HeadSpec, XLMRModel
from xstilts_jax.train import optim
from xstilts_jax.train import state as train_state
from xstilts_jax.train import steps as train_steps
from xstilts_jax.train.checkpoint import Checkpointer, abstract_like
from xstilts_jax.train.loop import task_probabilities

JOB = Path(__file__).with_name("train_job.py")
CFG = TINY_XLMR


def _mesh(d, f, t):
  return shd.make_mesh({"data": d, "fsdp": f, "tensor": t}, devices=jax.devices()[: d * f * t])


def _batches(kind, rows, n=5, seed=0):
  rng = np.random.default_rng(seed)
  out = []
  for _ in range(n):
    ids = rng.integers(3, 64, size=(rows, 16)).astype(np.int32)
    ids[:, 0] = 0
    ids[: rows // 2, -5:] = 1  # padded rows of different lengths
    mask = (ids != 1).astype(np.int32)
    b = {"input_ids": ids, "attention_mask": mask, "mask": np.ones(rows, np.int32)}
    if kind == "classification":
      b["label"] = rng.integers(0, 3, rows).astype(np.int32)
    else:
      b["label_ids"] = np.where(mask == 1, rng.integers(0, 5, ids.shape), -100).astype(np.int32)
    out.append(b)
  return out


def _run(mesh, kind, batches, accum=1, cfg=CFG, lr=1e-3):
  model = XLMRModel(cfg, {"h": HeadSpec(kind, 3 if kind == "classification" else 5)}, rngs=nnx.Rngs(0))
  ocfg = optim.OptimizerConfig(learning_rate=lr, total_steps=10)
  tx = optim.make_transform(ocfg)
  partitioner = shd.Partitioner(mesh, constrain_activations=False)  # the default rules; activations left to XLA
  layout, state, shardings = train_state.create_state(model, tx, partitioner)
  step = train_steps.jit_train_step(
      train_steps.make_train_step(layout, "h", kind, tx, optim.make_schedule(ocfg), 1.0, accum, partitioner),
      shardings,
      partitioner,
  )
  losses = []
  for i, b in enumerate(batches):
    state, metrics = step(state, partitioner.global_batch(b))
    losses.append(float(metrics["loss"]))
  return np.array(losses), state, layout


@pytest.mark.parametrize("kind", ["classification", "tagging"])
def test_eight_devices_equal_one(kind):
  batches = _batches(kind, 8)
  one, s1, _ = _run(_mesh(1, 1, 1), kind, batches)
  eight, s8, _ = _run(_mesh(2, 2, 2), kind, batches)
  np.testing.assert_allclose(eight, one, rtol=1e-5)
  assert np.ptp(one) > 1e-4  # the steps change the model
  k = "encoder.layers.0.intermediate.kernel"
  assert s8["params"]["encoder"][k].sharding.spec == jax.sharding.PartitionSpec("fsdp", "tensor")
  assert s8["opt"]["encoder"][0].mu[k].sharding.spec == jax.sharding.PartitionSpec("fsdp", "tensor")
  np.testing.assert_allclose(np.asarray(s8["params"]["encoder"][k]), np.asarray(s1["params"]["encoder"][k]), atol=1e-5)


def test_gradient_accumulation_equals_one_big_batch():
  big = _batches("tagging", 16)  # a token-level loss: per-micro-batch means would not add up
  one, s1, _ = _run(_mesh(2, 2, 1), "tagging", big, accum=1)
  four, s4, _ = _run(_mesh(2, 2, 1), "tagging", big, accum=4)
  np.testing.assert_allclose(four, one, rtol=1e-5)
  for k, v in s1["params"]["encoder"].items():
    np.testing.assert_allclose(np.asarray(s4["params"]["encoder"][k]), np.asarray(v), atol=2e-6, err_msg=k)


def test_train_step_matches_torch_adamw(tmp_path):
  """Three steps against transformers' model + torch AdamW (no decay on bias/LayerNorm) + linear
  warmup schedule + clip_grad_norm_: the jiant recipe."""
  hf_cfg = T.XLMRobertaConfig(
      vocab_size=64,
      hidden_size=32,
      num_hidden_layers=2,
      num_attention_heads=4,
      intermediate_size=64,
      max_position_embeddings=40,
      num_labels=3,
      hidden_dropout_prob=0.0,
      attention_probs_dropout_prob=0.0,
      type_vocab_size=1,
  )
  torch.manual_seed(0)
  ref = T.XLMRobertaForSequenceClassification(hf_cfg)
  ref.save_pretrained(tmp_path)
  model = load_hf(str(tmp_path), head="classification")
  ocfg = optim.OptimizerConfig(learning_rate=5e-3, total_steps=10, warmup_fraction=0.2, grad_clip_norm=0.5)
  no_decay = [p for n, p in ref.named_parameters() if n.endswith("bias") or "LayerNorm" in n or "layer_norm" in n]
  decay = [p for n, p in ref.named_parameters() if not (n.endswith("bias") or "LayerNorm" in n or "layer_norm" in n)]
  opt = torch.optim.AdamW(
      [{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
      lr=ocfg.learning_rate,
      eps=1e-8,
  )
  sched = T.get_linear_schedule_with_warmup(opt, 2, 10)
  batches = _batches("classification", 8, n=3, seed=5)
  torch_losses = []
  for b in batches:
    out = ref(
        input_ids=torch.tensor(b["input_ids"], dtype=torch.long),
        attention_mask=torch.tensor(b["attention_mask"], dtype=torch.long),
        labels=torch.tensor(b["label"], dtype=torch.long),
    )
    opt.zero_grad()
    out.loss.backward()
    torch.nn.utils.clip_grad_norm_(ref.parameters(), 0.5)
    opt.step()
    sched.step()
    torch_losses.append(out.loss.item())

  partitioner = shd.Partitioner(_mesh(1, 1, 1), constrain_activations=False)
  tx = optim.make_transform(ocfg)
  layout, state, shardings = train_state.create_state(model, tx, partitioner)
  step = train_steps.jit_train_step(
      train_steps.make_train_step(
          layout, "classification", "classification", tx, optim.make_schedule(ocfg), 0.5, 1, partitioner
      ),
      shardings,
      partitioner,
  )
  losses = []
  for i, b in enumerate(batches):
    state, m = step(state, partitioner.global_batch({**b, "mask": np.ones(8, np.int32)}))
    losses.append(float(m["loss"]))
  np.testing.assert_allclose(losses, torch_losses, rtol=1e-4)
  got = np.asarray(state["params"]["encoder"]["encoder.layers.1.output.kernel"])
  want = ref.roberta.encoder.layer[1].output.dense.weight.detach().numpy().T
  np.testing.assert_allclose(got, want, atol=1e-5)
  got = np.asarray(state["params"]["heads"]["classification"]["heads.classification.out_proj.bias"])
  np.testing.assert_allclose(got, ref.classifier.out_proj.bias.detach().numpy(), atol=1e-5)


def test_learning_rate_schedule_matches_transformers():
  ocfg = optim.OptimizerConfig(learning_rate=1.0, total_steps=50, warmup_fraction=0.1)
  sched = optim.make_schedule(ocfg)
  opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
  ref = T.get_linear_schedule_with_warmup(opt, 5, 50)
  for s in range(50):
    assert abs(float(sched(s)) - ref.get_last_lr()[0]) < 1e-6, s
    opt.step()
    ref.step()


def test_partitioner_reads_config_rules_and_refuses_malformed_ones():
  from xstilts_jax.errors import ConfigError

  mesh = _mesh(2, 2, 2)
  as_config = [["vocab", ["tensor"]], ["embed", ["fsdp"]], ["activation_batch", ["data", "fsdp"]], ["labels", []]]
  p = shd.Partitioner(mesh, as_config)
  assert p.rules == (
      ("vocab", ("tensor",)),
      ("embed", ("fsdp",)),
      ("activation_batch", ("data", "fsdp")),
      ("labels", ()),
  )
  assert p == shd.Partitioner(mesh, tuple((n, tuple(a)) for n, a in as_config))  # one cache key for equal tables
  # By hand: [64 vocab, 32 embed] -> (tensor, fsdp); a batch of 8 over data x fsdp = 4 devices; 6 labels whole.
  assert p.spec_for(("vocab", "embed"), (64, 32)) == jax.sharding.PartitionSpec("tensor", "fsdp")
  assert p.spec_for(("activation_batch", "labels"), (8, 6)) == jax.sharding.PartitionSpec(("data", "fsdp"), None)
  assert p.batch_divisor() == 4
  assert p.activation_constraint() is not None
  assert dataclasses.replace(p, constrain_activations=False).activation_constraint() is None
  assert shd.Partitioner(mesh, ()).activation_constraint() is None
  for bad in (["vocab", "tensor"], ["vocab", ["tenser"]], ["vocab"]):
    with pytest.raises(ConfigError, match=r"sharding rule .*expected \[logical name, \[mesh axes"):
      shd.Partitioner(mesh, [bad])
  with pytest.raises(ConfigError, match=r"batch key 'x': 6 rows do not split over the 4 devices"):
    p.global_batch({"x": np.zeros((6, 2), np.int32)})


def test_task_probabilities():
  np.testing.assert_allclose(task_probabilities([100, 300], "proportional", None, 1.0), [0.25, 0.75])
  np.testing.assert_allclose(task_probabilities([100, 300], "proportional", 200, 1.0), [1 / 3, 2 / 3])
  np.testing.assert_allclose(task_probabilities([100, 400], "temperature", None, 2.0), [1 / 3, 2 / 3])
  np.testing.assert_allclose(task_probabilities([1, 9], "uniform", None, 1.0), [0.5, 0.5])


@pytest.mark.parametrize("save_mesh,restore_mesh", [((2, 2, 2), (1, 1, 1)), ((1, 1, 1), (2, 2, 2))])
def test_checkpoint_restores_across_meshes(tmp_path, save_mesh, restore_mesh):
  _, state, layout = _run(_mesh(*save_mesh), "classification", _batches("classification", 8, n=2))
  ckpt = Checkpointer(tmp_path, save_every=1, async_save=False, keep_best=0)
  ckpt.save(2, state, {"note": "x"}, force=True)
  ckpt.wait()
  mesh = _mesh(*restore_mesh)
  tx = optim.make_transform(optim.OptimizerConfig())
  _, fresh, shardings = train_state.create_state(
      layout.model(jax.device_get(state["params"])), tx, shd.Partitioner(mesh)
  )
  restored, meta = ckpt.restore(2, abstract_like(fresh, shardings))
  assert meta == {"note": "x"}
  for a, b in zip(jax.tree.leaves(restored), jax.tree.leaves(state)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  k = "encoder.layers.0.intermediate.kernel"
  assert restored["params"]["encoder"][k].sharding.mesh.shape == mesh.shape
  ckpt.close()


def _job(workdir, *args, env_extra=None, **popen):
  env = {**os.environ, **(env_extra or {})}
  env.pop("XLA_FLAGS", None)
  env.setdefault("JAX_PLATFORMS", "cpu")  # libtpu is installed (for plan's compile-only client): keep it quiet
  return subprocess.Popen(
      [sys.executable, str(JOB), str(workdir), *args],
      env=env,
      stdout=subprocess.PIPE,
      stderr=subprocess.PIPE,
      text=True,
      **popen,
  )


def _finish(proc, timeout=400):
  out, err = proc.communicate(timeout=timeout)
  assert proc.returncode == 0, err[-3000:]
  return json.loads(out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def reference_workdir(tmp_path_factory):
  """A finished uninterrupted 10-step run (tests only read it, or copy it): (workdir, step losses)."""
  workdir = tmp_path_factory.mktemp("uninterrupted")
  return workdir, _finish(_job(workdir, "--devices", "4", "--mesh", "2,2,1", "--steps", "10"))


@pytest.fixture(scope="module")
def reference_run(reference_workdir):
  workdir, losses = reference_workdir
  return losses, dict(np.load(workdir / "final.npz"))


def test_sigkill_then_resume_equals_uninterrupted(reference_run, tmp_path):
  ref_losses, ref_params = reference_run
  proc = _job(tmp_path, "--devices", "4", "--mesh", "2,2,1", "--steps", "10", "--step-sleep", "0.7")
  ckpt_dir = tmp_path / "checkpoints" / "intermediate"
  deadline = time.time() + 300
  while time.time() < deadline and not any(p.name.isdigit() and int(p.name) >= 4 for p in ckpt_dir.glob("*")):
    time.sleep(0.2)
  proc.send_signal(signal.SIGKILL)
  proc.communicate()
  saved = sorted(int(p.name) for p in ckpt_dir.glob("*") if p.name.isdigit())
  assert saved and max(saved) < 10, f"the run was not killed mid-way (checkpoints {saved})"
  resumed = _finish(_job(tmp_path, "--devices", "4", "--mesh", "2,2,1", "--steps", "10"))
  final = dict(np.load(tmp_path / "final.npz"))
  assert final.keys() == ref_params.keys()
  for k, v in ref_params.items():
    np.testing.assert_allclose(final[k], v, atol=1e-6, err_msg=k)
  # metrics.jsonl holds the first run's steps and then the resumed ones; the last 10 - resume point
  # of them equal the reference's tail
  np.testing.assert_allclose(resumed[-(10 - max(saved)) :], ref_losses[max(saved) :], rtol=1e-5)


def _free_port():
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def test_two_processes_equal_one(reference_run, tmp_path):
  ref_losses, ref_params = reference_run
  port = _free_port()
  procs = [
      _job(
          tmp_path,
          "--devices",
          "2",
          "--mesh",
          "2,2,1",
          "--steps",
          "10",
          "--coordinator",
          f"127.0.0.1:{port}",
          "--num-processes",
          "2",
          "--process-id",
          str(i),
      )
      for i in range(2)
  ]
  outs = [p.communicate(timeout=400) for p in procs]
  for p, (_, err) in zip(procs, outs):
    assert p.returncode == 0, err[-3000:]
  losses = json.loads(outs[0][0].strip().splitlines()[-1])
  np.testing.assert_allclose(losses, ref_losses, rtol=1e-5)
  final = dict(np.load(tmp_path / "final.npz"))
  for k, v in ref_params.items():
    np.testing.assert_allclose(final[k], v, atol=1e-5, err_msg=k)


def test_the_best_dev_checkpoint_is_what_training_returns(tmp_path):
  """Dev scores peak at step 2 of 5: the model that comes back is the one scored at step 2."""
  from xstilts_jax.data.batches import TrainBatches
  from xstilts_jax.train import loop
  from xstilts_jax.train.state import ModelLayout

  feats = {k: v for k, v in _batches("classification", 40, n=1)[0].items() if k != "mask"}
  model = XLMRModel(CFG, {"h": HeadSpec("classification", 3)}, rngs=nnx.Rngs(0))
  task = loop.TrainTask("cls", "h", "classification", TrainBatches(feats, 8, seed=0), 40)
  scores = iter([1.0, 5.0, 2.0, 3.0, 0.5])
  seen = {}

  def score(current, step):
    seen[step] = {k: np.asarray(v) for k, v in ModelLayout.of(current).flat(current).items()}
    return next(scores)

  cfg = loop.LoopConfig(
      total_steps=5,
      optimizer=optim.OptimizerConfig(learning_rate=1e-2, total_steps=5),
      eval_every=1,
      save_every=1,
      async_checkpoints=False,
  )
  result = loop.train(model, [task], cfg, tmp_path, shd.Partitioner(_mesh(1, 1, 1)), "p", score_fn=score)
  assert result.best_score == 5.0
  final = ModelLayout.of(result.model).flat(result.model)
  for k, v in seen[2].items():
    np.testing.assert_array_equal(np.asarray(final[k]), v, err_msg=k)
  assert any(not np.array_equal(seen[2][k], seen[5][k]) for k in seen[2])


def test_sigterm_saves_exits_75_and_resume_equals_uninterrupted(reference_run, tmp_path):
  ref_losses, ref_params = reference_run
  proc = _job(tmp_path, "--devices", "4", "--mesh", "2,2,1", "--steps", "10", "--step-sleep", "0.7")
  ckpt_dir = tmp_path / "checkpoints" / "intermediate"
  deadline = time.time() + 300
  while time.time() < deadline and not any(p.name.isdigit() and int(p.name) >= 2 for p in ckpt_dir.glob("*")):
    time.sleep(0.2)
  proc.send_signal(signal.SIGTERM)
  _, err = proc.communicate(timeout=300)
  assert proc.returncode == 75, err[-3000:]  # EX_TEMPFAIL: saved, run again
  saved = sorted(int(p.name) for p in ckpt_dir.glob("*") if p.name.isdigit())
  assert saved and max(saved) < 10, f"the run was not stopped mid-way (checkpoints {saved})"
  _finish(_job(tmp_path, "--devices", "4", "--mesh", "2,2,1", "--steps", "10"))
  final = dict(np.load(tmp_path / "final.npz"))
  for k, v in ref_params.items():
    np.testing.assert_allclose(final[k], v, atol=1e-6, err_msg=k)


@pytest.mark.parametrize("damage", ["state/_METADATA", "meta/metadata", "array"])
def test_corrupt_latest_checkpoint_names_step_and_offers_the_older_one(
    reference_workdir, reference_run, tmp_path, damage
):
  """A finished 10-step run (a copy of the reference's workdir) keeps steps 8 and 10; step 10 is
  damaged. The restart names step 10 and its directory and offers step 8; moving 10 away resumes
  from 8 to the uninterrupted result."""
  _, ref_params = reference_run
  shutil.copytree(reference_workdir[0], tmp_path, dirs_exist_ok=True)
  ckpt_dir = tmp_path / "checkpoints" / "intermediate"
  assert sorted(int(p.name) for p in ckpt_dir.glob("*") if p.name.isdigit()) == [8, 10]
  bad = ckpt_dir / "10"
  if damage == "array":  # truncate every array data file of the state (OCDBT's d/ folders)
    # One file alone is not enough: which arrays a data file holds varies from run to run, and a
    # file holding none that the restore reads made this case pass by chance.
    victims = [p for p in (bad / "state").rglob("*") if p.is_file() and p.parent.name == "d"]
    assert victims
    for victim in victims:
      victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 3])
  else:
    (bad / damage).unlink()
  (tmp_path / "final.npz").unlink()
  proc = _job(tmp_path, "--devices", "4", "--mesh", "2,2,1", "--steps", "12")
  _, err = proc.communicate(timeout=400)
  assert proc.returncode != 0
  # train_job.py is not the CLI (whose one line is tested in test_reliability): it ends in a traceback
  # that orbax's background threads may write into, so the job also leaves the message in error.txt.
  message = (tmp_path / "error.txt").read_text()
  assert message.startswith("ModelError: "), message
  assert f"{bad}: checkpoint step 10 is corrupt or incomplete" in message, err[-3000:]
  assert "resume from step 8" in message
  bad.rename(tmp_path / "step10-damaged")
  _finish(_job(tmp_path, "--devices", "4", "--mesh", "2,2,1", "--steps", "10"))
  final = dict(np.load(tmp_path / "final.npz"))
  for k, v in ref_params.items():
    np.testing.assert_allclose(final[k], v, atol=1e-6, err_msg=k)


def test_a_non_finite_loss_stops_training_naming_phase_task_and_step(tmp_path):
  proc = _job(tmp_path, "--steps", "6", "--lr", "nan")
  _, err = proc.communicate(timeout=300)
  assert proc.returncode != 0
  message = err.strip().splitlines()[-1]
  # step 1's loss is finite (the weights are still the initial ones); its update makes them NaN
  assert "TrainingError: intermediate: loss is nan at step 2 (task " in message, err[-3000:]
  assert not [p for p in (tmp_path / "checkpoints" / "intermediate").glob("*") if p.name.isdigit()]


def test_a_checkpoint_of_another_config_is_refused(tmp_path):
  from xstilts_jax.data.batches import TrainBatches
  from xstilts_jax.errors import ConfigError
  from xstilts_jax.train import loop

  feats = {k: v for k, v in _batches("classification", 16, n=1)[0].items() if k != "mask"}

  def go(fingerprint, steps):
    model = XLMRModel(CFG, {"h": HeadSpec("classification", 3)}, rngs=nnx.Rngs(0))
    task = loop.TrainTask("cls", "h", "classification", TrainBatches(feats, 8, seed=0), 16)
    cfg = loop.LoopConfig(
        total_steps=steps,
        optimizer=optim.OptimizerConfig(learning_rate=1e-3, total_steps=steps),
        save_every=1,
        async_checkpoints=False,
        fingerprint=fingerprint,
    )
    return loop.train(model, [task], cfg, tmp_path, shd.Partitioner(_mesh(1, 1, 1)), "p")

  go("a", 2)
  with pytest.raises(ConfigError, match=r"checkpoint step 2 of phase p was written under another config"):
    go("b", 4)
  assert go("a", 2).step == 2  # the same config resumes (here: a finished run)


def test_an_async_save_keeps_the_meta_of_its_own_step(tmp_path, monkeypatch):
  """orbax writes the JSON item in its background thread; the loop changes `meta` (the next
  step's data positions) right after save() returns. The saved meta must be the one of the saved
  step: here the JSON writer is made slow, as a gs:// bucket under load is, so a kept reference
  would write the later values (it did: a resumed gs:// run trained on other batches)."""
  import asyncio

  from orbax.checkpoint._src.handlers import json_checkpoint_handler as jch

  write = jch.JsonCheckpointHandler._save_fn

  async def slow_write(self, x, directory):
    await asyncio.sleep(1.0)
    await write(self, x, directory)

  monkeypatch.setattr(jch.JsonCheckpointHandler, "_save_fn", slow_write)
  ckpt = Checkpointer(tmp_path / "ckpt", save_every=1, keep_latest=2, keep_best=0, async_save=True)
  state = {"w": jax.numpy.arange(4.0)}
  meta = {"batches": {"task": {"epoch": 0, "position": 16}}, "done": False}
  ckpt.save(1, state, meta, force=True)
  meta["batches"] = {"task": {"epoch": 0, "position": 32}}  # what the loop does after the next step
  meta["batches"]["task"]["position"] = 48
  meta["done"] = True
  ckpt.wait()
  restored_state, restored_meta = ckpt.restore(1, abstract_like(state, {"w": state["w"].sharding}))
  ckpt.close()
  assert restored_meta == {"batches": {"task": {"epoch": 0, "position": 16}}, "done": False}
  np.testing.assert_array_equal(restored_state["w"], np.arange(4.0))
