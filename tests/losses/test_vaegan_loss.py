import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from vaegan.config import Config
from vaegan.losses import LPIPS, VAEGANLoss, kl_per_image
from vaegan.losses.vaegan_loss import (
    IMQ_SCALES,
    SWD_PRIOR_DRAWS,
    SWD_PROJECTIONS,
    adaptive_weight_from_output_grads,
    frozen_call,
    mmd_imq,
    sliced_wasserstein_to_prior,
)
from vaegan.models import build_model, to_images


def test_kl_matches_the_closed_form_of_torch_distributions():
    mu, logvar = torch.randn(6, 5), torch.randn(6, 5)
    expected = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0)).sum(1)
    assert torch.allclose(kl_per_image(mu, logvar), expected, atol=1e-5)


def setup(**overrides):
    """A tiny model and its loss; every optional term off unless a test turns it on."""
    overrides = {"swd_weight": 0.0, "disc_feature_weight": 0.0, **overrides}
    overrides = {"perceptual_weight": 0.0, **overrides}
    cfg = Config(image_channels=1, image_size=28, channels=[8, 16, 16], attn_heads=2, **overrides)
    model = build_model(cfg)
    return cfg, model, VAEGANLoss.from_config(cfg)


def test_kl_term_reaches_the_total_loss_and_its_gradient():
    x = torch.rand(4, 1, 28, 28)
    results = []
    for beta in (0.0, 1.0):
        torch.manual_seed(1)  # same init and same posterior sample for both betas
        cfg, model, loss_fn = setup(kl_weight=beta)
        out = model(x)
        out.logvar.retain_grad()
        loss, logs = loss_fn.generator_loss(x, out, step=0, last_layer=model.last_layer)
        loss.backward()
        assert torch.allclose(loss, logs["rec"] + beta * logs["kl"])
        results.append((loss.item(), logs["kl"].item(), out.logvar.grad.clone(), out.logvar.detach()))
    (loss0, kl, grad0, logvar), (loss1, _, grad1, _) = results
    assert kl > 0 and loss1 == pytest.approx(loss0 + kl, rel=1e-5)
    # The KL adds d/dlogvar mean_b KL = 0.5 * (exp(logvar) - 1) / B to the gradient.
    assert torch.allclose(grad1 - grad0, 0.5 * (logvar.exp() - 1) / 4, atol=1e-5)


def test_mmd_matches_a_double_loop_and_separates_distributions():
    z, p = torch.tensor([[0.0, 1.0], [1.0, -1.0], [2.0, 0.5]]), torch.tensor([[0.5, 0.0], [-1.0, 1.0], [0.0, 0.0]])

    def k(a, b):
        return sum(c / (c + (a - b).pow(2).sum()) for c in (4.0 * s for s in IMQ_SCALES))  # C = 2 D s, D = 2

    n = 3
    within = sum(k(z[i], z[j]) + k(p[i], p[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    across = sum(k(z[i], p[j]) for i in range(n) for j in range(n)) / n ** 2
    assert mmd_imq(z, p).item() == pytest.approx((within - 2 * across).item(), abs=1e-6)
    gen = torch.Generator().manual_seed(0)
    draw = lambda: torch.randn(128, 16, generator=gen)  # noqa: E731
    same = torch.stack([mmd_imq(draw(), draw()) for _ in range(20)])
    assert same.mean().abs() < 0.005  # unbiased: ~0 for codes drawn from the prior itself
    assert mmd_imq(draw() + 1.0, draw()) > 0.5 and mmd_imq(3.0 * draw(), draw()) > 0.5
    assert mmd_imq(torch.ones(1, 16), torch.zeros(1, 16)).item() == 0.0  # a batch of one: no term, not NaN


def test_sliced_wasserstein_matches_sorted_quantiles_and_separates_distributions():
    z = torch.randn(32, 16) * 0.5 + 0.3
    torch.manual_seed(3)
    swd = sliced_wasserstein_to_prior(z)
    torch.manual_seed(3)  # the same prior draws and directions, in the function's order
    prior = torch.randn(SWD_PRIOR_DRAWS * 32, 16)
    directions = torch.randn(16, SWD_PROJECTIONS)
    directions = directions / directions.norm(dim=0, keepdim=True)
    # Uniform weights with m = 8n points: each sorted code stands for 8 consecutive prior quantiles.
    codes = (z @ directions).sort(0).values.repeat_interleave(SWD_PRIOR_DRAWS, 0)
    expected = (codes - (prior @ directions).sort(0).values).pow(2).mean()
    assert swd.item() == pytest.approx(expected.item(), rel=1e-5)
    torch.manual_seed(0)
    assert sliced_wasserstein_to_prior(torch.randn(128, 16)) < 0.05  # codes drawn from the prior itself
    assert sliced_wasserstein_to_prior(torch.randn(128, 16) + 1.0) > 0.5
    assert sliced_wasserstein_to_prior(3.0 * torch.randn(128, 16)) > 0.5
    assert sliced_wasserstein_to_prior(torch.ones(1, 16)).item() == 0.0  # a batch of one: no term


@pytest.mark.parametrize("flag, term", [("mmd_weight", "mmd"), ("swd_weight", "swd")])
def test_code_matching_term_reaches_the_loss_through_the_means_only(flag, term):
    x = torch.rand(8, 1, 28, 28)
    results = []
    for weight in (0.0, 10.0):
        torch.manual_seed(1)
        cfg, model, loss_fn = setup(**{flag: weight})
        out = model(x)
        out.mu.retain_grad()
        out.logvar.retain_grad()
        loss, logs = loss_fn.generator_loss(x, out, step=0, last_layer=model.last_layer)
        loss.backward()
        results.append((loss.item(), logs, out.mu.grad.clone(), out.logvar.grad.clone()))
    (loss0, _, mu0, logvar0), (loss1, logs1, mu1, logvar1) = results
    assert logs1[term] > 0 and loss1 == pytest.approx(loss0 + 10.0 * logs1[term].item(), rel=1e-5)
    assert (mu1 - mu0).abs().max() > 1e-4 * mu0.abs().max()  # it moves the codes...
    assert torch.allclose(logvar1, logvar0)  # ...and never the posterior widths (no collapse route)


def test_kl_warmup_is_linear():
    _, _, loss_fn = setup(kl_weight=0.5, kl_warmup_steps=100)
    assert [loss_fn.kl_weight(s) for s in (0, 50, 100, 500)] == [0.0, 0.25, 0.5, 0.5]


def test_perceptual_term_is_weighted_per_pixel_and_backpropagates():
    cfg = Config(image_channels=1, image_size=28, channels=[8, 16, 16], attn_heads=2, perceptual_weight=0.5)
    model = build_model(cfg)
    loss_fn = VAEGANLoss.from_config(cfg, LPIPS("random"))
    x = torch.rand(3, 1, 28, 28)
    out = model(x)
    loss, logs = loss_fn.generator_loss(x, out, 0, model.last_layer)
    assert torch.allclose(logs["nll"], logs["rec"] + 0.5 * 784 * logs["lpips"])
    # The returned loss's gradient, at perceptual weights 0.5 and 0: they differ by exactly
    # 0.5 x 784 x grad LPIPS, which is not zero (the term reaches the decoder).
    grad_half = torch.autograd.grad(loss, model.last_layer, retain_graph=True)[0]
    no_lpips = VAEGANLoss.from_config(Config(image_channels=1, image_size=28, channels=[8, 16, 16], attn_heads=2,
                                 perceptual_weight=0.0))
    grad_zero = torch.autograd.grad(no_lpips.generator_loss(x, out, 0, model.last_layer)[0], model.last_layer,
                                    retain_graph=True)[0]
    grad_lpips = torch.autograd.grad(loss_fn.perceptual(out.recon, x).mean(), model.last_layer)[0]
    assert grad_lpips.abs().sum() > 0
    assert torch.allclose(grad_half - grad_zero, 0.5 * 784 * grad_lpips, rtol=1e-4, atol=1e-6)


def test_adaptive_weight_matches_a_hand_computation():
    w = torch.randn(3, 4, requires_grad=True)
    h = torch.randn(5, 4)
    y = h @ w.T
    # by hand: d/dw sum((h w^T)^2) = 2 y^T h ; d/dw -sum(h w^T) = -1^T h per row
    rec_grad = 2 * y.detach().T @ h
    gan_grad = -torch.ones(3, 5) @ h
    expected = rec_grad.norm() / (gan_grad.norm() + 1e-4)
    nll_parts, gan_parts = [(y, 2 * y.detach())], [(y, -torch.ones(5, 3))]
    assert torch.allclose(adaptive_weight_from_output_grads(nll_parts, gan_parts, w), expected)
    huge = [(y, 2e12 * y.detach())]
    assert adaptive_weight_from_output_grads(huge, gan_parts, w) == 1e4  # clamped


def two_backward_loss(loss_fn: VAEGANLoss, x, out, step: int, last_layer) -> tuple[torch.Tensor, torch.Tensor]:
    """The reference the production path is tested against: the objective written plainly, as taming
    does, nll + the latent terms + w * (g + g_samples), the adaptive weight w taken from two extra
    backwards to the decoder's last layer. (loss, w)."""
    logits = out.logits.float()
    terms = loss_fn.terms(x, out)
    nll = terms["rec"].mean()
    if "lpips" in terms:
        nll = nll + loss_fn.perceptual_weight * x[0].numel() * terms["lpips"].mean()
    d_fake, feature_distance = loss_fn._critic_on_reconstructions(x, logits, out.linear)
    if feature_distance is not None:
        nll = nll + loss_fn.disc_feature_weight * x[0].numel() * feature_distance.mean()
    latent = loss_fn.kl_weight(step) * terms["kl"].mean() + loss_fn._code_terms(out, step, {})
    g = loss_fn._g_loss(d_fake.float())
    if out.prior_logits is not None:
        samples = to_images(out.prior_logits.float(), out.linear)
        g = g + loss_fn._g_loss(frozen_call(loss_fn.sample_discriminator, samples).float())
    rec_grad = torch.autograd.grad(nll, last_layer, retain_graph=True)[0]
    gan_grad = torch.autograd.grad(g, last_layer, retain_graph=True)[0]
    w = (rec_grad.norm() / (gan_grad.norm() + 1e-4)).clamp(0.0, 1e4).detach() * loss_fn.disc_weight
    return nll + latent + w * g, w


def test_generator_and_discriminator_updates_do_not_leak_gradients():
    cfg, model, loss_fn = setup(use_gan=True, disc_start=0)
    x = torch.rand(4, 1, 28, 28)
    out = model(x)
    loss, logs = loss_fn.generator_loss(x, out, step=0, last_layer=model.last_layer)
    assert "g_loss" in logs and logs["d_weight"] > 0
    loss.backward()
    assert all(p.grad is None for p in loss_fn.discriminator.parameters())
    assert model.last_layer.grad is not None
    model.zero_grad(set_to_none=True)
    d_loss, d_logs = loss_fn.discriminator_loss(x, out.recon)
    d_loss.backward()
    assert all(p.grad is None for p in model.parameters())
    assert all(p.grad is not None for p in loss_fn.discriminator.parameters())


def test_no_adversarial_term_before_disc_start():
    cfg, model, loss_fn = setup(use_gan=True, disc_start=10)
    x = torch.rand(2, 1, 28, 28)
    _, logs = loss_fn.generator_loss(x, model(x), step=9, last_layer=model.last_layer)
    assert "g_loss" not in logs and not loss_fn.gan_active(9) and loss_fn.gan_active(10)


@pytest.mark.parametrize("kind", ["hinge", "vanilla"])
def test_discriminator_losses_at_known_logits(kind):
    cfg, _, loss_fn = setup(use_gan=True, disc_loss=kind)
    # Logits inside the hinge's margin (|logit| < 1), so neither term saturates to 0.
    real = torch.tensor([0.5, -0.25, 2.0, 0.0]).view(4, 1, 1, 1)
    fake = torch.tensor([0.25, -0.5, 0.75, -2.0]).view(4, 1, 1, 1)
    if kind == "hinge":  # 0.5 * (mean relu(1 - real) + mean relu(1 + fake)), by hand
        d_expected = 0.5 * ((0.5 + 1.25 + 0.0 + 1.0) / 4 + (1.25 + 0.5 + 1.75 + 0.0) / 4)
        g_expected = -(0.25 - 0.5 + 0.75 - 2.0) / 4
    else:  # 0.5 * (mean softplus(-real) + mean softplus(fake)); g = mean softplus(-fake)
        sp = lambda v: math.log1p(math.exp(v))  # noqa: E731
        d_expected = 0.5 * (sum(sp(-r) for r in (0.5, -0.25, 2.0, 0.0)) / 4
                            + sum(sp(f) for f in (0.25, -0.5, 0.75, -2.0)) / 4)
        g_expected = sum(sp(-f) for f in (0.25, -0.5, 0.75, -2.0)) / 4
    assert loss_fn._d_loss(real, fake).item() == pytest.approx(d_expected, abs=1e-6)
    assert loss_fn._g_loss(fake).item() == pytest.approx(g_expected, abs=1e-6)


@pytest.mark.parametrize("perceptual, samples, mmd, swd, feature",
                         [(0.0, False, 0.0, 0.0, 0.0), (1.0, False, 0.0, 0.0, 0.0), (0.0, True, 0.0, 0.0, 0.0),
                          (0.0, False, 50.0, 50.0, 0.0), (0.0, False, 0.0, 0.0, 1.0)])
def test_single_backward_gives_the_objectives_gradient(perceptual, samples, mmd, swd, feature):
    """The production surrogate has the gradient, value and adaptive weight of the plain objective
    nll + beta kl (+ the code-matching terms) + w (g_loss + g_loss_samples), one w over both parts."""
    cfg = Config(image_channels=1, image_size=28, channels=[8, 16, 16], attn_heads=2, perceptual_weight=perceptual,
                 use_gan=True, disc_start=0, gan_samples=samples, mmd_weight=mmd, swd_weight=swd,
                 disc_feature_weight=feature)
    torch.manual_seed(0)
    model = build_model(cfg)
    loss_fn = VAEGANLoss.from_config(cfg, LPIPS("random") if perceptual else None)
    x, noise, prior_z = torch.rand(6, 1, 28, 28), torch.randn(6, 4), torch.randn(6, 4) if samples else None
    grads, values, weights = [], [], []
    for production in (False, True):
        model.zero_grad(set_to_none=True)
        torch.manual_seed(2)  # the same prior draws for the code-matching terms
        out = model(x, noise=noise, prior_z=prior_z)
        if production:
            loss, logs = loss_fn.generator_loss(x, out, 0, model.last_layer)
            value, weight = logs["loss"], logs["d_weight"]
        else:
            loss, weight = two_backward_loss(loss_fn, x, out, 0, model.last_layer)
            value = loss.detach()
        loss.backward()
        grads.append({k: p.grad.clone() for k, p in model.named_parameters()})
        values.append(value)
        weights.append(weight)
    assert torch.allclose(weights[0], weights[1], rtol=1e-4)
    assert torch.allclose(values[0], values[1])
    scale = max(g.abs().max() for g in grads[0].values())
    worst = max((grads[0][k] - grads[1][k]).abs().max() for k in grads[0])
    assert worst / scale < 1e-5, (worst, scale)


def test_gan_on_prior_samples_trains_the_decoder_through_them_and_never_a_critic():
    cfg, model, loss_fn = setup(use_gan=True, disc_start=0, gan_samples=True)
    x, prior_z = torch.rand(4, 1, 28, 28), torch.randn(4, 4)
    out = model(x, prior_z=prior_z)
    assert out.prior_logits.shape == out.logits.shape
    out.prior_logits.retain_grad()
    loss, logs = loss_fn.generator_loss(x, out, step=0, last_layer=model.last_layer)
    loss.backward()
    assert "g_loss_samples" in logs and out.prior_logits.grad.abs().sum() > 0
    for critic in (loss_fn.discriminator, loss_fn.sample_discriminator):
        assert all(p.grad is None for p in critic.parameters())
    # The sample term is weighted like the reconstructions' (same adaptive weight) and judged by the
    # sample discriminator: the term's value is that critic's generator loss on the decoded draws.
    expected = (logs["rec"] + logs["kl_weight"] * logs["kl"]
                + logs["d_weight"] * (logs["g_loss"] + logs["g_loss_samples"]))
    assert torch.allclose(logs["loss"], expected)
    judged = loss_fn._g_loss(loss_fn.sample_discriminator(torch.sigmoid(out.prior_logits.detach())))
    assert logs["g_loss_samples"].item() == pytest.approx(judged.item(), abs=1e-6)
    model.zero_grad(set_to_none=True)
    d_loss, d_logs = loss_fn.discriminator_loss(x, out.recon, fake_samples=torch.sigmoid(out.prior_logits))
    d_loss.backward()
    assert all(p.grad is None for p in model.parameters())
    assert "d_fake_samples" in d_logs


def test_each_image_critic_learns_from_its_own_fakes_only():
    """D sees real vs reconstructions, the sample discriminator real vs decoded prior draws; each
    part of the summed loss reaches only its own critic (the shared D this replaced lost its
    reconstruction features)."""
    torch.manual_seed(0)
    _, _, loss_fn = setup(use_gan=True, gan_samples=True)
    assert loss_fn.sample_discriminator is not loss_fn.discriminator
    x, recon, samples = torch.rand(3, 1, 28, 28), torch.rand(3, 1, 28, 28), torch.rand(5, 1, 28, 28)
    d_loss, logs = loss_fn.discriminator_loss(x, recon, fake_samples=samples)
    own = loss_fn._d_loss(loss_fn.discriminator(x), loss_fn.discriminator(recon))
    own_samples = loss_fn._d_loss(loss_fn.sample_discriminator(x), loss_fn.sample_discriminator(samples))
    assert logs["d_loss"].item() == pytest.approx(own.item(), abs=1e-6)
    assert logs["d_loss_samples"].item() == pytest.approx(own_samples.item(), abs=1e-6)
    assert torch.allclose(d_loss, logs["d_loss"] + logs["d_loss_samples"])
    # Each critic's gradient from the sum is its own loss's gradient.
    for critic, part in ((loss_fn.discriminator, own), (loss_fn.sample_discriminator, own_samples)):
        params = list(critic.parameters())
        for from_sum, from_part in zip(torch.autograd.grad(d_loss, params, retain_graph=True),
                                       torch.autograd.grad(part, params, retain_graph=True)):
            assert torch.allclose(from_sum, from_part, atol=1e-6)


def test_the_sample_term_changes_the_decoders_gradient():
    grads = []
    for gan_samples in (False, True):
        torch.manual_seed(0)
        cfg, model, loss_fn = setup(use_gan=True, disc_start=0, gan_samples=gan_samples)
        x, noise, prior_z = torch.rand(4, 1, 28, 28), torch.randn(4, 4), torch.randn(4, 4)
        out = model(x, noise=noise, prior_z=prior_z if gan_samples else None)
        loss, _ = loss_fn.generator_loss(x, out, step=0, last_layer=model.last_layer)
        loss.backward()
        grads.append(model.last_layer.grad.clone())
    assert (grads[0] - grads[1]).abs().max() > 1e-6 * grads[0].abs().max()


def test_decoding_prior_draws_with_the_batch_equals_decoding_them_alone():
    _, model, _ = setup()
    x, noise, prior_z = torch.rand(3, 1, 28, 28), torch.randn(3, 4), torch.randn(5, 4)
    out = model(x, noise=noise, prior_z=prior_z)
    assert torch.allclose(out.prior_logits, model.decode(prior_z), atol=1e-5)
    assert torch.allclose(out.logits, model(x, noise=noise).logits, atol=1e-5)


def test_latent_adversary_trains_the_encoder_through_the_means_and_never_the_critic():
    x, noise = torch.rand(4, 1, 28, 28), torch.randn(4, 4)
    cfg, model, loss_fn = setup(use_gan=True, disc_start=0, latent_adversary_weight=3.0)
    out = model(x, noise=noise)
    out.mu.retain_grad()
    out.logvar.retain_grad()
    loss, logs = loss_fn.generator_loss(x, out, step=0, last_layer=model.last_layer)
    loss.backward()
    expected = (logs["rec"] + logs["kl_weight"] * logs["kl"] + logs["d_weight"] * logs["g_loss"]
                + 3.0 * logs["g_loss_latent"])
    assert torch.allclose(logs["loss"], expected)
    assert all(p.grad is None for p in loss_fn.latent_discriminator.parameters())
    # The term's gradient reaches the means: it is the critic's input gradient, weighted and averaged.
    codes = out.mu.detach().requires_grad_()
    (3.0 * loss_fn._g_loss(loss_fn.latent_discriminator(codes))).backward()
    without = model(x, noise=noise)  # same weights and noise: the gradient of everything else
    without.mu.retain_grad()
    rest = VAEGANLoss.from_config(Config(**{**cfg.to_dict(), "latent_adversary_weight": 0.0}))
    rest.discriminator = loss_fn.discriminator
    rest.generator_loss(x, without, step=0, last_layer=model.last_layer)[0].backward()
    assert torch.allclose(out.mu.grad - without.mu.grad, codes.grad, atol=1e-6)
    # The critic trains on detached codes: its loss never reaches the VAE.
    model.zero_grad(set_to_none=True)
    d_loss, d_logs = loss_fn.discriminator_loss(x, out.recon, codes=out.mu, prior_codes=torch.randn(4, 4))
    d_loss.backward()
    assert all(p.grad is None for p in model.parameters())
    assert all(p.grad is not None for p in loss_fn.latent_discriminator.parameters())
    assert torch.allclose(d_loss, d_logs["d_loss"] + d_logs["d_loss_latent"])


def test_latent_critic_loss_reads_prior_draws_as_real_and_codes_as_fake():
    _, _, loss_fn = setup(use_gan=True, latent_adversary_weight=1.0)
    critic = loss_fn.latent_discriminator
    codes, prior = torch.randn(5, 4) + 2.0, torch.randn(5, 4)
    _, logs = loss_fn.discriminator_loss(torch.rand(2, 1, 28, 28), torch.rand(2, 1, 28, 28), codes=codes,
                                         prior_codes=prior)
    assert logs["d_loss_latent"].item() == pytest.approx(loss_fn._d_loss(critic(prior), critic(codes)).item(), abs=1e-6)


def test_latent_adversary_waits_for_disc_start_and_needs_the_gan():
    x = torch.rand(4, 1, 28, 28)
    _, model, loss_fn = setup(use_gan=True, disc_start=5, latent_adversary_weight=1.0)
    assert "g_loss_latent" not in loss_fn.generator_loss(x, model(x), step=4, last_layer=model.last_layer)[1]
    assert "g_loss_latent" in loss_fn.generator_loss(x, model(x), step=5, last_layer=model.last_layer)[1]
    from vaegan.config import ConfigError, validate
    with pytest.raises(ConfigError, match="needs --use_gan"):
        validate(Config(latent_adversary_weight=1.0))


def test_disc_feature_term_is_ds_feature_distance_and_never_trains_d():
    x = torch.rand(4, 1, 28, 28)
    cfg, model, loss_fn = setup(use_gan=True, disc_start=3, disc_feature_weight=2.0)
    out = model(x)
    assert "disc_feature" not in loss_fn.generator_loss(x, out, step=2, last_layer=model.last_layer)[1]
    loss, logs = loss_fn.generator_loss(x, out, step=3, last_layer=model.last_layer)
    with torch.no_grad():
        logits_fake, fake = loss_fn.discriminator(out.recon, return_features=True)
        _, real = loss_fn.discriminator(x, return_features=True)
    assert fake.shape[1] > 1 and torch.equal(logits_fake, loss_fn.discriminator(out.recon))
    expected = (fake - real).pow(2).flatten(1).mean(1).mean()
    assert logs["disc_feature"].item() == pytest.approx(expected.item(), rel=1e-5)
    assert logs["nll"].item() == pytest.approx((logs["rec"] + 2.0 * 784 * expected).item(), rel=1e-5)
    loss.backward()
    assert all(p.grad is None for p in loss_fn.discriminator.parameters())


def test_disc_feature_term_changes_the_decoders_gradient_and_needs_the_gan():
    grads = []
    for weight in (0.0, 1.0):
        torch.manual_seed(0)
        cfg, model, loss_fn = setup(use_gan=True, disc_start=0, disc_feature_weight=weight)
        x, noise = torch.rand(4, 1, 28, 28), torch.randn(4, 4)
        loss, _ = loss_fn.generator_loss(x, model(x, noise=noise), step=0, last_layer=model.last_layer)
        loss.backward()
        grads.append(model.last_layer.grad.clone())
    assert (grads[0] - grads[1]).abs().max() > 1e-3 * grads[0].abs().max()
    from vaegan.config import ConfigError, validate
    with pytest.raises(ConfigError, match="--disc-feature-weight needs --use_gan"):
        validate(Config(disc_feature_weight=1.0))


def test_sliced_wasserstein_runs_in_fp32_under_autocast():
    """POT projects with a plain matmul: under bf16 autocast it must still be fp32 maths."""
    z = torch.randn(128, 16, requires_grad=True)
    torch.manual_seed(3)
    reference = sliced_wasserstein_to_prior(z)
    (reference_grad,) = torch.autograd.grad(reference, z)
    torch.manual_seed(3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        value = sliced_wasserstein_to_prior(z)
    (grad,) = torch.autograd.grad(value, z)
    assert value.dtype == torch.float32
    assert torch.allclose(value, reference, rtol=1e-6) and torch.allclose(grad, reference_grad, rtol=1e-5, atol=1e-9)


def test_sliced_wasserstein_has_a_finite_gradient_at_zero_distance(monkeypatch):
    import vaegan.losses.vaegan_loss as module

    monkeypatch.setattr(module, "SWD_PRIOR_DRAWS", 1)
    torch.manual_seed(5)
    prior = torch.randn(64, 8)  # the draw the function makes next under the same seed
    z = prior.clone().requires_grad_(True)
    torch.manual_seed(5)
    value = sliced_wasserstein_to_prior(z)
    (grad,) = torch.autograd.grad(value, z)
    assert value.item() == 0.0 and torch.isfinite(grad).all() and grad.abs().max() == 0.0


@pytest.mark.parametrize("disc_arch", ["local", "wide"])
def test_fp16_gradients_through_the_critics_and_lpips_match_fp32(monkeypatch, disc_arch):
    """Under fp16 autocast the gradients the loss takes itself (through D, the
    sample D and LPIPS, outside the GradScaler) are those of fp32 within 1 %, none flushed to zero."""
    import vaegan.losses.vaegan_loss as module

    torch.manual_seed(0)
    cfg, model, _ = setup(use_gan=True, disc_arch=disc_arch, gan_samples=True, disc_start=0, perceptual_weight=1.0)
    loss_fn = VAEGANLoss.from_config(cfg, LPIPS("random"))
    x = torch.rand(64, 1, 28, 28)
    with torch.autocast("cpu", dtype=torch.float16):
        out = model(x, noise=torch.randn(64, 4), prior_z=torch.randn(64, 4))
    captured = []
    original = module.adaptive_weight_from_output_grads
    monkeypatch.setattr(module, "adaptive_weight_from_output_grads",
                        lambda nll_parts, gan_parts, *a: captured.append([g for _, g in nll_parts + gan_parts])
                        or original(nll_parts, gan_parts, *a))
    bce_grad = torch.autograd.grad(loss_fn.terms(x, out)["rec"].mean(), out.logits, retain_graph=True)[0]
    _, logs32 = loss_fn.generator_loss(x, out, 0, model.last_layer)
    with torch.autocast("cpu", dtype=torch.float16):
        _, logs16 = loss_fn.generator_loss(x, out, 0, model.last_layer)
    (nll32, gan32, samples32), (nll16, gan16, samples16) = captured
    assert logs16["d_weight"].item() == pytest.approx(logs32["d_weight"].item(), rel=0.01)
    for name, reference, grad in (("LPIPS", nll32 - bce_grad, nll16 - bce_grad), ("D", gan32, gan16),
                                  ("sample D", samples32, samples16)):
        error = ((grad - reference).norm() / reference.norm()).item()
        flushed = ((grad == 0) & (reference != 0)).float().mean().item()
        assert error < 0.01 and flushed == 0.0, f"{name}: relative error {error:.4f}, flushed {flushed:.2%}"


def test_discriminator_loss_runs_the_critics_it_is_given_by_name():
    """The trainer passes DDP / compiled wrappers of the loss's own critics as one mapping: those run."""
    cfg, model, loss_fn = setup(use_gan=True, gan_samples=True, disc_start=0)
    calls = []

    class Wrapper(torch.nn.Module):
        def __init__(self, name, net):
            super().__init__()
            self.name, self.net = name, net

        def forward(self, x):
            calls.append(self.name)
            return self.net(x)

    assert set(loss_fn.critics()) == {"discriminator", "sample_discriminator"}
    wrapped = {name: Wrapper(name, net) for name, net in loss_fn.critics().items()}
    x = torch.rand(2, 1, 28, 28)
    loss_fn.discriminator_loss(x, torch.rand(2, 1, 28, 28), fake_samples=torch.rand(2, 1, 28, 28), critics=wrapped)
    assert calls == ["discriminator", "sample_discriminator"]
