"""Every kind of bad input: exit code 2, one line on stderr, no traceback, nothing overwritten."""
import gzip
import shutil

import numpy as np
import pytest
import torch

from tests.helpers import ROOT, TINY, call, make_idx_folder, write_idx
from vaegan.data import DataError, load_split
from vaegan.programs.eval import main as eval_main
from vaegan.programs.train import main as train_main

BASE = ["--perceptual-weight", "0", "--no-visuals", "--epochs", "3", "--eval-train-images", "0", *TINY]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    good = make_idx_folder(root / "good")
    run = root / "run"
    assert train_main(["--data-dir", str(good), "--out", str(run), *BASE[:-len(TINY)], *TINY,
                       "--epochs", "1"]) == 0
    return root, good, run


def snapshot(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def corrupt_copy(good, root, name, mutate):
    folder = root / name
    if not folder.exists():
        shutil.copytree(good, folder)
        mutate(folder)
    return folder


def yaml_file(root, name, text):
    path = root / name
    path.write_text(text)
    return path


def bad_magic(f):
    p = f / "train-images-idx3-ubyte"
    p.write_bytes(b"\x00\x00\x08\x07" + p.read_bytes()[4:])


def truncated(f):
    p = f / "t10k-images-idx3-ubyte"
    p.write_bytes(p.read_bytes()[:-100])


def wrong_size(f):
    write_idx(f / "train-images-idx3-ubyte", np.zeros((64, 20, 20)))
    write_idx(f / "t10k-images-idx3-ubyte", np.zeros((32, 20, 20)))


def label_count(f):
    write_idx(f / "train-labels-idx1-ubyte", np.zeros(10))


def gzip_garbage(f):
    p = f / "train-labels-idx1-ubyte"
    (f / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(p.read_bytes())[:20])
    p.unlink()


CASES = {
    "latent 0": (["--latent", "0"], "latent must be >= 1"),
    "latent text": (["--latent", "four"], "invalid int value"),
    "batch 0": (["--batch-size", "0"], "batch_size must be >= 1"),
    "lr 0": (["--lr", "0"], "lr must be > 0"),
    "lr negative": (["--lr", "-0.001"], "lr must be > 0"),
    "lr nan": (["--lr", "nan"], "lr must be a finite number"),
    "kl weight inf": (["--kl-weight", "inf"], "kl_weight must be a finite number"),
    "disc weight nan": (["--disc-weight", "nan"], "disc_weight must be a finite number"),
    "grad clip inf": (["--grad-clip", "inf"], "grad_clip must be a finite number"),
    "yaml lr nan": (lambda r: ["--config", str(yaml_file(r, "n.yaml", "lr: .nan\n"))], "lr must be a finite number"),
    "epochs negative": (["--epochs", "-2"], "epochs must be >= 0"),
    "unknown dataset": (["--dataset", "imagenet"], "invalid choice"),
    "unknown flag": (["--latnet", "4"], "unrecognized arguments"),
    "yaml unknown key": (lambda r: ["--config", str(yaml_file(r, "u.yaml", "latnet: 4\n"))], "unknown config key"),
    "yaml prior recipe": (lambda r: ["--config", str(ROOT / "configs" / "prior_vector.yaml")],
                          "a configs/prior_*.yaml recipe is for vaegan-prior --config"),
    "best metric never measured": (["--best-metric", "val/lpips"], "val/lpips is never measured"),
    "yaml wrong type": (lambda r: ["--config", str(yaml_file(r, "t.yaml", "kl_weight: heavy\n"))], "must be float"),
    "yaml not mapping": (lambda r: ["--config", str(yaml_file(r, "l.yaml", "- 1\n- 2\n"))], "must hold a mapping"),
    "yaml invalid": (lambda r: ["--config", str(yaml_file(r, "i.yaml", "a: [1,\n"))], "not valid YAML"),
    "yaml missing": (["--config", "/nonexistent.yaml"], "config file not found"),
    "data missing": (["--data-dir", "/nonexistent"], "does not exist"),
    "data empty": (lambda r: ["--data-dir", str(r)], "lacks"),
    "idx bad magic": ("bad_magic", "bad IDX magic"),
    "idx truncated": ("truncated", "truncated or corrupt"),
    "idx smaller than the checkpoint's": ("wrong_size", "smaller than --image-size 28"),
    "idx label count": ("label_count", "10 labels for 64 images"),
    "idx gzip garbage": ("gzip_garbage", "not a valid gzip"),
    "checkpoint other latent": (["--latent", "8"], "latent: 4 in checkpoint, 8 now"),
    "checkpoint other arch": (["--arch", "mlp"], "arch: 'unet' in checkpoint, 'mlp' now"),
    "resume with another loss": (["--perceptual-weight", "1"], "perceptual_weight: 0.0 in checkpoint, 1.0 now"),
}
MUTATIONS = {f.__name__: f for f in (bad_magic, truncated, wrong_size, label_count, gzip_garbage)}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_on_an_existing_run(world, case, capsys):
    root, good, run = world
    extra, message = CASES[case]
    data = ["--data-dir", str(good)]
    if callable(extra):
        extra = extra(root / "scratch" if case == "data empty" else root)
    elif isinstance(extra, str):
        data = ["--data-dir", str(corrupt_copy(good, root, extra, MUTATIONS[extra]))]
        extra = []
    (root / "scratch").mkdir(exist_ok=True)
    before = snapshot(run)
    code, err = call(train_main, ["--latent", "4", *data, "--out", str(run), "--resume", *BASE, *extra], capsys)
    assert code == 2, err
    assert message in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert snapshot(run) == before


def test_missing_lpips_backbone_stops_a_new_run_before_it_writes(world, capsys):
    root, good, _ = world
    out = root / "new-run"
    code, err = call(train_main, ["--data-dir", str(good), "--out", str(out), *BASE, "--perceptual-weight", "1",
                                  "--lpips-backbone", "/no/vgg.pth"], capsys)
    assert code == 2 and "no such file" in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


def test_corrupt_checkpoint_is_named(world, tmp_path, capsys):
    root, good, run = world
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    ckpt = copy / "checkpoints" / "last.pt"
    ckpt.write_bytes(ckpt.read_bytes()[:1000])
    code, err = call(train_main, ["--latent", "4", "--data-dir", str(good), "--out", str(copy), "--resume", *BASE],
                     capsys)
    assert code == 2 and f"checkpoint {ckpt} cannot be read" in err and len(err.strip().splitlines()) == 1


def test_unwritable_output_and_missing_checkpoint_write_nothing(world, tmp_path, capsys):
    root, good, _ = world
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    code, err = call(train_main, ["--data-dir", str(good), "--out", str(blocker / "run"), *BASE], capsys)
    assert code == 2 and "is a file, not a folder" in err
    code, err = call(train_main, ["--data-dir", str(good), "--out", str(tmp_path / "new"), "--resume", *BASE],
                     capsys)
    assert code == 2 and "no checkpoint" in err and not (tmp_path / "new").exists()


def test_eval_bad_input(world, tmp_path, capsys):
    root, good, run = world
    for argv, message in ((["--checkpoint", str(tmp_path / "none.pt")], "no checkpoint at"),
                          (["--checkpoint", str(run / "checkpoints" / "last.pt"), "--n", "0"], "must be >= 1"),
                          (["--checkpoint", str(run / "checkpoints" / "last.pt"), "--sampling-steps", "0"],
                           "must be >= 1"),
                          (["--checkpoint", str(run / "config.yaml")], "cannot be read")):
        code, err = call(eval_main, argv, capsys)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("seed", range(40))
def test_random_corruptions_of_an_idx_file_are_caught(tmp_path, seed):
    rng = np.random.default_rng(seed)
    folder = make_idx_folder(tmp_path, gz=bool(seed % 2))
    path = next(folder.glob("train-images-idx3-ubyte*"))
    data = bytearray(path.read_bytes())
    if seed % 4 < 2:  # change a header byte (IDX header, or the gzip stream's first bytes)
        i = int(rng.integers(0, 16))
        data[i] = (data[i] + int(rng.integers(1, 256))) % 256
    else:  # cut the file at a random place
        data = data[: int(rng.integers(0, len(data) - 1))]
    path.write_bytes(bytes(data))
    try:
        split = load_split(folder, "train")
    except DataError as e:
        assert "\n" not in str(e)
        return
    # Only a change the format cannot see (e.g. the gzip header's timestamp) may load, and then intact.
    intact = load_split(make_idx_folder(tmp_path / "intact", gz=bool(seed % 2)), "train")
    assert torch.equal(split.pixels, intact.pixels) and torch.equal(split.labels, intact.labels)


class Payload:
    """Unpickling this creates a file: what a malicious checkpoint would do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_checkpoint_that_needs_arbitrary_pickle_is_refused_without_running_it(world, tmp_path, capsys):
    root, good, run = world
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    ckpt, marker = copy / "checkpoints" / "last.pt", tmp_path / "code-ran"
    state = torch.load(ckpt, weights_only=True)
    torch.save({**state, "extra": Payload(marker)}, ckpt)
    code, err = call(train_main, ["--latent", "4", "--data-dir", str(good), "--out", str(copy), "--resume", *BASE],
                     capsys)
    assert code == 2 and "refused" in err and len(err.strip().splitlines()) == 1
    assert not marker.exists()
    code, err = call(eval_main, ["--checkpoint", str(ckpt)], capsys)  # eval.py refuses it too
    assert code == 2 and "refused" in err
    assert not marker.exists()
