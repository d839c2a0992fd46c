"""The work behind `vaegan-export` (vaegan/programs/export.py is its command line): a trained model as
weights only (safetensors + config.json + its priors), or as a diffusers AutoencoderKL and pipeline."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional, Union

from .config import ConfigError

# torch is imported inside the functions that use it: importing this module stays cheap.


def export(checkpoint: Union[str, Path], out: Union[str, Path]) -> list[Path]:
    """Write the inference weights (EMA when present), the config and the prior to `out`:
    weights only, loadable without pickle. Returns the files written."""
    import torch
    from safetensors.torch import save

    from .api import diffusion_prior_of
    from .checkpoint import atomic_write, config_from_checkpoint, inference_weights, load_checkpoint

    saved = load_checkpoint(Path(checkpoint))
    config_from_checkpoint(saved["config"], Path(checkpoint))  # refuse a checkpoint without a usable config
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    weights = {k: v.contiguous() for k, v in inference_weights(saved).items()}
    written = [out / "model.safetensors", out / "config.json"]
    atomic_write(written[0], lambda f: f.write(save(weights)))
    atomic_write(written[1], lambda f: f.write(json.dumps(saved["config"], indent=2).encode() + b"\n"))
    prior_path = out / "prior.safetensors"
    if saved.get("prior"):
        prior = {k: v.contiguous() for k, v in saved["prior"].items() if isinstance(v, torch.Tensor)}
        prior["latent_dims"] = torch.tensor(saved["prior"]["latent_dims"])
        atomic_write(prior_path, lambda f: f.write(save(prior)))
        written.append(prior_path)
    elif prior_path.is_file():  # a stale prior from an earlier export into the same folder
        prior_path.unlink()
    diffusion_path = out / "diffusion.safetensors"
    diffusion = diffusion_prior_of(Path(checkpoint), saved["step"])
    if diffusion is not None:
        state = diffusion.state_dict()
        tensors = {**{f"denoiser.{k}": v.contiguous() for k, v in state["denoiser"].items()},
                   "mean": state["mean"].contiguous(), "std": state["std"].contiguous()}
        meta = {k: json.dumps(v) for k, v in state.items() if k not in tensors and k != "denoiser"}
        atomic_write(diffusion_path, lambda f: f.write(save(tensors, metadata=meta)))
        written.append(diffusion_path)
    elif diffusion_path.is_file():
        diffusion_path.unlink()
    return written


DIFFUSERS_ENTRIES = ("vae", "unet", "scheduler", "model_index.json")


def export_diffusers(checkpoint: Union[str, Path], out: Union[str, Path], data_dir: Optional[str] = None,
                     scale_images: int = 2000) -> list[Path]:
    """Write the model as a diffusers AutoencoderKL in `out`/vae (and, with a diffusion prior, the
    LatentPriorPipeline around it). Its latent scale (vaegan.autoencoder_kl): a decoder-only
    fine-tune's source's, unchanged; else the prior's standardisation when it has one, else measured
    on the posterior means of `scale_images` training images drawn at random. Returns the entries written."""
    import shutil

    from .api import load
    from .autoencoder_kl import as_autoencoder_kl, kept_latent_scale, latent_statistics
    from .checkpoint import load_checkpoint
    from .models import UNetVAE
    from .priors.diffusion import sampling_scheduler

    model = load(checkpoint, device="cpu")
    if not isinstance(model.vae, UNetVAE) or not model.vae.spatial or not model.vae.linear_output:
        raise ConfigError("--format diffusers needs a spatial latent on diffusers' blocks with --decoder-output "
                          "linear (this model has no AutoencoderKL form); --format safetensors exports it")
    prior = model.diffusion
    keys = kept_latent_scale(load_checkpoint(Path(checkpoint)))
    if keys is None:
        mean, std = ((prior.mean, prior.std) if prior is not None
                     else training_latent_spread(model, data_dir, scale_images))
        keys = latent_statistics(mean, std)
    if prior is not None:
        check_prior_scale(prior, keys)
    autoencoder = as_autoencoder_kl(model.vae, keys)
    out = Path(out)
    staging = out.with_name(out.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    if prior is not None:
        from .pipeline import LatentPriorPipeline

        scheduler = sampling_scheduler(prior.timestep_spacing, prior.sampler, prior.prediction)
        LatentPriorPipeline(autoencoder, prior.denoiser.unet, scheduler,
                            prior.sampling_steps, prior.guidance, prior.class_names).save_pretrained(staging)
    else:
        autoencoder.save_pretrained(staging / "vae")
    out.mkdir(parents=True, exist_ok=True)
    for name in DIFFUSERS_ENTRIES:  # the new export replaces every diffusers entry of an earlier one
        old = out / name
        shutil.rmtree(old) if old.is_dir() else old.unlink(missing_ok=True)
        if (staging / name).exists():
            (staging / name).rename(old)
    shutil.rmtree(staging)
    return [out / name for name in DIFFUSERS_ENTRIES if (out / name).exists()]


def check_prior_scale(prior, keys: dict) -> None:
    """Refuse a learned prior whose standardisation is not the one the exported keys describe (a
    prior trained before its model's scale was fixed would decode at the wrong scale)."""
    import torch

    from .autoencoder_kl import standardisation

    mean, std = standardisation(keys, prior.latent_dims[0])
    if not (torch.allclose(prior.mean.flatten().double().cpu(), mean, rtol=1e-4, atol=1e-6)
            and torch.allclose(prior.std.flatten().double().cpu(), std, rtol=1e-4)):
        raise ConfigError("the learned prior standardises its latents otherwise than the model's latent scale "
                          "(it predates the scale this export keeps): train it again with vaegan-prior")


SCALE_SEED = 0  # the training images that measure the latent scale: the same ones on every export


def training_latent_spread(model, data_dir: Optional[str], n: int):
    """Per-channel (mean, std) of the posterior means of `n` training images drawn at random (a
    seeded draw across the whole split: a folder is stored class by class)."""
    import dataclasses

    import torch

    from .data import load_data
    from .priors.diffusion import standardiser
    from .priors.mixture import posterior_means

    cfg = dataclasses.replace(model.config, **({"data_dir": data_dir} if data_dir else {}))
    train = load_data(cfg).train.to(model.device)
    chosen = torch.randperm(len(train), generator=torch.Generator().manual_seed(SCALE_SEED))[:n]
    latents = posterior_means(model.vae, train.batches(chosen.split(500)))  # fp32: a statistic the export keeps
    print(f"latent scale from the posterior means of {len(chosen)} of {len(train)} training images, drawn at random")
    return standardiser(latents)


def push_to_hub(folder: Path, repo: str) -> str:
    try:
        from huggingface_hub import HfApi
    except ImportError:
        raise ConfigError("--push-to-hub needs the optional package huggingface_hub "
                          "(pip install huggingface_hub); the folder was written") from None
    api = HfApi()
    api.create_repo(repo, exist_ok=True)
    api.upload_folder(folder_path=str(folder), repo_id=repo)
    return f"https://huggingface.co/{repo}"
