"""Per-epoch evolution GIFs, curves and end-of-run figures under <assets_dir>/latent_<N>[...]/
(<assets_dir> defaults to the run folder's assets/).

Each epoch's raw frame material is kept in `frames/` (latent points as .npy, image grids as
.png), so a resumed run appends to the same GIFs, and the latent GIF can be re-rendered with one
set of axis limits for all frames. `frames/run.json` names the run the frames belong to: another
run pointed at the same folder is refused before it writes anything, never spliced in.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from ..config import Config, ConfigError
from ..logger import read_metrics
from ..models import evaluating
from ..priors.mixture import posterior_means
from .draw import (
    image_grid,
    latent_scatter,
    plot_losses,
    plot_metrics,
    read_png,
    tile_px,
    with_caption,
    write_gif,
    write_png,
)
from .projection import nice_limit, project

LATENT_IMAGES = 2000
NUM_SAMPLES = 40
PRIOR_SEED = 4321


def assets_folder(cfg: Config) -> Path:
    name = f"latent_{cfg.latent}" + ("-spatial" if cfg.latent_shape == "spatial" else "")
    name += "" if cfg.arch == "unet" else f"-{cfg.arch}"
    return (Path(cfg.assets_dir) if cfg.assets_dir else cfg.run_dir() / "assets") / name


def one_per_class(labels: Optional[torch.Tensor], n: int = 10) -> torch.Tensor:
    """The first image of each class (at most 10 classes shown), or the first n without labels."""
    if labels is None:
        return torch.arange(n)
    return torch.stack([torch.nonzero(labels == c)[0, 0] for c in labels.unique().tolist()[:10]]).cpu()


class EvolutionAssets:
    def __init__(self, cfg: Config):
        self.cfg = cfg
        self.folder = assets_folder(cfg)
        self.frames = self.folder / "frames"
        self.tag = f"{cfg.dataset} · latent {cfg.latent}{' spatial' if cfg.latent_shape == 'spatial' else ''}"

    # ------------------------------------------------------------------ hooks
    def check(self, run_id: str) -> None:
        owner = self.frames / "run.json"
        if owner.is_file():
            recorded = json.loads(owner.read_text())
            other = recorded.get("run_id")
            if other != run_id and not self._left_by_a_dead_run(recorded):
                raise ConfigError(f"{self.folder} holds the GIF frames of another run (id {other}); pass "
                                  f"another --assets-dir (or --out) so the runs do not mix frames")
        self.run_id = run_id

    def _left_by_a_dead_run(self, recorded: dict) -> bool:
        """Frames of a run in this very run folder that never wrote a checkpoint (it crashed in its
        first epoch): nothing can resume them, so this run replaces them (on_fit_start clears them)."""
        here = self.cfg.run_dir()
        return (recorded.get("run_dir") is not None and Path(recorded["run_dir"]).resolve() == here.resolve()
                and not (here / "checkpoints" / "last.pt").is_file())

    def on_fit_start(self, trainer) -> None:
        self.frames.mkdir(parents=True, exist_ok=True)
        (self.frames / "run.json").write_text(json.dumps({"run_id": self.run_id, "run_dir": str(trainer.run_dir)}))
        for stale in self.frames.iterdir():  # a fresh run, or epochs the checkpoint never reached
            if stale.suffix in (".npy", ".png", ".json") and _epoch_of(stale) > trainer.epoch:
                stale.unlink()
        test = trainer.test_data
        self.class_names = test.class_names or ["images"]
        n_latent = min(LATENT_IMAGES, len(test))
        self.latent_x = test.head(n_latent)
        self.latent_labels = (test.labels[:n_latent].cpu().numpy() if test.labels is not None
                              else np.zeros(n_latent, dtype=np.int64))
        self.recon_x = test.get(one_per_class(test.labels, min(10, len(test))))
        generator = torch.Generator().manual_seed(PRIOR_SEED)
        self.prior_z = torch.randn((NUM_SAMPLES, *trainer.model.latent_dims), generator=generator)

    @torch.no_grad()
    def on_epoch_end(self, trainer, metrics: dict) -> None:
        model, epoch = trainer.eval_model, trainer.epoch
        device = self.recon_x.device
        prior_z = self.prior_z if trainer.prior is None else \
            trainer.prior.sample(NUM_SAMPLES, torch.Generator().manual_seed(PRIOR_SEED))
        with evaluating(model):
            mu = posterior_means(model, self.latent_x.in_order(trainer.cfg.eval_batch_size)).cpu().numpy()
            recon = model.decode_images(model.encode(self.recon_x)[0])
            samples = model.decode_images(prior_z.to(device))

        previous = self.frames / f"latent_{epoch - 1:04d}.npy"
        points = project(mu, np.load(previous) if previous.is_file() else None)
        np.save(self.frames / f"latent_{epoch:04d}.npy", points)
        pairs = torch.cat([self.recon_x, recon])
        write_png(self.frames / f"recon_{epoch:04d}.png", with_caption(
            image_grid(pairs, nrow=len(self.recon_x)), f"{self.tag} · epoch {epoch}",
            [(30, "original"), (30 + tile_px(self.recon_x.shape[-1]) + 6, "recon")]))
        write_png(self.frames / f"samples_{epoch:04d}.png", with_caption(
            image_grid(samples, nrow=10),
            f"{self.tag} · {'GMM prior' if trainer.prior is not None else 'N(0, I)'} samples · epoch {epoch}"))

        self._write_gifs(epoch)
        records = read_metrics(trainer.run_dir / "metrics.jsonl")
        plot_losses(records, self.folder / "loss_curves.png")
        plot_metrics(records, self.folder / "metrics.png")
        trainer.logger.log_media({"media/reconstructions": self.frames / f"recon_{epoch:04d}.png",
                                  "media/samples": self.frames / f"samples_{epoch:04d}.png",
                                  "media/latent": self.frames / f"latent_{epoch:04d}.png"}, trainer.step)

    def on_fit_end(self, trainer) -> None:
        from .draw import interpolation_strip, manifold_grid

        interpolation_strip(trainer.eval_model, self.recon_x, self.folder / "interpolation.png", self.tag)
        if trainer.model.latent_dims == (2,):
            manifold_grid(trainer.eval_model, self.folder / "manifold.png", self.tag)
        names = ("latent_evolution.gif", "reconstruction_evolution.gif", "samples_evolution.gif",
                 "loss_curves.png", "metrics.png", "interpolation.png", "manifold.png")
        trainer.logger.log_media({f"final/{n.rsplit('.', 1)[0]}": self.folder / n for n in names},
                                 trainer.step)

    # ------------------------------------------------------------------ GIFs
    def _epochs(self, kind: str, upto: int) -> list[Path]:
        return sorted(p for p in self.frames.glob(f"{kind}_*.*") if 0 < _epoch_of(p) <= upto)

    def _write_gifs(self, epoch: int) -> None:
        for kind, name in (("recon", "reconstruction_evolution.gif"), ("samples", "samples_evolution.gif")):
            write_gif(self.folder / name, [read_png(p) for p in self._epochs(kind, epoch)])
        self._write_latent_gif(epoch)

    def _write_latent_gif(self, epoch: int) -> None:
        point_files = [p for p in self._epochs("latent", epoch) if p.suffix == ".npy"]
        points = [np.load(p) for p in point_files]
        limit = nice_limit(points)
        state_file = self.frames / "latent_render.json"
        state = json.loads(state_file.read_text()) if state_file.is_file() else {}
        axes = ("z1", "z2") if self.cfg.latent_shape == "vector" and self.cfg.latent == 2 else \
            ("PC1 (aligned)", "PC2 (aligned)")
        frames = []
        for path, pts in zip(point_files, points):
            png = path.with_suffix(".png")
            if state.get("limit") != limit or not png.is_file():
                write_png(png, latent_scatter(pts, self.latent_labels, self.class_names, limit,
                                              f"{self.tag} · epoch {_epoch_of(path)}", axes))
            frames.append(read_png(png))
        state_file.write_text(json.dumps({"limit": limit}))
        write_gif(self.folder / "latent_evolution.gif", frames)


def _epoch_of(path: Path) -> int:
    try:
        return int(path.stem.rsplit("_", 1)[1])
    except (IndexError, ValueError):
        return 0
