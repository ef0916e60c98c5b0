"""Stage-1 training throughput: ResNet-32 on CIFAR-10-LT (IF=100) with the in-memory TensorLoader vs torchvision ImageFolder + DataLoader.

Both pipelines do the same work per batch: random crop (4-pixel padding) + horizontal flip + normalise, then a ResNet-32
forward and backward pass under bf16 autocast and an SGD step. Each runs for about `--seconds` (after a few warm-up batches)
or `--max-batches`, whichever comes first; the loaders are also timed alone (no model).

  python bench/stage1.py [--root ../shared/data/cifar10] [--seconds 30] [--bs 128] [--workers 2] [--device cpu]
Writes bench/results/stage1.json and bench/results/stage1.md (`--md-only`: rewrite the table from the JSON)."""
import argparse, json, os, time
from pathlib import Path

import torch
import torch.nn.functional as F
from ldmlr.core import save_json, run_record, get_device, set_seed, flush_denormals
from ldmlr.data import load_cifar10_lt_folder, shared_data, TensorLoader, CIFAR_MEAN, CIFAR_STD
from ldmlr.models import create_model

WARMUP = 6  # oneDNN picks and caches its kernels in the first batches

def imagefolder_loader(root, bs, workers):
    "The usual torchvision pipeline: decode PNGs from disk in worker processes, PIL transforms per image."
    import torchvision.transforms as T
    from torchvision.datasets import ImageFolder
    tfm = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.ToTensor(), T.Normalize(CIFAR_MEAN, CIFAR_STD)])
    return torch.utils.data.DataLoader(ImageFolder(str(root), transform=tfm), batch_size=bs, shuffle=True, num_workers=workers,
                                       drop_last=True)

def batches(dl):
    "Endless batches of a loader, epoch after epoch."
    epoch = 0
    while True:
        if hasattr(dl, 'set_epoch'): dl.set_epoch(epoch)
        yield from dl
        epoch += 1

def run(dl, device, seconds, max_batches, train=True):
    "Images per second of the training loop (or of the loader alone) over about `seconds`."
    set_seed(0)
    model = create_model('resnet32', 10).to(device, memory_format=torch.channels_last).train()   # as stage 1 trains it
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    it, n, start = batches(dl), 0, None
    for i in range(max_batches + WARMUP):
        if i == WARMUP: start, n = time.perf_counter(), 0
        x, y = next(it)
        x, y = x.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last), y.to(device, non_blocking=True)
        if train:
            with torch.autocast(device.type, dtype=torch.bfloat16): loss = F.cross_entropy(model(x), y)
            loss.backward(); opt.step(); opt.zero_grad(set_to_none=True)
        if device.type == 'cuda': torch.cuda.synchronize()
        n += len(y)
        if start is not None and time.perf_counter() - start > seconds: break
    t = time.perf_counter() - start
    return dict(images=n, seconds=t, images_per_s=n / t, batches=i + 1 - WARMUP)

def main(root, out, seconds, max_batches, bs, workers, device):
    device = get_device(device)
    torch.set_num_threads(os.cpu_count())
    flush_denormals(device)   # as the Learner does
    train = load_cifar10_lt_folder(root, 100)       # decoded once into memory (and the dataset cache)
    loaders = dict(tensorloader=lambda: TensorLoader(train, bs, shuffle=True, augment=True, device=device, drop_last=True),
                   imagefolder=lambda: imagefolder_loader(Path(root)/'train_if100', bs, workers))
    res = dict(device=str(device), bs=bs, workers=workers, seconds_budget=seconds, max_batches=max_batches, images=len(train))
    for name, make in loaders.items():
        res[name] = dict(train=run(make(), device, seconds, max_batches), loader_only=run(make(), device, seconds / 6, max_batches, train=False))
        print(name, {k: round(v['images_per_s']) for k, v in res[name].items()})
    res['speedup'] = res['tensorloader']['train']['images_per_s'] / res['imagefolder']['train']['images_per_s']
    res['loader_only_speedup'] = res['tensorloader']['loader_only']['images_per_s'] / res['imagefolder']['loader_only']['images_per_s']
    res['load_average'] = os.getloadavg()
    res['record'] = run_record(dict(root=str(root), seconds=seconds, bs=bs, workers=workers), device=device)
    out.mkdir(parents=True, exist_ok=True)
    save_json(res, out/'stage1.json')
    (out/'stage1.md').write_text(markdown(res))
    print(markdown(res))
    return res

def markdown(res):
    "The results table (markdown) of a `stage1.json`."
    tl, fo, seconds, bs, workers = res['tensorloader'], res['imagefolder'], res['seconds_budget'], res['bs'], res['workers']
    return f"""### Stage-1 training throughput (ResNet-32, CIFAR-10-LT IF=100, batch {bs}, bf16 autocast, channels-last)
Device: {res['record']['device_name']}; load average at the end {res['load_average'][0]:.1f} (a shared machine). Command: `python bench/stage1.py`.
Each pipeline: random crop (pad 4) + flip + normalise, forward + backward + SGD step; about {seconds:.0f} s each after {WARMUP} warm-up
batches ({tl['train']['batches']} and {fo['train']['batches']} batches timed).

| pipeline | training images/s | loader alone, images/s |
|---|---|---|
| ldmlr `TensorLoader` (in memory, batched augmentation) | {tl['train']['images_per_s']:,.0f} | {tl['loader_only']['images_per_s']:,.0f} |
| torchvision `ImageFolder` + `DataLoader` ({workers} workers, PIL per image) | {fo['train']['images_per_s']:,.0f} | {fo['loader_only']['images_per_s']:,.0f} |
| **ratio** | **{res['speedup']:.2f}x** | {res['loader_only_speedup']:.1f}x |
"""

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--root', type=Path, default=None, help='the cifar10 folder of the LDMLR release (default: shared data)')
    p.add_argument('--seconds', type=float, default=30, help='time budget per pipeline (training); loaders alone get a sixth')
    p.add_argument('--max-batches', type=int, default=300, help='at most this many timed batches per pipeline')
    p.add_argument('--bs', type=int, default=128)
    p.add_argument('--workers', type=int, default=2, help='DataLoader worker processes for the ImageFolder pipeline')
    p.add_argument('--device', default=None)
    p.add_argument('--md-only', action='store_true', help='only rewrite stage1.md from stage1.json')
    a = p.parse_args()
    if a.md_only:
        out = Path(__file__).parent/'results'
        (out/'stage1.md').write_text(markdown(json.loads((out/'stage1.json').read_text()))); raise SystemExit
    root = a.root or (shared_data()/'cifar10' if shared_data() else None)
    if root is None or not (Path(root)/'train_if100').is_dir(): raise SystemExit('CIFAR-10-LT not found: pass --root (the cifar10 folder of the LDMLR release)')
    main(root, Path(__file__).parent/'results', a.seconds, a.max_batches, a.bs, a.workers, a.device)
