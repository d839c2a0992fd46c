"""What ends an epoch: the evaluation of the splits and of the samples, the refit mixture prior, best.pt,
and the summary a finished run leaves."""
from __future__ import annotations

import warnings

from sklearn.exceptions import ConvergenceWarning

from ..device import autocast
from ..evaluation.metrics import EVAL_SEED, split_metrics
from ..models import evaluating
from ..priors.mixture import GaussianMixturePrior, posterior_means
from ..tracked import improves


class EpochEnd:
    """The end of each epoch and of the run; `Trainer`'s second job."""

    def _warn_about_plan(self) -> None:
        """Before training: what would make best.pt or the GAN silently absent from this run."""
        total = self.cfg.epochs * self.steps_per_epoch
        if self.cfg.use_gan and total <= self.cfg.disc_start:
            epochs = self.cfg.disc_start // self.steps_per_epoch + 1
            self.logger.info(f"WARNING: the GAN never trains in this run: {self.cfg.epochs} epochs are {total} steps "
                             f"({self.steps_per_epoch} an epoch) and --disc-start is {self.cfg.disc_start}; it needs "
                             f"--epochs {epochs} or more, or a lower --disc-start. best.pt counts only epochs that "
                             f"trained the GAN, so it is not written")
        if self.val_data is None:
            self.logger.info("NOTE: no validation split (--val-images 0, or a checkpoint from before the split): "
                             "best.pt is not written or updated; use last.pt")


    def eval_metrics(self) -> dict[str, float]:
        bs, model, shown = self.cfg.eval_batch_size, self.eval_model, self.dist.is_main
        metrics = split_metrics(model, self.loss_fn, self.eval_data, bs, "test", self.amp_dtype, shown)
        if self.val_data is not None:
            metrics.update(split_metrics(model, self.loss_fn, self.val_data, bs, "val", self.amp_dtype, shown))
        if self.fidelity is not None:
            # Samples of the prior the run keeps (the mixture fitted this epoch, else N(0, I)); a
            # spatial latent's N(0, I) decodes are not images, so only its reconstructions are judged.
            with evaluating(model), autocast(self.device, self.amp_dtype):
                metrics.update(self.fidelity(model, self.prior, with_samples=self.cfg.latent_shape == "vector",
                                             seed=EVAL_SEED + self.dist.rank))
        if self.train_eval_data is not None:
            metrics.update(split_metrics(model, self.loss_fn, self.train_eval_data, bs, "train_eval",
                                         self.amp_dtype, shown))
        return metrics


    def fit_prior(self) -> None:
        """--prior gmm: refit the mixture on the (EMA) model's training posterior means. Every rank fits
        the same one (same images, same seed): the validation samples of each rank are drawn from it."""
        if not self.cfg.uses_mixture_prior():
            return
        with evaluating(self.eval_model), autocast(self.device, self.amp_dtype):
            mu = posterior_means(self.eval_model, self.prior_fit_data.in_order(self.cfg.eval_batch_size))
        with warnings.catch_warnings():  # a short first epoch's posteriors may not converge
            warnings.filterwarnings("ignore", category=ConvergenceWarning)
            self.prior = GaussianMixturePrior.fit(mu, self.cfg.prior_components, self.cfg.seed)


    def _trained_the_gan(self) -> bool:
        """Whether any step so far trained the adversarial term (always True without --use_gan)."""
        return not self.cfg.use_gan or self.step > self.cfg.disc_start


    def _save_epoch(self, metrics: dict) -> None:
        # best.pt: among the epochs that trained the objective, the best by the validation metric
        # (None without a validation split, so no best.pt). Pixel metrics get worse when the GAN
        # starts, so a pre-GAN epoch would otherwise stay best for the whole run.
        name = self.cfg.best_metric
        if self._trained_the_gan() and improves(name, metrics.get(name), self.best.get(name)):
            self.best = {"epoch": self.epoch, **{k: v for k, v in metrics.items() if k.startswith("val/")}}
            self.save(self.ckpt_path.with_name("best.pt"))
        self.save()
        if self.cfg.keep_checkpoints:
            self.save(self.ckpt_path.with_name(f"epoch-{self.epoch:04d}.pt"))
            for old in sorted(self.ckpt_path.parent.glob("epoch-*.pt"))[:-self.cfg.keep_checkpoints]:
                if self.dist.is_main:
                    old.unlink()


    def _finish(self, metrics: dict) -> None:
        if not self.dist.is_main:
            return
        # The validation values of the checkpoint kept as best.pt (its epoch included), not per-metric bests.
        self.logger.set_summary({**metrics, **{f"best/{k}": v for k, v in self.best.items()}})
        self.logger.log_checkpoints([self.ckpt_path, self.ckpt_path.with_name("best.pt")],
                                    f"model-{self.run_dir.name}")
        self.logger.close()

