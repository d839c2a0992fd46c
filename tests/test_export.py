import pickle

import pytest
import torch

import vaegan
from vaegan.config import ConfigError
from vaegan.programs.export import main as export_main


def test_export_writes_safetensors_that_load_to_the_same_model(tiny_run, tmp_path, capsys):
    out = tmp_path / "exported"
    assert export_main(["--checkpoint", str(tiny_run), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.safetensors", "prior.safetensors"]
    from_checkpoint, from_folder = vaegan.load(tiny_run, "cpu"), vaegan.load(out, "cpu")
    x = torch.rand(4, 1, 28, 28)
    assert torch.equal(from_checkpoint.reconstruct(x), from_folder.reconstruct(x))
    assert torch.equal(from_checkpoint.sample(5, seed=1), from_folder.sample(5, seed=1))
    for name in ("model.safetensors", "prior.safetensors"):  # no pickle anywhere
        with pytest.raises(Exception):
            pickle.loads((out / name).read_bytes())


def test_push_to_hub_without_huggingface_hub_is_one_line(tiny_run, tmp_path, capsys, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_hub(name, *args, **kwargs):
        if name.startswith("huggingface_hub"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_hub)
    code = export_main(["--checkpoint", str(tiny_run), "--out", str(tmp_path / "e"), "--push-to-hub", "me/model"])
    err = capsys.readouterr().err
    assert code == 2 and "huggingface_hub" in err and len(err.strip().splitlines()) == 1
    assert (tmp_path / "e" / "model.safetensors").is_file()


def test_a_folder_that_is_not_an_export_is_named(tmp_path):
    with pytest.raises(ConfigError, match="not an exported vaegan model"):
        vaegan.load(tmp_path)
