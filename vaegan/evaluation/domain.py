"""Offline sample fidelity: a "domain FD" in the feature space of a small classifier that vaegan
trains once per dataset — on its whole training split, with a fixed seed, whatever a run's --seed,
--limit-train or validation hold-out — and caches, plus that classifier's accuracy on
reconstructions (does a reconstruction keep its class?).

Inception FID needs ImageNet weights and is widely criticised on 28x28 digits; a classifier of
the domain itself needs no download and sees what matters here. Unlabelled data (a folder without
class sub-folders) trains it to tell which of four rotations an image was turned by: features of
the images' structure without labels, and no class metrics.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ..checkpoint import save_checkpoint
from ..config import INCEPTION_FILE
from ..data import ImageSplit
from ..distributed import barrier, is_main_process

CLASSIFIER_EPOCHS = 3
CLASSIFIER_SEED = 0
CACHE_VERSION = "v2"  # v1 classifiers were trained on a run's own seeded split: never reused
ROTATIONS = 4  # the pretext task of unlabelled data: 0, 90, 180 or 270 degrees


class DomainClassifier(nn.Module):
    """Two conv + pool stages, pooled to 7x7 whatever the image size (28 px: exactly 7x7)."""

    def __init__(self, classes: int = 10, width: int = 128, image_channels: int = 1):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(image_channels, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.AdaptiveAvgPool2d(7),
            nn.Flatten(), nn.Linear(64 * 7 * 7, width), nn.ReLU())
        self.head = nn.Linear(width, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def cache_dir() -> Path:
    return Path(os.environ.get("VAEGAN_CACHE", Path.home() / ".cache" / "vaegan"))


def _data_key(train: ImageSplit) -> str:
    """A digest of the pixels (resident) or the file list (streamed), the labels and the spec."""
    pixels = (train.pixels.cpu().numpy().tobytes() if train.resident
              else "\n".join(map(str, train.pixels.paths)).encode())
    digest = hashlib.sha1(pixels)
    digest.update(b"rotations" if train.labels is None else train.labels.cpu().numpy().tobytes())
    digest.update(str(train.spec).encode())
    return digest.hexdigest()[:16]


def _new_classifier(train: ImageSplit) -> DomainClassifier:
    classes = ROTATIONS if train.labels is None else len(train.class_names)
    return DomainClassifier(classes, image_channels=train.spec.channels).to(train.device)


def _rotated(x: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Each image turned by a random multiple of 90 degrees, and that multiple (the target)."""
    turns = torch.randint(ROTATIONS, (len(x),), generator=generator)
    return torch.stack([torch.rot90(img, int(k), (-2, -1)) for img, k in zip(x, turns)]), turns.to(x.device)


@torch.enable_grad()  # callers such as eval.py run under no_grad
def train_classifier(train: ImageSplit, epochs: int = CLASSIFIER_EPOCHS,
                     seed: int = CLASSIFIER_SEED) -> DomainClassifier:
    """Trained on the labels, or (unlabelled data) on which rotation each image was turned by."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = _new_classifier(train)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for epoch in range(epochs):
        order = torch.randperm(len(train), generator=generator).split(128)
        batches = tqdm(zip(order, train.batches(order)), total=len(order), leave=False, dynamic_ncols=True,
                       desc=f"domain classifier, once per dataset: epoch {epoch + 1}/{epochs}")
        for idx, x in batches:
            if train.labels is None:
                x, target = _rotated(x, generator)
            else:
                target = train.labels[idx.to(train.labels.device)]
            loss = F.cross_entropy(model(x), target)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return model.eval()


def dataset_classifier(cfg, device: torch.device, data=None) -> DomainClassifier:
    """The one classifier of a run's dataset (`cfg`: a vaegan Config; `data`: its loaded splits, if
    at hand), at the run's image spec. Trained or loaded outside the global RNG streams, so a run
    draws the same numbers either way."""
    from ..data import load_whole_train

    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        return domain_classifier(load_whole_train(cfg, data).to(device), cfg.dataset)


def domain_classifier(train: ImageSplit, dataset: str) -> DomainClassifier:
    """The cached classifier for exactly this training data, trained on first use. Under torchrun
    rank 0 trains and writes it while the other ranks wait, then read it."""
    path = cache_dir() / f"classifier-{CACHE_VERSION}-{dataset}-{_data_key(train)}.pt"
    model = _cached_classifier(path, train) if is_main_process() else None
    if model is None and is_main_process():
        model = train_classifier(train)
        save_checkpoint(model.state_dict(), path)
    barrier()
    if model is None:
        model = _cached_classifier(path, train)
        if model is None:
            raise OSError(f"rank 0 wrote no readable domain classifier at {path}")
    return model


def _cached_classifier(path: Path, train: ImageSplit):
    """The classifier cached at `path`, or None when there is none or it is torn."""
    if not path.is_file():
        return None
    model = _new_classifier(train)
    try:
        model.load_state_dict(torch.load(path, map_location=train.device, weights_only=True))
    except (RuntimeError, OSError, EOFError):
        return None
    return model.eval()


@torch.no_grad()
def features_and_logits(model: DomainClassifier, images, batch_size: int = 500):
    """`images`: a tensor, or an iterable of batches."""
    batches = images.split(batch_size) if isinstance(images, torch.Tensor) else images
    feats = [model.features(x.float()) for x in batches]
    feats = torch.cat(feats)
    return feats, model.head(feats)


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a^1/2 S_b S_a^1/2)^1/2) of two feature sets, float64."""
    a, b = a.double(), b.double()
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = torch.cov(a.T), torch.cov(b.T)
    vals, vecs = torch.linalg.eigh(cov_a)
    sqrt_a = vecs @ torch.diag(vals.clamp(min=0).sqrt()) @ vecs.T
    cross = torch.linalg.eigvalsh(sqrt_a @ cov_b @ sqrt_a).clamp(min=0).sqrt().sum()
    return float((mu_a - mu_b).pow(2).sum() + torch.trace(cov_a) + torch.trace(cov_b) - 2 * cross)


def class_entropy(logits: torch.Tensor) -> float:
    """Entropy (nats) of the histogram of predicted classes: ln(classes) when every class is drawn
    equally often, 0 when all samples fall in one class (mode collapse)."""
    counts = torch.bincount(logits.argmax(1), minlength=logits.shape[1]).double()
    p = counts[counts > 0] / counts.sum()
    return float(-(p * p.log()).sum()) + 0.0  # + 0.0: no "-0" for a single class


def fidelity_metrics(classifier: DomainClassifier, test: ImageSplit, recon: torch.Tensor,
                     samples: dict[str, torch.Tensor], batch_size: int = 500) -> dict[str, float]:
    """samples: {suffix: decoded prior draws}; suffix "" for N(0, I), "_gmm" for the mixture, ...
    The class metrics (accuracy, entropy) need labels; the FDs do not."""
    real_feats, real_logits = features_and_logits(classifier, test.in_order(batch_size))
    recon_feats, recon_logits = features_and_logits(classifier, recon)
    metrics = {"test/domain_fd_recon": frechet_distance(real_feats, recon_feats)}
    if test.labels is not None:
        metrics["test/classifier_acc"] = (real_logits.argmax(1) == test.labels).float().mean().item()
        metrics["test/recon_class_acc"] = (recon_logits.argmax(1) == test.labels).float().mean().item()
    for suffix, images in samples.items():
        sample_feats, sample_logits = features_and_logits(classifier, images)
        metrics[f"test/domain_fd_samples{suffix}"] = frechet_distance(real_feats, sample_feats)
        if test.labels is not None:
            metrics[f"test/sample_class_entropy{suffix}"] = class_entropy(sample_logits)
    return metrics


def conditional_sample_metrics(classifier: DomainClassifier, real_features: torch.Tensor, images: torch.Tensor,
                               asked: torch.Tensor, split: str) -> dict[str, float]:
    """A conditional prior's samples of the classes `asked` (one per image, class-balanced): their
    domain FD against the real images' features, and the share the classifier assigns to the asked class."""
    features, logits = features_and_logits(classifier, images)
    return {f"{split}/domain_fd_samples_conditional": frechet_distance(real_features, features),
            f"{split}/sample_class_match_conditional": (logits.argmax(1).cpu() == asked.cpu()).float().mean().item()}


class ValidationFidelity:
    """The per-epoch fidelity metrics of a run: domain FD of the validation split's reconstructions and
    (vector latents) of as many prior samples, against the validation images. `gather` joins the
    feature rows of every DDP rank's shard (the identity in one process)."""

    def __init__(self, classifier: DomainClassifier, val: ImageSplit, batch_size: int,
                 gather: Callable[[torch.Tensor], torch.Tensor] = lambda t: t):
        self.classifier, self.val, self.batch_size, self.gather = classifier, val, batch_size, gather
        self.real = gather(features_and_logits(classifier, val.in_order(batch_size))[0])

    def fd(self, images: Iterable[torch.Tensor]) -> float:
        """Domain FD of this rank's share of images (batches) against the validation images."""
        return frechet_distance(self.real, self.gather(features_and_logits(self.classifier, images)[0]))

    @property
    def measurable(self) -> bool:
        return len(self.real) >= 2  # a covariance needs two images

    @torch.no_grad()
    def __call__(self, model, prior=None, with_samples: bool = False, seed: int = 0) -> dict[str, float]:
        """`model`: the VAE judged (in eval mode); `prior`: what samples are drawn from (None: N(0, I))."""
        from ..priors.mixture import sample_latents

        if not self.measurable:
            return {}
        recon = (model.decode_images(model.encode(x)[0]) for x in self.val.in_order(self.batch_size))
        metrics = {"val/domain_fd_recon": self.fd(recon)}
        if with_samples:
            generator = torch.Generator().manual_seed(seed)
            draws = (model.decode_images(sample_latents(model, len(chunk), prior, generator))
                     for chunk in torch.arange(len(self.val)).split(self.batch_size))
            metrics["val/domain_fd_samples"] = self.fd(draws)
        return metrics


def inception_fid(real: torch.Tensor, fakes: dict[str, torch.Tensor], weights: str | None = None,
                  batch_size: int = 100) -> tuple[dict[str, float], str | None]:
    """({name: FID of fakes[name] against real}, None) with torchmetrics' Inception features, or
    ({}, a one-line reason it was skipped). Images [N, 1 or 3, H, W] in [0, 1], gray expanded to RGB;
    torchmetrics resizes them to 299 px, so the real images go through Inception only once."""
    try:
        from torchmetrics.image.fid import FrechetInceptionDistance

        metric = FrechetInceptionDistance(feature=2048, normalize=True, reset_real_features=False,
                                          feature_extractor_weights_path=weights).to(real.device)
    except Exception as e:  # missing torch-fidelity, no network, a bad weights file
        where = Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_FILE
        return {}, (f"Inception FID skipped ({type(e).__name__}: {' '.join(str(e).split())[:100]}); "
                    f"put {INCEPTION_FILE} in {where.parent} or pass --fid-weights PATH")

    def feed(images: torch.Tensor, is_real: bool) -> None:
        for x in images.split(batch_size):
            metric.update(x.float().expand(-1, 3, -1, -1), real=is_real)

    feed(real, True)
    scores = {}
    for name, fake in fakes.items():
        metric.reset()  # drops the fake statistics only (reset_real_features=False)
        feed(fake, False)
        scores[name] = metric.compute().item()
    return scores, None
