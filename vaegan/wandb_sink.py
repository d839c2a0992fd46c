"""The W&B side of the logger. Every call is guarded: a W&B failure (no network, the service not
starting, a bad key) prints one warning and turns the sink off; training goes on with local files."""
from __future__ import annotations

import netrc
import os
from pathlib import Path
from typing import Callable, Optional

from .config import Config

ENV_MODES = {"online": "online", "run": "online", "offline": "offline", "dryrun": "offline",
             "disabled": "disabled"}


def has_credentials() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (OSError, netrc.NetrcParseError):
        return False


def resolve_mode(flag: str) -> tuple[str, bool]:
    """(mode, chosen_offline_for_lack_of_credentials)."""
    if flag != "auto":
        return flag, False
    env = ENV_MODES.get(os.environ.get("WANDB_MODE", "").lower())
    if env:
        return env, False
    return ("online", False) if has_credentials() else ("offline", True)


class WandbSink:
    def __init__(self, cfg: Config, run_dir: Path, run_id: Optional[str], env: dict,
                 warn: Callable[[str], None], enabled: bool = True):
        """enabled=False (DDP ranks other than 0): a sink that does nothing."""
        self.run = None
        self.warn = warn
        self._resumed_id = run_id  # kept in checkpoints even while this sink is off
        mode, no_credentials = resolve_mode(cfg.wandb)
        if mode == "disabled" or not enabled:
            return
        try:
            import wandb

            Path(cfg.wandb_dir).mkdir(parents=True, exist_ok=True)
            self.run = wandb.init(
                project=cfg.wandb_project, name=cfg.run_name or run_dir.name, group=cfg.wandb_group,
                tags=[t for t in (cfg.wandb_tags or "").split(",") if t], dir=cfg.wandb_dir,
                config={**cfg.to_dict(), "env": env}, id=run_id, resume="allow" if run_id else None,
                mode=mode, settings=wandb.Settings(console="off", silent=True))
        except Exception as e:  # the service can fail in many ways; none may stop training
            self._fail("start", e)
            return
        if no_credentials:
            warn(f"W&B: no credentials found, logging offline to {Path(self.run.dir).parent} "
                 f"(upload later with: wandb sync {Path(self.run.dir).parent})")

    @property
    def id(self) -> Optional[str]:
        return self.run.id if self.run is not None else self._resumed_id

    def _fail(self, what: str, error: Exception) -> None:
        self.warn(f"W&B: could not {what} ({type(error).__name__}: {' '.join(str(error).split())[:120]}); "
                  f"continuing with local files only")
        self.run = None

    def _guard(self, what: str, fn: Callable[[], None]) -> None:
        if self.run is None:
            return
        try:
            fn()
        except Exception as e:
            self._fail(what, e)

    def log_metrics(self, metrics: dict, step: int) -> None:
        self._guard("log metrics", lambda: self.run.log(metrics, step=step))

    def log_media(self, media: dict[str, Path], step: int) -> None:
        def log():
            import wandb

            self.run.log({k: wandb.Video(str(p), format="gif") if p.suffix == ".gif" else wandb.Image(str(p))
                          for k, p in media.items() if p.is_file()}, step=step)

        self._guard("log media", log)

    def set_summary(self, values: dict) -> None:
        self._guard("write the summary", lambda: self.run.summary.update(values))

    def log_checkpoints(self, paths: list[Path], name: str) -> None:
        def log():
            import wandb

            artifact = wandb.Artifact(name, type="model")
            for p in paths:
                if p.is_file():
                    artifact.add_file(str(p))
            self.run.log_artifact(artifact, aliases=["latest"])

        self._guard("upload the checkpoints", log)

    def close(self) -> None:
        self._guard("finish the run", lambda: self.run.finish())
        self.run = None
