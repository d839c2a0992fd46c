"""One module owns every term of the VAE-GAN objective (in the spirit of taming's
LPIPSWithDiscriminator) and returns named, detached terms for logging.

Scales, per image (then averaged over the batch):
  rec        = sum over the C*H*W pixels of BCE (nats) / squared error / absolute error
  kl         = sum over latent dims of KL(q(z|x) || N(0, I)) in nats, logged unweighted; the loss
               adds beta * kl (beta = kl_weight, logged too)
  mmd        = MMD between the batch's posterior means and as many N(0, I) draws (IMQ kernels, as
               WAE's deterministic codes): a statistic of the whole batch, not per image; the loss
               adds mmd_weight * mmd. It spreads the codes over N(0, I) without pulling each q(z|x)
               onto it, so a small beta keeps its detail and N(0, I) draws land where codes are.
               On means, not samples z: samples satisfy it trivially by collapsing every q(z|x) to
               N(0, I) (measured: KL 35 -> 0.08 nats in 30 steps at weight 1000).
  swd        = squared sliced Wasserstein-2 distance between the same means and SWD_PRIOR_DRAWS x as
               many N(0, I) draws over SWD_PROJECTIONS random directions (SWAE): each code is pulled
               towards its quantile along every direction; the loss adds swd_weight * swd.
  g_loss_latent = the generator loss of the same means against an MLP critic that tells them from
               N(0, I) draws (adversarial autoencoder), from `disc_start` on; the loss adds
               latent_adversary_weight * g_loss_latent (no adaptive weight: it reaches the encoder only).
               The critic learns over many batches, so it can see how the codes fill N(0, I) at a finer
               scale than a statistic of one batch of 128 codes.
  perceptual = perceptual_weight * LPIPS * C*H*W  (taming's per-pixel convention)
  disc_feature = the squared distance between D's last hidden features of x and of its
               reconstruction, averaged over features; from `disc_start` on, nll adds
               disc_feature_weight * disc_feature * C*H*W (Larsen et al.'s learned similarity:
               an error measured where D tells real from fake, not pixel by pixel). D's parameters
               are detached, so this never trains D.
  adversarial: g_loss scaled by the adaptive weight ||grad rec|| / ||grad gan|| on the decoder's
               last layer, times disc_weight, from step `disc_start` on. With gan_samples, decodes
               of prior draws get the same term (one adaptive weight over both) against a second
               PatchGAN of their own, which learns to tell them from real images. Their own, because
               one D shared by both kinds of fake stopped telling reconstructions from their images
               (measured: its feature distance fell ~10x, the reconstructions' Frechet distance rose ~10x).
With bce and beta = 1, rec + kl is the negative ELBO in nats per image.
"""
from __future__ import annotations

from typing import Mapping, Optional

import ot
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from ..config import Config
from ..device import fp32_under_fp16
from ..distributed import all_reduce_mean, global_batch
from ..models import VAEOutput, build_discriminator, build_latent_discriminator, to_images
from .perceptual import LPIPS


def kl_per_image(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) summed over the latent dims of each image ([B])."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).flatten(1).sum(1)


def rec_per_image(kind: str, logits: torch.Tensor, x: torch.Tensor, linear: bool = False) -> torch.Tensor:
    """The loss summed over each image's C*H*W pixels; leading dims ([B] or [K, B]) are kept.
    `linear`: the decoder outputs [-1, 1] images, not logits (see vaegan.models.vae)."""
    if kind == "bce":
        if linear:
            raise ValueError("the bce loss needs a sigmoid decoder")
        err = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
    elif kind == "mse":
        err = (to_images(logits, linear) - x).pow(2)
    else:
        err = (to_images(logits, linear) - x).abs()
    return err.flatten(-3).sum(-1)


IMQ_SCALES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


def mmd_imq(z: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
    """Unbiased MMD^2 between codes z [B, D] and prior draws [B, D], with a sum of inverse
    multiquadratic kernels C / (C + |a - b|^2), C = 2 D s over WAE's scales s (heavy tails keep a
    gradient for codes far from the prior, where a Gaussian kernel's vanishes)."""
    n, dims = z.shape
    if n < 2:  # one code has no spread to compare (a last batch of one image): no term, not NaN
        return z.sum() * 0.0
    both = torch.cat([z, prior])
    dist2 = torch.cdist(both, both).pow(2)
    kernel = sum(c / (c + dist2) for c in (2.0 * dims * s for s in IMQ_SCALES))
    off_diag = 1.0 - torch.eye(n, device=z.device, dtype=z.dtype)
    k_zz, k_pp, k_zp = kernel[:n, :n], kernel[n:, n:], kernel[:n, n:]
    within = ((k_zz + k_pp) * off_diag).sum() / (n * (n - 1))
    return within - 2.0 * k_zp.mean()


SWD_PROJECTIONS, SWD_PRIOR_DRAWS = 64, 8


def sliced_wasserstein_to_prior(z: torch.Tensor) -> torch.Tensor:
    """Squared sliced Wasserstein-2 distance between codes z [B, D] and SWD_PRIOR_DRAWS * B draws of
    N(0, I), over SWD_PROJECTIONS random unit directions, all drawn from torch's generator (so resume
    and DDP ranks stay in step; POT would otherwise reseed it). More prior draws than codes: the
    target quantiles are then less noisy than the batch they are compared with."""
    if len(z) < 2:
        return z.sum() * 0.0
    z = z.float()
    prior = torch.randn(SWD_PRIOR_DRAWS * len(z), z.shape[1], device=z.device)
    directions = torch.randn(z.shape[1], SWD_PROJECTIONS, device=z.device)
    directions = directions / directions.norm(dim=0, keepdim=True)
    # fp32 whatever the autocast around (POT projects with a plain matmul, which autocast would run
    # in bf16 / fp16); the mean of the per-direction W2^2 is the square without POT's sqrt, whose
    # gradient is infinite at zero distance.
    with torch.autocast(z.device.type, enabled=False):
        _, log = ot.sliced_wasserstein_distance(z, prior, projections=directions, p=2, log=True)
    return log["projected_emds"].mean()


def adaptive_weight_from_output_grads(nll_parts: list[tuple[torch.Tensor, torch.Tensor]],
                                      gan_parts: list[tuple[torch.Tensor, torch.Tensor]],
                                      last_layer: torch.Tensor, max_weight: float = 1e4) -> torch.Tensor:
    """`adaptive_weight`, given each loss's gradients w.r.t. decoder outputs as (output, gradient)
    pairs: the chain rule through the last layer alone turns them into last-layer gradients."""
    # Two calls rather than one batched (vmap) call, which compiled graphs do not support.
    rec_w, gan_w = (all_reduce_mean(torch.autograd.grad([t for t, _ in parts], last_layer,
                                                        grad_outputs=[g for _, g in parts], retain_graph=True)[0])
                    for parts in (nll_parts, gan_parts))
    return (rec_w.norm() / (gan_w.norm() + 1e-4)).clamp(0.0, max_weight).detach()


def frozen_call(net: nn.Module, *args, **kwargs):
    """`net(*args, **kwargs)` with its parameters detached: a backward through the output reaches
    the inputs, never the critic's weights (so the generator's step never trains a critic)."""
    return functional_call(net, {k: v.detach() for k, v in net.named_parameters()}, args, kwargs)


def hinge_d_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return 0.5 * (F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean())


def vanilla_d_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return 0.5 * (F.softplus(-real).mean() + F.softplus(fake).mean())


def hinge_g_loss(fake: torch.Tensor) -> torch.Tensor:
    return -fake.mean()


def vanilla_g_loss(fake: torch.Tensor) -> torch.Tensor:
    return F.softplus(-fake).mean()


class VAEGANLoss(nn.Module):
    """Built from explicit arguments, like taming's VQLPIPSWithDiscriminator; `from_config` reads
    them off a Config. The generator and discriminator losses are chosen once, here."""

    def __init__(self, recon_loss: str = "bce", kl_weight: float = 1.0, kl_warmup_steps: int = 0,
                 perceptual: Optional[LPIPS] = None, perceptual_weight: float = 0.0,
                 discriminator: Optional[nn.Module] = None, disc_loss: str = "hinge", disc_start: int = 0,
                 disc_weight: float = 0.5, mmd_weight: float = 0.0, swd_weight: float = 0.0,
                 latent_discriminator: Optional[nn.Module] = None, latent_adversary_weight: float = 0.0,
                 disc_feature_weight: float = 0.0, sample_discriminator: Optional[nn.Module] = None,
                 eq_weight: float = 0.0):
        super().__init__()
        self.eq_weight = eq_weight
        self.recon_loss, self.beta, self.kl_warmup_steps = recon_loss, kl_weight, kl_warmup_steps
        self.mmd_weight, self.swd_weight = mmd_weight, swd_weight
        self.perceptual = perceptual if perceptual_weight > 0 else None
        self.perceptual_weight = perceptual_weight
        self.discriminator = discriminator
        self.sample_discriminator = sample_discriminator if discriminator is not None else None
        self.latent_discriminator = latent_discriminator if latent_adversary_weight > 0 else None
        self.latent_adversary_weight = latent_adversary_weight
        self.disc_start, self.disc_weight = disc_start, disc_weight
        self.disc_feature_weight = disc_feature_weight if discriminator is not None else 0.0
        self._d_loss = hinge_d_loss if disc_loss == "hinge" else vanilla_d_loss
        self._g_loss = hinge_g_loss if disc_loss == "hinge" else vanilla_g_loss

    @classmethod
    def from_config(cls, cfg: Config, perceptual: Optional[LPIPS] = None) -> "VAEGANLoss":
        return cls(recon_loss=cfg.recon_loss, kl_weight=cfg.kl_weight, kl_warmup_steps=cfg.kl_warmup_steps,
                   perceptual=perceptual, perceptual_weight=cfg.perceptual_weight,
                   discriminator=build_discriminator(cfg) if cfg.use_gan else None, disc_loss=cfg.disc_loss,
                   disc_start=cfg.disc_start, disc_weight=cfg.disc_weight, mmd_weight=cfg.mmd_weight,
                   swd_weight=cfg.swd_weight,
                   latent_discriminator=build_latent_discriminator(cfg) if cfg.latent_adversary_weight > 0 else None,
                   latent_adversary_weight=cfg.latent_adversary_weight,
                   disc_feature_weight=cfg.disc_feature_weight,
                   sample_discriminator=build_discriminator(cfg) if cfg.use_gan and cfg.gan_samples else None,
                   eq_weight=cfg.eq_weight)

    def kl_weight(self, step: int) -> float:
        warm = self.kl_warmup_steps
        return self.beta * (min(1.0, step / warm) if warm else 1.0)

    def gan_active(self, step: int) -> bool:
        return self.discriminator is not None and step >= self.disc_start

    def terms(self, x: torch.Tensor, out: VAEOutput) -> dict[str, torch.Tensor]:
        """Per-image rec, kl and (if enabled) lpips, in fp32, with gradients."""
        return self._terms(x, out.logits.float(), out)

    def _terms(self, x: torch.Tensor, logits: torch.Tensor, out: VAEOutput) -> dict[str, torch.Tensor]:
        terms = {"rec": rec_per_image(self.recon_loss, logits, x, out.linear),
                 "kl": kl_per_image(out.mu.float(), out.logvar.float())}
        if self.perceptual is not None:
            with fp32_under_fp16(logits.device):
                terms["lpips"] = self.perceptual(to_images(logits, out.linear), x)
        return terms

    def generator_loss(self, x: torch.Tensor, out: VAEOutput, step: int,
                       last_layer: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(tensor to call .backward() on, detached named terms; `loss` is the objective's value).

        With the GAN active, the adaptive weight needs the reconstruction's and the adversarial
        term's gradients on the decoder's last layer. Rather than backpropagating both through the
        whole network twice (once for the weight, once for the update), each term's gradient w.r.t.
        the decoder logits is taken once, the last-layer gradients follow from those by a cheap conv
        backward, and the returned surrogate sum(logits * dL/dlogits) + the latent terms has the
        objective's gradient (tested against the two-backward form)."""
        logits = out.logits.float()  # one fp32 node: the gradients below are taken w.r.t. it
        terms = self._terms(x, logits, out)
        nll = terms["rec"].mean()
        if "lpips" in terms:
            nll = nll + self.perceptual_weight * x[0].numel() * terms["lpips"].mean()
        d_fake = None  # D's logits on the reconstructions
        if self.gan_active(step):
            d_fake, feature_distance = self._critic_on_reconstructions(x, logits, out.linear)
            if feature_distance is not None:
                terms["disc_feature"] = feature_distance
                nll = nll + self.disc_feature_weight * x[0].numel() * feature_distance.mean()
        beta = self.kl_weight(step)
        kl = terms["kl"].mean()
        logs = {"rec": terms["rec"].mean(), "kl": kl, "kl_weight": torch.tensor(beta), "nll": nll}
        logs.update({name: terms[name].mean() for name in ("lpips", "disc_feature") if name in terms})
        latent_loss = beta * kl + self._code_terms(out, step, logs) + self._equivariance_term(x, out, logs)
        loss = nll + latent_loss
        if d_fake is None:
            logs["loss"] = loss
            return loss, {k: v.detach() for k, v in logs.items()}
        backward_loss, adversarial = self._adversarial(logits, nll, d_fake, out, last_layer, logs)
        logs["loss"] = loss + adversarial
        return backward_loss + latent_loss, {k: v.detach() for k, v in logs.items()}

    def _equivariance_term(self, x: torch.Tensor, out: VAEOutput, logs: dict) -> torch.Tensor:
        """eq_weight x the reconstruction loss of the transformed pair (EQ-VAE), per pixel as the
        reconstruction term (a scaled-down pair has fewer pixels), logged as `eq`. Outside the
        reconstruction term the GAN's adaptive weight balances."""
        if out.eq_logits is None or self.eq_weight == 0:
            return torch.zeros((), device=x.device)
        transformed = rec_per_image(self.recon_loss, out.eq_logits.float(), out.eq_target, out.linear)
        logs["eq"] = (transformed * (x[0].numel() / out.eq_target[0].numel())).mean()
        return self.eq_weight * logs["eq"]

    def _critic_on_reconstructions(self, x: torch.Tensor, logits: torch.Tensor,
                                   linear: bool) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """D's logits on the reconstructions (a frozen call: they reach the VAE, never D) and, with
        disc_feature_weight, the per-image distance of D's features of them and of x."""
        with_features = self.disc_feature_weight > 0
        with fp32_under_fp16(logits.device):
            d_out = frozen_call(self.discriminator, to_images(logits, linear), return_features=with_features)
            if not with_features:
                return d_out, None
            d_fake, fake_features = d_out
            with torch.no_grad():
                _, real_features = self.discriminator(x, return_features=True)
        return d_fake, (fake_features.float() - real_features.float()).pow(2).flatten(1).mean(1)

    def _code_terms(self, out: VAEOutput, step: int, logs: dict) -> torch.Tensor:
        """The weighted code-matching terms (MMD, SWD, the latent critic's), each logged into `logs`."""
        total = torch.zeros((), device=out.mu.device)
        if self.mmd_weight > 0 or self.swd_weight > 0:
            # Drawn for the global batch: every rank draws the same (the trainer keeps them in step).
            codes = global_batch(out.mu.float().flatten(1))
        if self.mmd_weight > 0:
            logs["mmd"] = mmd_imq(codes, torch.randn_like(codes))
            total = total + self.mmd_weight * logs["mmd"]
        if self.swd_weight > 0:
            logs["swd"] = sliced_wasserstein_to_prior(codes)
            total = total + self.swd_weight * logs["swd"]
        if self.latent_discriminator is not None and self.gan_active(step):
            # A mean over this rank's codes: DDP's gradient average makes it the global batch's.
            critic_logits = frozen_call(self.latent_discriminator, out.mu.float().flatten(1))
            logs["g_loss_latent"] = self._g_loss(critic_logits.float())
            total = total + self.latent_adversary_weight * logs["g_loss_latent"]
        return total

    def _adversarial(self, logits: torch.Tensor, nll: torch.Tensor, d_fake: torch.Tensor, out: VAEOutput,
                     last_layer: torch.Tensor, logs: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """(the surrogate whose gradient is that of nll + w * g, the adversarial term w * g's value).
        One adaptive weight w for the whole adversarial term (reconstructions + prior samples): its
        last-layer gradient stays disc_weight x the reconstruction term's, however many parts."""
        g_loss = self._g_loss(d_fake.float())
        nll_grad = torch.autograd.grad(nll, logits, retain_graph=True)[0]
        gan_parts = [(logits, torch.autograd.grad(g_loss, logits, retain_graph=True)[0])]
        g_total = g_loss
        if out.prior_logits is not None:
            prior_logits = out.prior_logits.float()
            with fp32_under_fp16(prior_logits.device):
                d_samples = frozen_call(self.sample_discriminator, to_images(prior_logits, out.linear))
            logs["g_loss_samples"] = self._g_loss(d_samples.float())
            g_total = g_loss + logs["g_loss_samples"]
            gan_parts.append((prior_logits, torch.autograd.grad(logs["g_loss_samples"], prior_logits,
                                                                retain_graph=True)[0]))
        d_weight = adaptive_weight_from_output_grads([(logits, nll_grad)], gan_parts, last_layer) * self.disc_weight
        surrogate = (logits * nll_grad).sum() + sum(d_weight * (t * g).sum() for t, g in gan_parts)
        logs.update(g_loss=g_loss, d_weight=d_weight)
        return surrogate, d_weight * g_total

    def _image_critic_loss(self, critic: nn.Module, x: torch.Tensor,
                           fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(loss, logits on x, logits on fake) from one pass over real and detached fake images."""
        logits = critic(torch.cat([x.float(), fake.detach().float()])).float()
        logits_real, logits_fake = logits.split([len(x), len(fake)])
        return self._d_loss(logits_real, logits_fake), logits_real, logits_fake

    CRITICS = ("discriminator", "sample_discriminator", "latent_discriminator")

    def critics(self) -> dict[str, nn.Module]:
        """The critics this loss has (the PatchGAN, and the sample PatchGAN and latent critic if on), by name."""
        return {name: getattr(self, name) for name in self.CRITICS if getattr(self, name) is not None}

    def discriminator_loss(self, x: torch.Tensor, fake: torch.Tensor, fake_samples: Optional[torch.Tensor] = None,
                           codes: Optional[torch.Tensor] = None, prior_codes: Optional[torch.Tensor] = None,
                           critics: Optional[Mapping[str, nn.Module]] = None) -> tuple[torch.Tensor, dict]:
        """fake: reconstructions, for D; fake_samples: decoded prior draws (gan_samples), for the
        sample discriminator; both exactly as the generator's term shows them to the critics
        (`VAEOutput.images` / `.sample_images`: the [0, 1] scale, unclamped). Both are detached
        here so no update of a critic reaches the VAE.
        codes: this batch's posterior means [B, D] and prior_codes: as many N(0, I) draws, for the
        latent critic (when there is one), which learns to tell the draws (real) from the codes
        (fake). Each critic's loss reaches only its own parameters; the sum is returned.
        The trainer draws prior_codes for the global batch. `critics` (default: `self.critics()`) may
        map the same names to the DDP or compiled wrappers of the loss's own modules."""
        critics = {**self.critics(), **(critics or {})}
        d_loss, logits_real, logits_fake = self._image_critic_loss(critics["discriminator"], x, fake)
        logs = {"d_loss": d_loss, "d_real": logits_real.mean(), "d_fake": logits_fake.mean()}
        if fake_samples is not None:
            if self.sample_discriminator is None:
                raise ValueError("fake_samples need the sample discriminator (gan_samples)")
            logs["d_loss_samples"], _, logits_samples = self._image_critic_loss(critics["sample_discriminator"], x,
                                                                                fake_samples)
            logs["d_fake_samples"] = logits_samples.mean()
            d_loss = d_loss + logs["d_loss_samples"]
        if self.latent_discriminator is not None and codes is not None:
            codes = codes.detach().float().flatten(1)
            logits = critics["latent_discriminator"](torch.cat([prior_codes.float().flatten(1), codes])).float()
            logits_prior, logits_codes = logits.split([len(codes), len(codes)])
            logs["d_loss_latent"] = self._d_loss(logits_prior, logits_codes)
            logs["d_codes"] = logits_codes.mean()
            d_loss = d_loss + logs["d_loss_latent"]
        return d_loss, {k: v.detach() for k, v in logs.items()}
