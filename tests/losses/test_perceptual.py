import pytest
import torch

from vaegan.losses import LPIPS, LPIPSBackboneError


@pytest.fixture(scope="module")
def lpips_random():
    return LPIPS("random")


def test_takes_one_channel_and_is_zero_for_identical_images(lpips_random):
    x = torch.rand(3, 1, 28, 28)
    assert lpips_random(x, x).shape == (3,)
    assert torch.allclose(lpips_random(x, x), torch.zeros(3), atol=1e-7)
    assert (lpips_random(x, torch.rand(3, 1, 28, 28)) > 0).all()


def test_one_channel_equals_explicit_three_channels(lpips_random):
    a, b = torch.rand(2, 1, 28, 28), torch.rand(2, 1, 28, 28)
    assert torch.allclose(lpips_random(a, b), lpips_random(a.repeat(1, 3, 1, 1), b.repeat(1, 3, 1, 1)))


def test_is_frozen_stays_in_eval_mode_and_backpropagates(lpips_random):
    torch.nn.ModuleDict({"lpips": lpips_random}).train()  # a parent switching to train mode
    assert not lpips_random.training and not any(m.training for m in lpips_random.modules())
    assert not any(p.requires_grad for p in lpips_random.parameters())
    x = torch.rand(2, 1, 28, 28, requires_grad=True)
    lpips_random(x, torch.zeros(2, 1, 28, 28)).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_gradient_is_finite_when_deep_features_vanish(lpips_random):
    x = torch.zeros(2, 1, 28, 28, requires_grad=True)  # all-zero images give all-zero ReLU maps
    lpips_random(x, torch.zeros(2, 1, 28, 28)).sum().backward()
    assert torch.isfinite(x.grad).all()


def test_local_backbone_file_is_loaded(tmp_path, lpips_random):
    source = LPIPS("random")
    state = {f"features.{i}.{n}": getattr(layer, n).detach().clone()
             for s in (source.net.slice1, source.net.slice2, source.net.slice3, source.net.slice4,
                       source.net.slice5) for i, layer in s.named_children()
             if isinstance(layer, torch.nn.Conv2d) for n in ("weight", "bias")}
    torch.save(state, tmp_path / "vgg16.pth")
    loaded = LPIPS(str(tmp_path / "vgg16.pth"))
    assert not loaded.random_backbone
    a, b = torch.rand(2, 1, 28, 28), torch.rand(2, 1, 28, 28)
    assert torch.allclose(loaded(a, b), source(a, b))


def test_bad_backbone_file_and_unreachable_pretrained_give_clear_errors(tmp_path, monkeypatch):
    with pytest.raises(LPIPSBackboneError, match="no such file"):
        LPIPS(str(tmp_path / "missing.pth"))
    torch.save({"features.0.weight": torch.zeros(3)}, tmp_path / "bad.pth")
    with pytest.raises(LPIPSBackboneError, match="not a VGG16 state dict"):
        LPIPS(str(tmp_path / "bad.pth"))

    def offline(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(LPIPSBackboneError, match="vgg16-397923af.pth"):
        LPIPS("pretrained")
