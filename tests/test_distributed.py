"""Two gloo processes on CPU: DDP keeps both ranks identical, and its synchronised gradients are
those of one process on the same global batch.

Weights are not compared after several Adam steps: parameters whose true gradient is zero (a conv
bias right before a one-channel-per-group GroupNorm, the attention's key bias) get float-noise
gradients that Adam normalises into full +-lr steps, so two correct runs drift apart there by ~lr per
step. The first step's gradients are compared instead, those parameters apart from the rest."""
import os
import random
import socket
import subprocess
import sys

import pytest
import torch
import torch.multiprocessing as mp

from tests.helpers import ROOT, TINY
from vaegan.logger import read_metrics

GRAD_TOLERANCE = 1e-4  # per tensor: max abs difference / its max abs gradient (sums in another order)
NOISE_FLOOR = 1e-5  # of the largest gradient: below it a gradient is rounding noise (fp32 eps is 1.2e-7)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def args(data, out, *extra):
    # fp32: bf16 rounding depends on how a batch is split, which would hide what DDP gets wrong
    return ["--latent", "4", "--use_gan", "--perceptual-weight", "0", "--no-visuals", "--epochs", "2",
            "--precision", "fp32",
            "--data-dir", str(data), "--out", str(out), "--eval-train-images", "0", "--wandb", "disabled",
            *TINY, *extra]


def first_step_grads(trainer):
    """Gradients after one G + D step on the first global batch of epoch 1."""
    batch = torch.arange(trainer.cfg.batch_size)
    x = trainer.train_data.get(trainer._share(batch))
    assert trainer.train_step(x, len(batch)) is not None
    return {**{f"g.{k}": p.grad.clone() for k, p in trainer.model.named_parameters()},
            **{f"{name}.{k}": p.grad.clone()
               for name, net in trainer.critics.items() for k, p in net.named_parameters()}}


def zero_by_construction(trainer) -> set[str]:
    """Parameters (named as in `first_step_grads`) whose true gradient is zero whatever the data: a
    ResNet block's conv1 bias when the GroupNorm right after it has one channel per group (the norm
    re-centres every channel), and an attention's key bias (one logit added to every key of a
    query, which softmax ignores)."""
    from diffusers.models.attention_processor import Attention
    from diffusers.models.resnet import ResnetBlock2D

    names = set()
    for name, module in trainer.model.named_modules():
        if isinstance(module, ResnetBlock2D) and module.norm2.num_groups == module.norm2.num_channels:
            names.add(f"g.{name}.conv1.bias")
        if isinstance(module, Attention) and module.to_k.bias is not None:
            names.add(f"g.{name}.to_k.bias")
    return names


def _worker(rank, world, port, argv, result_dir):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    from vaegan.distributed import shutdown
    from vaegan.programs.train import parse_train_args
    from vaegan.trainer import Trainer

    (cfg,) = parse_train_args(argv)
    grads = first_step_grads(Trainer(cfg))
    (cfg,) = parse_train_args(argv + ["--out", argv[argv.index("--out") + 1] + "-fit"])
    trainer = Trainer(cfg)
    metrics = trainer.fit()
    torch.save({"model": trainer.model.state_dict(), "critics": {n: c.state_dict() for n, c in trainer.critics.items()},
                "metrics": metrics, "grads": grads}, os.path.join(result_dir, f"rank{rank}.pt"))
    shutdown()


def flat(state):
    return {**{f"g.{k}": v for k, v in state["model"].items()},
            **{f"{name}.{k}": v for name, critic in state["critics"].items() for k, v in critic.items()}}


FIDELITY = ["--gan-samples", "--ema-decay", "0.9", "--lr-schedule", "cosine", "--prior", "gmm",
            "--prior-components", "2", "--mmd-weight", "100", "--latent-adversary-weight", "1",
            "--disc-feature-weight", "1", "--swd-weight", "200"]


OFF = ["--swd-weight", "0", "--disc-feature-weight", "0"]  # the terms a GAN run has by default, off


@pytest.mark.slow
@pytest.mark.parametrize("extra", [OFF, FIDELITY, ["--swd-weight", "10", "--disc-feature-weight", "0"]],
                         ids=["gan", "gan-samples-ema-cosine-gmm-mmd-aae-dfeat-swd", "swd"])
def test_two_gloo_ranks_stay_identical_and_match_one_process(idx_dir, tmp_path, extra):
    mp.spawn(_worker, args=(2, free_port(), args(idx_dir, tmp_path / "ddp", *extra), str(tmp_path)), nprocs=2)
    rank0, rank1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in (0, 1))
    for k, v in flat(rank0).items():
        assert torch.equal(v, flat(rank1)[k]), k

    for k, v in rank0["grads"].items():
        assert torch.equal(v, rank1["grads"][k]), k

    from vaegan.programs.train import parse_train_args
    from vaegan.trainer import Trainer

    (cfg,) = parse_train_args(args(idx_dir, tmp_path / "single", *extra))
    single = Trainer(cfg)
    single_grads = first_step_grads(single)
    # A tensor whose gradient is below NOISE_FLOOR of the largest holds rounding noise (its true
    # gradient is zero: ~1e-8 here, against 7e-5 for the smallest tensor that carries signal); such a
    # tensor can only be compared with zero, in both runs. Every other tensor is compared against its
    # own largest gradient, so small tensors are checked as tightly as large ones.
    largest = max(g.abs().max().item() for g in single_grads.values())
    noise = {k for k, g in single_grads.items() if g.abs().max().item() < NOISE_FLOOR * largest}
    assert zero_by_construction(single) <= noise, zero_by_construction(single) - noise
    loudest = max(noise, key=lambda k: rank0["grads"][k].abs().max().item())
    assert rank0["grads"][loudest].abs().max().item() < NOISE_FLOOR * largest, loudest
    errors = {k: (rank0["grads"][k] - g).abs().max().item() / g.abs().max().item()
              for k, g in single_grads.items() if k not in noise}
    worst = max(errors, key=errors.get)
    assert errors[worst] < GRAD_TOLERANCE, (worst, errors[worst])

    (cfg,) = parse_train_args(args(idx_dir, tmp_path / "single-fit", *extra))
    single_metrics = Trainer(cfg).fit()
    # Metrics are averaged over ranks; after 8 Adam steps the runs agree to well under 1 %.
    for key in ("train/rec", "train/kl", "test/mse", "test/ssim"):
        assert abs(rank0["metrics"][key] - single_metrics[key]) < 0.01 * abs(single_metrics[key]), key
    assert len(read_metrics(tmp_path / "ddp-fit" / "metrics.jsonl")) == 2  # only rank 0 wrote


@pytest.mark.slow
def test_torchrun_cli(idx_dir, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                             str(ROOT / "train.py"), *args(idx_dir, tmp_path / "run")],
                            cwd=tmp_path, capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert [m["epoch"] for m in read_metrics(tmp_path / "run" / "metrics.jsonl")] == [1, 2]
    assert result.stdout.count("epoch 2:") == 1  # rank 1 prints nothing
    assert result.stderr.count("epoch 1/2:   0%") == 1, result.stderr[-2000:]  # and draws no progress bar


def _resume_worker(rank, world, port, argv, result_dir):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    from vaegan.distributed import shutdown
    from vaegan.programs.train import parse_train_args
    from vaegan.trainer import Trainer

    save_epoch = Trainer._save_epoch

    def draw_more_on_rank_one(self, metrics):  # as any rank-local draw would: rank 1's streams run ahead
        if rank == 1:
            torch.rand(3)
            random.random()
        save_epoch(self, metrics)

    Trainer._save_epoch = draw_more_on_rank_one
    out = argv[argv.index("--out") + 1]
    ends = {}
    plans = (("straight", [["--epochs", "2"]]), ("resumed", [["--epochs", "1"], ["--epochs", "2", "--resume"]]))
    for name, runs in plans:
        for extra in runs:
            (cfg,) = parse_train_args(argv[:argv.index("--out")] + ["--out", f"{out}-{name}", *extra])
            Trainer(cfg).fit()
            torch.distributed.barrier()  # rank 0 has written the checkpoint the next run resumes
        ends[name] = {"torch": torch.get_rng_state(), "python": random.getstate()}
    torch.save(ends, os.path.join(result_dir, f"rng{rank}.pt"))
    shutdown()


@pytest.mark.slow
def test_each_rank_resumes_its_own_rng_streams(idx_dir, tmp_path):
    """A resumed rank continues its own RNG streams, not rank 0's."""
    argv = [a for a in args(idx_dir, tmp_path / "ddp") if a not in ("--epochs", "2")]
    mp.spawn(_resume_worker, args=(2, free_port(), argv, str(tmp_path)), nprocs=2)
    for rank in (0, 1):
        ends = torch.load(tmp_path / f"rng{rank}.pt", weights_only=False)
        assert torch.equal(ends["straight"]["torch"], ends["resumed"]["torch"]), f"rank {rank}: torch RNG"
        assert ends["straight"]["python"] == ends["resumed"]["python"], f"rank {rank}: Python RNG"
