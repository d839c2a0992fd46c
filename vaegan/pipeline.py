"""`LatentPriorPipeline`: a vaegan model with its learned prior as a diffusers pipeline.

    from vaegan import LatentPriorPipeline
    pipe = LatentPriorPipeline.from_pretrained("exported/")     # written by vaegan-export --format diffusers
    images = pipe(batch_size=16, generator=torch.Generator().manual_seed(0)).images

The same draws as `vaegan-sample --prior diffusion --seed S`: noise made on the CPU by the generator,
the prior's sampler over its standardised latents, the standardisation undone as diffusers' pipelines
read the AutoencoderKL's latent scale (`vaegan.autoencoder_kl.standardisation`), decoded by the AutoencoderKL.
"""
from __future__ import annotations

from typing import Optional, Union

import torch
from diffusers import AutoencoderKL, DiffusionPipeline, ImagePipelineOutput, SchedulerMixin, UNet2DModel

from .autoencoder_kl import standardisation
from .priors.diffusion import SpatialDenoiser, guided_denoiser, sample_loop


class LatentPriorPipeline(DiffusionPipeline):
    """Parameters:
        vae: the autoencoder; its config's latent scale is the prior's standardisation.
        unet: the prior's noise predictor over standardised latents (zero-padded to its sample_size).
        scheduler: the prior's sampler (DDIM or DPM-Solver++) of its training schedule.
        sampling_steps: sampling steps when a call names none (the prior's recipe's).
        guidance_scale: a conditional prior's classifier-free guidance when a call names none.
        class_names: a conditional prior's classes, by label index.
    """

    model_cpu_offload_seq = "unet->vae"

    def __init__(self, vae: AutoencoderKL, unet: UNet2DModel, scheduler: SchedulerMixin, sampling_steps: int = 25,
                 guidance_scale: float = 1.0, class_names: Optional[list[str]] = None):
        super().__init__()
        self.register_modules(vae=vae, unet=unet, scheduler=scheduler)
        self.register_to_config(sampling_steps=sampling_steps, guidance_scale=guidance_scale,
                                class_names=list(class_names or []))

    def _labels(self, class_labels, n: int, num_classes: int) -> Optional[torch.Tensor]:
        if class_labels is None:
            return None
        if not num_classes:
            raise ValueError("class_labels need a conditional prior; this pipeline's unet has no class embedding")
        labels = torch.as_tensor(class_labels, dtype=torch.long).expand(n).to(self.device)
        if labels.min() < 0 or labels.max() >= num_classes:
            raise ValueError(f"class_labels must lie in 0-{num_classes - 1}")
        return labels

    @property
    def latent_size(self) -> int:
        return self.vae.config.sample_size // 2 ** (len(self.vae.config.block_out_channels) - 1)

    @torch.no_grad()
    def __call__(self, batch_size: int = 1, num_inference_steps: Optional[int] = None,
                 generator: Optional[torch.Generator] = None, temperature: float = 1.0,
                 output_type: str = "pil", return_dict: bool = True, class_labels=None,
                 guidance_scale: Optional[float] = None) -> Union[ImagePipelineOutput, tuple]:
        """`batch_size` images; `generator` a CPU generator (the noise is drawn on the CPU, so a seed
        gives the same images on any device); `temperature` scales the starting noise;
        `output_type`: "pil", "np" ([N, H, W, C] in [0, 1]) or "pt" ([N, C, H, W] in [0, 1]).
        A conditional prior (its unet has a class embedding) takes `class_labels` (an int, or one per
        image; None: unconditional) and `guidance_scale` (classifier-free; default the prior's own)."""
        config = self.vae.config
        shape = (batch_size, config.latent_channels, self.latent_size, self.latent_size)
        noise = temperature * torch.randn(shape, generator=generator).to(self.device, self.unet.dtype)
        steps = num_inference_steps or self.config.sampling_steps
        denoiser = SpatialDenoiser(self.unet, self.latent_size)
        labels = self._labels(class_labels, batch_size, denoiser.num_classes)
        guidance = self.config.guidance_scale if guidance_scale is None else guidance_scale
        x = sample_loop(guided_denoiser(denoiser, labels, guidance), self.scheduler, noise, steps).float()
        mean, std = (t.float().to(x.device).view(1, -1, 1, 1) for t in standardisation(config, config.latent_channels))
        decoded = self.vae.decode((x * std + mean).to(self.vae.dtype)).sample
        images = (decoded.float() / 2 + 0.5).clamp(0, 1).cpu()
        if output_type == "np" or output_type == "pil":
            images = images.permute(0, 2, 3, 1).numpy()
            if output_type == "pil":
                images = self.numpy_to_pil(images)
        elif output_type != "pt":
            raise ValueError(f"output_type must be pil, np or pt, got {output_type!r}")
        return ImagePipelineOutput(images=images) if return_dict else (images,)
