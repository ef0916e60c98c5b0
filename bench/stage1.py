"""Stage-1 training throughput: ResNet-32 on CIFAR-10-LT (IF=100) with the in-memory TensorLoader vs torchvision ImageFolder + DataLoader.

Each pair of pipelines does the same work per batch, then a ResNet-32 forward and backward pass under bf16 autocast and an
SGD step: crop (4-pixel padding) + flip + normalise (the CE recipe), and the same plus AutoAugment's CIFAR-10 policy and a
16-pixel Cutout (the WCDAS recipe). `--compile` adds the TensorLoader pipeline trained through `torch.compile`. Each runs for
about `--seconds` (after a few warm-up batches) or `--max-batches`, whichever comes first; the loaders are also timed alone.

  python bench/stage1.py [--root ../shared/data/cifar10] [--seconds 30] [--bs 128] [--workers 2] [--device cpu] [--compile]
Writes bench/results/stage1.json and bench/results/stage1.md (`--md-only`: rewrite the table from the JSON)."""
import argparse, json, os, time
from pathlib import Path

import torch
import torch.nn.functional as F
from ldmlr.core import save_json, run_record, get_device, set_seed, flush_denormals
from ldmlr.data import load_cifar10_lt_folder, shared_data, TensorLoader, CIFAR_MEAN, CIFAR_STD, cutout
from ldmlr.models import create_model

WARMUP = 6  # oneDNN picks and caches its kernels in the first batches (and torch.compile compiles)

def _cutout16(x): return cutout(x[None], 16)[0]

def imagefolder_loader(root, bs, workers, wcdas=False):
    "The usual torchvision pipeline: decode PNGs from disk in worker processes, PIL transforms per image."
    import torchvision.transforms as T
    from torchvision.datasets import ImageFolder
    extra = [T.AutoAugment(T.AutoAugmentPolicy.CIFAR10)] if wcdas else []
    tfm = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), *extra, T.ToTensor(),
                     *([_cutout16] if wcdas else []), T.Normalize(CIFAR_MEAN, CIFAR_STD)])
    return torch.utils.data.DataLoader(ImageFolder(str(root), transform=tfm), batch_size=bs, shuffle=True, num_workers=workers,
                                       drop_last=True)

def cifar10_root(root:Path|None) -> Path:
    "The cifar10 folder of the LDMLR release: `root`, else the shared data's; exits naming what is missing."
    root = root or (shared_data()/'cifar10' if shared_data() else None)
    if root is None or not (Path(root)/'train_if100').is_dir(): raise SystemExit('CIFAR-10-LT not found: pass --root (the cifar10 folder of the LDMLR release)')
    return Path(root)

def batches(dl):
    "Endless batches of a loader, epoch after epoch."
    epoch = 0
    while True:
        if hasattr(dl, 'set_epoch'): dl.set_epoch(epoch)
        yield from dl
        epoch += 1

def run(dl, device, seconds, max_batches, train=True, compiled=False):
    "Images per second of the training loop (or of the loader alone) over about `seconds`."
    set_seed(0)
    model = create_model('resnet32', 10).to(device, memory_format=torch.channels_last).train()   # as stage 1 trains it
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    if compiled: model = torch.compile(model)   # compiles during the warm-up batches
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

PIPELINES = {   # name: (label, description, augmentation, training through torch.compile)
    'tensorloader': ('TensorLoader', 'ldmlr `TensorLoader` (in memory, batched augmentation)', 'crop + flip', False),
    'imagefolder': ('ImageFolder', 'torchvision `ImageFolder` + `DataLoader` ({workers} workers, PIL per image)', 'crop + flip', False),
    'tensorloader_wcdas': ('TensorLoader', 'ldmlr `TensorLoader` (in memory, batched augmentation)', 'crop + flip + AutoAugment + Cutout', False),
    'imagefolder_wcdas': ('ImageFolder', 'torchvision `ImageFolder` + `DataLoader` ({workers} workers, PIL per image)', 'crop + flip + AutoAugment + Cutout', False),
    'tensorloader_compiled': ('TensorLoader + torch.compile', 'ldmlr `TensorLoader`, model under `torch.compile`', 'crop + flip', True)}
RATIOS = [('tensorloader', 'imagefolder'), ('tensorloader_wcdas', 'imagefolder_wcdas'), ('tensorloader_compiled', 'tensorloader')]

def main(root, out, seconds, max_batches, bs, workers, device, compiled=False):
    device = get_device(device)
    torch.set_num_threads(os.cpu_count())
    flush_denormals(device)   # as the Learner does
    train = load_cifar10_lt_folder(root, 100)       # decoded once into memory (and the dataset cache)
    wcdas = dict(autoaugment=True, cutout=16)
    loaders = dict(tensorloader=lambda: TensorLoader(train, bs, shuffle=True, augment=True, device=device, drop_last=True),
                   imagefolder=lambda: imagefolder_loader(Path(root)/'train_if100', bs, workers),
                   tensorloader_wcdas=lambda: TensorLoader(train, bs, shuffle=True, augment=True, device=device, drop_last=True, **wcdas),
                   imagefolder_wcdas=lambda: imagefolder_loader(Path(root)/'train_if100', bs, workers, wcdas=True))
    if compiled: loaders['tensorloader_compiled'] = loaders['tensorloader']
    res = dict(device=str(device), bs=bs, workers=workers, seconds_budget=seconds, max_batches=max_batches, images=len(train), pipelines={})
    for name, make in loaders.items():
        compiled_model = PIPELINES[name][3]
        res['pipelines'][name] = dict(train=run(make(), device, seconds, max_batches, compiled=compiled_model))
        if not compiled_model: res['pipelines'][name]['loader_only'] = run(make(), device, seconds / 6, max_batches, train=False)
        print(name, {k: round(v['images_per_s']) for k, v in res['pipelines'][name].items()}, flush=True)
    res['load_average'] = os.getloadavg()
    res['record'] = run_record(dict(root=str(root), seconds=seconds, bs=bs, workers=workers, compiled=compiled), device=device)
    out.mkdir(parents=True, exist_ok=True)
    save_json(res, out/'stage1.json')
    (out/'stage1.md').write_text(markdown(res))
    print(markdown(res))
    return res

def markdown(res):
    "The results table (markdown) of a `stage1.json`."
    ps, seconds, bs, workers = res['pipelines'], res['seconds_budget'], res['bs'], res['workers']
    per_s = lambda n, k: ps[n][k]['images_per_s'] if k in ps[n] else None
    rows = [f"| {PIPELINES[n][1].format(workers=workers)} | {PIPELINES[n][2]} | {per_s(n, 'train'):,.0f} | "
            + (f"{per_s(n, 'loader_only'):,.0f} |" if per_s(n, 'loader_only') else 'the same loader as above |') for n in ps]
    ratio = lambda a, b, k: f"{per_s(a, k) / per_s(b, k):.2f}x" if per_s(a, k) and per_s(b, k) else '-'
    ratios = [f"| **ratio** {PIPELINES[a][0]} / {PIPELINES[b][0]} | {PIPELINES[a][2]} | **{ratio(a, b, 'train')}** | {ratio(a, b, 'loader_only')} |"
              for a, b in RATIOS if a in ps and b in ps]
    return f"""### Stage-1 training throughput (ResNet-32, CIFAR-10-LT IF=100, batch {bs}, bf16 autocast, channels-last)
Device: {res['record']['device_name']}; load average at the end {res['load_average'][0]:.1f} (a shared machine). Command: `python bench/stage1.py{' --compile' if res['record']['config'].get('compiled') else ''}`.
Each pipeline: its augmentation + normalise, then forward + backward + SGD step; about {seconds:.0f} s each after {WARMUP} warm-up
batches (the compiled model compiles during them). Ratios are between pipelines of this one run.

| pipeline | augmentation | training images/s | loader alone, images/s |
|---|---|---|---|
""" + '\n'.join(rows + ratios) + '\n'

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--root', type=Path, default=None, help='the cifar10 folder of the LDMLR release (default: shared data)')
    p.add_argument('--seconds', type=float, default=30, help='time budget per pipeline (training); loaders alone get a sixth')
    p.add_argument('--max-batches', type=int, default=300, help='at most this many timed batches per pipeline')
    p.add_argument('--bs', type=int, default=128)
    p.add_argument('--workers', type=int, default=2, help='DataLoader worker processes for the ImageFolder pipeline')
    p.add_argument('--device', default=None)
    p.add_argument('--compile', action='store_true', help='also time the TensorLoader pipeline with the model under torch.compile')
    p.add_argument('--md-only', action='store_true', help='only rewrite stage1.md from stage1.json')
    a = p.parse_args()
    if a.md_only:
        out = Path(__file__).parent/'results'
        (out/'stage1.md').write_text(markdown(json.loads((out/'stage1.json').read_text()))); raise SystemExit
    main(cifar10_root(a.root), Path(__file__).parent/'results', a.seconds, a.max_batches, a.bs, a.workers, a.device, a.compile)
