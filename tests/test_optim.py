import math

import pytest
import torch

from vaegan.config import Config
from vaegan.optim import lr_factor, make_ema, make_optimizer, make_scheduler


def test_warmup_then_cosine_reaches_zero_at_the_last_step():
    assert lr_factor(0, 100, 10, "cosine") == pytest.approx(1 / 11)
    assert lr_factor(9, 100, 10, "cosine") == pytest.approx(10 / 11)
    assert lr_factor(10, 100, 10, "cosine") == pytest.approx(1.0)
    assert lr_factor(55, 100, 10, "cosine") == pytest.approx(0.5)
    assert lr_factor(100, 100, 10, "cosine") == pytest.approx(0.0, abs=1e-12)
    assert lr_factor(50, 100, 10, "constant") == 1.0 and lr_factor(3, 100, 0, "constant") == 1.0


def test_scheduler_sets_the_optimizers_lr_by_step():
    cfg = Config(lr=0.01, lr_schedule="cosine", warmup_steps=0)
    opt = make_optimizer(cfg, [torch.nn.Parameter(torch.zeros(1))], cfg.lr)
    sched = make_scheduler(opt, cfg, total_steps=4)
    lrs = []
    for _ in range(4):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == pytest.approx([0.01 * 0.5 * (1 + math.cos(math.pi * s / 4)) for s in range(4)])


def test_ema_follows_the_weights_with_a_warming_up_decay():
    model = torch.nn.Linear(1, 1, bias=False)
    ema = make_ema(model, decay=0.9)
    values = []
    for step in range(100):
        with torch.no_grad():
            model.weight.fill_(float(step))
        ema.update_parameters(model)
        values.append(ema.module.weight.item())
    assert values[0] == 0.0  # the first update copies
    # Update n >= 1 uses decay min(0.9, (1 + n) / (10 + n)): 2/11 at n = 1, 0.9 from n = 81 on.
    for n in (1, 30, 90):
        decay = min(0.9, (1 + n) / (10 + n))
        assert values[n] == pytest.approx(decay * values[n - 1] + (1 - decay) * n)
    assert values[-1] < 99  # lags behind the weights
