"""Data benchmark: cold and cached load of the real CIFAR-10-LT (train IF=100 + test), and batched augmentation throughput.

  python bench/data.py [--root ../shared/data/cifar10]
Writes bench/results/data.json and bench/results/data.md."""
import argparse, json, os, platform, tempfile, time
from pathlib import Path
import torch
from ldmlr.core import save_json, run_record
from ldmlr.data import load_cifar10_lt_folder, shared_data, random_crop_flip, normalize, TensorLoader, CIFAR_MEAN, CIFAR_STD

def timed(f):
    t0 = time.perf_counter(); r = f(); return r, time.perf_counter() - t0

def main(root, out):
    with tempfile.TemporaryDirectory() as cache:
        os.environ['LDMLR_CACHE'] = cache   # an empty cache: the first load decodes every PNG
        load = lambda: (load_cifar10_lt_folder(root, 100), load_cifar10_lt_folder(root, 100, train=False))
        (train, test), cold = timed(load)
        _, cached = timed(load)
    n = len(train) + len(test)
    x = train.images[:256]
    g = torch.Generator().manual_seed(0)
    for _ in range(3): normalize(random_crop_flip(x, 4, True, g), CIFAR_MEAN, CIFAR_STD)
    reps = 50
    _, t_aug = timed(lambda: [normalize(random_crop_flip(x, 4, True, g), CIFAR_MEAN, CIFAR_STD) for _ in range(reps)])
    dl = TensorLoader(train, bs=256, augment=True, device='cpu')
    _, t_epoch = timed(lambda: [b for b in dl])
    res = dict(images=n, cold_load_s=cold, cached_load_s=cached, cold_over_cached=cold / cached,
               augment_images_per_s=reps * len(x) / t_aug, loader_epoch_s=t_epoch, loader_images_per_s=len(train) / t_epoch,
               torch_threads=torch.get_num_threads(), record=run_record({'root': str(root)}, device='cpu'))
    save_json(res, out/'data.json')
    md = f"""### Data loading (CIFAR-10-LT IF=100 train + test, {n:,} PNG images)
Device: {res['record']['device_name']}. Command: `python bench/data.py`.

| what | result |
|---|---|
| cold load (decode every PNG, write the cache) | {cold:.2f} s |
| cached load | {cached:.2f} s |
| cold / cached | {cold/cached:.0f}x |
| batched crop + flip + normalise (batch 256) | {res['augment_images_per_s']:,.0f} images/s |
| one augmented epoch of `TensorLoader` (12,406 images) | {t_epoch:.2f} s ({res['loader_images_per_s']:,.0f} images/s) |
"""
    (out/'data.md').write_text(md)
    print(md)

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--root', type=Path, default=None, help='the cifar10 folder of the LDMLR release (default: shared/data/cifar10)')
    p.add_argument('--out', type=Path, default=Path(__file__).parent/'results')
    a = p.parse_args()
    root = a.root or (shared_data() / 'cifar10' if shared_data() else None)
    if root is None or not Path(root).is_dir(): raise SystemExit('CIFAR-10-LT folder not found: pass --root (see shared/data/README.md)')
    main(root, a.out)
