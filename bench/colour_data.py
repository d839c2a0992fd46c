"""Real colour images from package registries (npm, Debian), as image folders for `--dataset folder`:
train/ and test/, each with one sub-folder per category (the labels of the domain classifier that
scores FD and class entropy).

    python bench/colour_data.py twemoji --out data/twemoji            # 64 px, ~3,700 images
    python bench/colour_data.py openclipart --out data/clipart256     # 256 px, clip art

twemoji: the Twitter emoji of the npm package `emoji-datasource-twitter` (fetched with `npm pack`
unless --package names its .tgz), 64 x 64 RGBA, categories from its emoji.json ("Component", five
skin-tone swatches, left out). The split is by base emoji, per category: every skin-tone variant goes
where its base emoji goes, so no near-copy of a test image is trained on.

openclipart: the Debian package `openclipart-png` (`apt-get install openclipart-png`), clip art of
many sizes and modes; its top-level folders are the categories. Images whose shorter side is under
--size are left out (the folder loader refuses to upscale); the rest are padded to a square with
transparent pixels (clip art is drawn to its edges, a centre crop would cut it) and resized to
--size px with Lanczos. Links (an image repeated under another name) and images too large for
Pillow to decode safely are left out.

Both write the files as RGBA PNGs and leave the alpha to the loader, which composites it on white
(docs/data.md). The folder is written beside --out and moved in when complete.
"""
from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections import defaultdict
from pathlib import Path

from PIL import Image

OPENCLIPART = Path("/usr/share/openclipart/png")


def folder_name(category: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", category.lower()).strip("-")


def split_groups(groups: dict[str, list], test_fraction: float, seed: int) -> dict[str, list]:
    """{"train": [...], "test": [...]}: each category's groups shuffled with `seed`, the first
    `test_fraction` of them (at least one) to test; a group's members stay together."""
    by_category: dict[str, list[list]] = defaultdict(list)
    for category, members in groups.values():
        by_category[category].append(members)
    rng = random.Random(seed)
    split: dict[str, list] = {"train": [], "test": []}
    for category in sorted(by_category):
        members = sorted(by_category[category])
        rng.shuffle(members)
        n_test = max(1, round(test_fraction * len(members)))
        for i, group in enumerate(members):
            split["test" if i < n_test else "train"] += [(category, item) for item in group]
    return split


def fetch_twemoji(package: str | None, workdir: Path) -> Path:
    """The unpacked npm package's root (`package/`)."""
    if package is None:
        if shutil.which("npm") is None:
            sys.exit("npm not found: install Node.js, or download emoji-datasource-twitter's .tgz and pass --package")
        subprocess.run(["npm", "pack", "--silent", "emoji-datasource-twitter"], cwd=workdir, check=True,
                       stdout=subprocess.DEVNULL)
        package = str(next(workdir.glob("emoji-datasource-twitter-*.tgz")))
    with tarfile.open(package) as tar:
        tar.extractall(workdir, filter="data")
    return workdir / "package"


def twemoji_groups(root: Path) -> dict[str, tuple[str, list[Path]]]:
    """base emoji -> (category, its image and its skin-tone variants' images)."""
    images = root / "img" / "twitter" / "64"
    groups = {}
    for emoji in json.loads((root / "emoji.json").read_text()):
        if emoji["category"] == "Component" or not emoji.get("has_img_twitter"):
            continue
        files = [emoji["image"]] + [v["image"] for v in emoji.get("skin_variations", {}).values()
                                    if v.get("has_img_twitter")]
        groups[emoji["unified"]] = (emoji["category"], [images / f for f in files if (images / f).is_file()])
    return groups


def openclipart_groups(root: Path, size: int) -> dict[str, tuple[str, list[Path]]]:
    """One group per image of at least `size` px on its shorter side, its top-level folder as category
    (links, which repeat an image under another name, and images too large to decode safely skipped)."""
    groups = {}
    for path in sorted(root.rglob("*.png")):
        try:
            with Image.open(path) as img:
                if path.is_symlink() or min(img.size) < size:
                    continue
        except Image.DecompressionBombError:
            continue
        groups[str(path)] = (path.relative_to(root).parts[0], [path])
    return groups


def square_rgba(path: Path, size: int) -> Image.Image:
    with Image.open(path) as img:
        rgba = img.convert("RGBA")
    side = max(rgba.size)
    canvas = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    canvas.paste(rgba, ((side - rgba.width) // 2, (side - rgba.height) // 2))
    return canvas.resize((size, size), Image.Resampling.LANCZOS)


def write_split(split: dict[str, list], out: Path, size: int | None) -> None:
    staging = out.with_name(out.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    for part, items in split.items():
        for category, path in items:
            target = staging / part / folder_name(category) / f"{path.parent.name}-{path.name}"
            target.parent.mkdir(parents=True, exist_ok=True)
            if size is None:
                shutil.copyfile(path, target)
            else:
                square_rgba(path, size).save(target)
    shutil.rmtree(out, ignore_errors=True)
    staging.rename(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("source", choices=("twemoji", "openclipart"))
    p.add_argument("--out", required=True, help="the image folder to write (replaced if it exists)")
    p.add_argument("--package", help="twemoji: emoji-datasource-twitter's .tgz (default: npm pack it)")
    p.add_argument("--size", type=int, default=256, help="openclipart: side of the written images (default 256)")
    p.add_argument("--test-fraction", type=float, default=0.1, help="per category (default 0.1)")
    p.add_argument("--seed", type=int, default=0, help="which groups go to test (default 0)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.source == "twemoji":
            groups, size = twemoji_groups(fetch_twemoji(args.package, Path(tmp))), None
        else:
            if not OPENCLIPART.is_dir():
                sys.exit(f"{OPENCLIPART} not found: apt-get install openclipart-png")
            groups, size = openclipart_groups(OPENCLIPART, args.size), args.size
        split = split_groups(groups, args.test_fraction, args.seed)
        write_split(split, Path(args.out), size)
    for part, items in split.items():
        counts = defaultdict(int)
        for category, _ in items:
            counts[folder_name(category)] += 1
        print(f"{part}: {len(items)} images, " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))


if __name__ == "__main__":
    main()
