import math

import pytest
import torch

from tests.helpers import FASHION
from vaegan.data import ImageSplit, load_split
from vaegan.evaluation.domain import domain_classifier, features_and_logits, frechet_distance

STATED_ACCURACY = 0.88  # the README's number for the cached Fashion-MNIST classifier (3 epochs)


def test_frechet_distance_of_known_gaussians():
    torch.manual_seed(0)
    a = torch.randn(20000, 4)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    shift = torch.tensor([1.0, -2.0, 0.5, 0.0])
    assert frechet_distance(a, a + shift) == pytest.approx(5.25, rel=1e-6)  # same covariance: ||shift||^2
    # N(0, I) vs N(0, 4I) in 4 dims: Tr(I + 4I - 2*2I) = 4 (up to sampling error)
    assert frechet_distance(a, 2 * torch.randn(20000, 4)) == pytest.approx(4.0, rel=0.05)


@pytest.mark.slow
@pytest.mark.realdata
@pytest.mark.skipif(not FASHION.is_dir(), reason="needs Debian's dataset-fashion-mnist (.ci/run installs it)")
def test_domain_classifier_reaches_the_stated_accuracy_and_is_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("VAEGAN_CACHE", str(tmp_path))
    train, test = load_split(FASHION, "train"), load_split(FASHION, "test")
    classifier = domain_classifier(train, "fashion-mnist")
    _, logits = features_and_logits(classifier, test.images)
    accuracy = (logits.argmax(1) == test.labels).float().mean().item()
    assert accuracy >= STATED_ACCURACY, accuracy
    (cached,) = tmp_path.glob("classifier-v2-fashion-mnist-*.pt")

    def no_training(*args, **kwargs):
        raise AssertionError("retrained although the cache holds this classifier")

    monkeypatch.setattr("vaegan.evaluation.domain.train_classifier", no_training)
    again = domain_classifier(train, "fashion-mnist")  # loaded, not retrained
    assert all(torch.equal(p, q) for p, q in zip(classifier.parameters(), again.parameters()))
    print(f"domain classifier test accuracy: {accuracy:.4f}")


def test_inception_fid_without_weights_is_skipped_with_one_line(monkeypatch):
    def offline(*args, **kwargs):
        raise OSError("network unreachable (test)")

    # Where torch-fidelity looks the function up (it imports it by name), not torch.hub itself.
    monkeypatch.setattr("torch_fidelity.feature_extractor_inceptionv3.load_state_dict_from_url", offline)
    from vaegan.evaluation.domain import inception_fid

    scores, reason = inception_fid(torch.rand(4, 1, 28, 28), {"samples": torch.rand(4, 1, 28, 28)})
    assert scores == {} and "weights-inception-2015-12-05-6726825d.pth" in reason and "\n" not in reason
    assert "network unreachable (test)" in reason  # the skip came from the patched download


def test_sample_class_entropy_is_ln10_for_balanced_classes_and_0_for_one():
    from vaegan.evaluation.domain import class_entropy

    balanced = torch.eye(10).repeat(3, 1)
    assert class_entropy(balanced) == pytest.approx(math.log(10))
    assert class_entropy(torch.eye(10)[[4] * 30]) == 0.0
    assert class_entropy(torch.eye(10)[[1, 1, 2, 2]]) == pytest.approx(math.log(2))


def _classifier_rank(rank: int, world: int, port: int, cache: str, out: str) -> None:
    import os

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), VAEGAN_CACHE=cache)
    torch.set_num_threads(1)
    torch.distributed.init_process_group("gloo", rank=rank, world_size=world)
    import vaegan.evaluation.domain as fidelity

    trained = []
    train_classifier = fidelity.train_classifier
    fidelity.train_classifier = lambda split: trained.append(rank) or train_classifier(split)
    generator = torch.Generator().manual_seed(0)
    split = ImageSplit((255 * torch.rand(64, 1, 28, 28, generator=generator)).to(torch.uint8), torch.arange(64) % 4,
                       ["a", "b", "c", "d"])
    model = fidelity.domain_classifier(split, "race")
    torch.save({"trained": trained, "state": model.state_dict()}, f"{out}/rank{rank}.pt")
    torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_under_torchrun_only_rank_zero_trains_the_classifier_and_every_rank_reads_it(tmp_path):
    from tests.test_distributed import free_port

    torch.multiprocessing.spawn(_classifier_rank, args=(2, free_port(), str(tmp_path / "cache"), str(tmp_path)),
                                nprocs=2)
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1)]
    assert [r["trained"] for r in ranks] == [[0], []]
    assert all(torch.equal(v, ranks[1]["state"][k]) for k, v in ranks[0]["state"].items())
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [p.name for p in (tmp_path / "cache").glob("*.pt")]
