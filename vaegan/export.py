"""`vaegan-export --checkpoint … --out DIR`: a trained model as weights only, loadable without pickle.

DIR gets `model.safetensors` (the EMA weights when the run kept them), `config.json`, when the
run fitted one `prior.safetensors` (the Gaussian mixture prior), and when vaegan-prior trained one
for this checkpoint `diffusion.safetensors` (the diffusion prior). `vaegan.load(DIR)` and
`vaegan-sample DIR` read it back. `--push-to-hub REPO` uploads the folder with `huggingface_hub`
(an optional dependency).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional, Sequence, Union

from .cli import OneLineParser, run_cli
from .config import ConfigError

# torch is imported inside export(), so that --help answers at once.


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
        meta = {k: json.dumps(state[k]) for k in ("latent_dims", "width", "vae_step", "sample_fd", "sampling_steps",
                                                     "timestep_spacing")}
        atomic_write(diffusion_path, lambda f: f.write(save(tensors, metadata=meta)))
        written.append(diffusion_path)
    elif diffusion_path.is_file():
        diffusion_path.unlink()
    return written


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


def export_parser() -> OneLineParser:
    p = OneLineParser(prog="vaegan-export", description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", required=True, help="a vaegan checkpoint (last.pt / best.pt)")
    p.add_argument("--out", required=True, help="folder to write model.safetensors, config.json, prior.safetensors")
    p.add_argument("--push-to-hub", metavar="REPO", help="also upload the folder to this Hugging Face Hub repo")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = export_parser().parse_args(argv)

    def go() -> int:
        for path in export(args.checkpoint, args.out):
            print(f"wrote {path}")
        if args.push_to_hub:
            print(f"pushed to {push_to_hub(Path(args.out), args.push_to_hub)}")
        return 0

    return run_cli(go)


if __name__ == "__main__":
    raise SystemExit(main())
