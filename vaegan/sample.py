"""The work behind `vaegan-sample` (vaegan/programs/sample.py is its command line): prior samples,
reconstructions, interpolations and traversals of a trained model, drawn as one PNG grid."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from .config import IMAGE_SUFFIXES, ConfigError

if TYPE_CHECKING:
    import torch

SampleOptions = Any  # vaegan.programs.sample's options (a program's front door: the work never imports it)


def image_files(paths: Sequence[str]) -> list[Path]:
    files: list[Path] = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise ConfigError(f"{path} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise ConfigError(f"no such image file or folder: {path}")
    return files


def read_images(files: Sequence[Path], channels: int, size: int) -> torch.Tensor:
    """Images as [N, channels, size, size] in [0, 1], converted and fitted as training data is
    (vaegan.data.folder), smaller ones upscaled."""
    import torch

    from .data.folder import decode_image
    from .data.split import ImageSpec, to_float

    return to_float(torch.stack([decode_image(p, ImageSpec(channels, size), upscale=True) for p in files]))


def traversal(model, dims: int, steps: int, sweep: float) -> torch.Tensor:
    """Rows: one latent dim each, the `dims` with the largest spread under the model's prior,
    swept over centre +- sweep standard deviations while the others stay at the centre."""
    import torch

    if len(model.latent_dims) != 1:
        raise ConfigError("--traverse needs a vector latent (this model's latent is spatial)")
    if model.prior is not None:  # the mixture's overall mean and per-dim standard deviation
        w, means, tril = model.prior.weights, model.prior.means, model.prior.scale_tril
        centre = (w[:, None] * means).sum(0)
        second = (w[:, None] * ((tril @ tril.transpose(1, 2)).diagonal(dim1=1, dim2=2) + means ** 2)).sum(0)
        std = (second - centre ** 2).clamp(min=0).sqrt()
    else:
        centre, std = torch.zeros(model.latent_dims), torch.ones(model.latent_dims)
    chosen = std.argsort(descending=True)[:dims]
    offsets = torch.linspace(-sweep, sweep, steps)
    z = centre.repeat(len(chosen), steps, 1)
    for row, d in enumerate(chosen):
        z[row, :, d] += offsets * std[d]
    return model.decode(z.flatten(0, 1))


def run(args: SampleOptions) -> Path:
    import numpy as np
    import torch

    from .api import load
    from .visuals.draw import image_grid, write_png

    model = load(args.checkpoint, args.device)
    channels, size = model.config.image_channels, model.config.image_size
    nrow = args.nrow or 8
    if args.reconstruct:
        x = read_images(image_files(args.reconstruct), channels, args.image_size or size)
        nrow = args.nrow or min(len(x), 16)
        chunks = [torch.cat([part, model.reconstruct(part).cpu()]) for part in x.split(nrow)]
        images = torch.cat(chunks)
    elif args.interpolate:
        a, b = read_images(image_files(args.interpolate), channels, size)
        images, nrow = model.interpolate(a, b, args.steps).cpu(), args.nrow or args.steps
    elif args.traverse:
        images, nrow = traversal(model, args.dims, args.steps, args.sweep).cpu(), args.nrow or args.steps
    else:
        images = model.sample(args.num, args.prior, args.temperature, args.seed, args.sampling_steps, args.label,
                              args.guidance).cpu()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_png(out, image_grid(images, nrow=nrow))
    if args.npy:
        np.save(args.npy, images.numpy().astype(np.float32))
    return out
