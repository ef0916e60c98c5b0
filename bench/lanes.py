"""Lanes on a CPU: many stage-1 runs one after another on all cores, or side by side with one thread each?

The reproduction (bench/reproduce.py) is a dozen stage-1 trainings. On a CPU they can run one at a time with a thread per core,
or one process per core with one thread each (`OMP_NUM_THREADS=1 python bench/reproduce.py --seeds 1 &` beside `--seeds 2`).
This times each recipe's training step both ways in one run: ResNet-32 at the recipe's batch size and augmentation (CE: 64,
crop + flip; WCDAS: 256, crop + flip + AutoAugment + Cutout), bf16 autocast, channels-last, the in-memory TensorLoader, for
about `--seconds` after warm-up: one process with a thread per core, then one single-thread process per core at once (started
together after loading, their images/s summed), and again, `--repeats` times in turn, so that a slower spell of a shared
machine falls on both ways alike.

  python bench/lanes.py [--seconds 15] [--repeats 2] [--root ../shared/data/cifar10]
Writes bench/results/lanes.{json,md}."""
import argparse, json, os, subprocess, sys, time
from pathlib import Path

import torch
from stage1 import run, cifar10_root
from stage1_cifar import augmentation
from ldmlr.core import save_json, run_record, flush_denormals
from ldmlr.data import load_cifar10_lt_folder, TensorLoader
from ldmlr.stage1 import RECIPES

OUT = Path(__file__).parent/'results'
RECIPE_NAMES = ('ce-cifar', 'wcdas-cifar')

def worker(root:Path, recipe:str, seconds:float, start_at:float) -> dict:
    "Images/s of one process training `recipe`'s step, timed from `start_at` (so that processes started together overlap)."
    flush_denormals()
    r = RECIPES[recipe]
    dl = TensorLoader(load_cifar10_lt_folder(root, 100), r['bs'], shuffle=True, augment=True, device='cpu', drop_last=True,
                      autoaugment=r.get('autoaugment', False), cutout=r.get('cutout', 0))
    time.sleep(max(0., start_at - time.time()))
    return run(dl, torch.device('cpu'), seconds, max_batches=100_000) | dict(threads=torch.get_num_threads())

def lanes(root:Path, recipe:str, seconds:float, n:int, threads:int) -> list[dict]:
    "Run `n` worker processes of `threads` threads each at the same time; their results."
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    start_at = time.time() + 10   # after every process has imported torch and loaded the images
    ps = [subprocess.Popen([sys.executable, __file__, '--worker', recipe, '--root', str(root), '--seconds', str(seconds),
                            '--start-at', str(start_at)], stdout=subprocess.PIPE, text=True, env=env) for _ in range(n)]
    outs = [p.communicate()[0] for p in ps]
    if any(p.returncode for p in ps): raise SystemExit(f'a worker failed: {outs}')
    return [json.loads(o.strip().splitlines()[-1]) for o in outs]

def main(root:Path, seconds:float, repeats:int):
    cores = os.cpu_count()
    res = dict(cores=cores, seconds=seconds, repeats=repeats, recipes={})
    for name in RECIPE_NAMES:
        res['recipes'][name] = r = dict(one_process=[], per_core=[])
        for _ in range(repeats):
            r['one_process'].append(lanes(root, name, seconds, 1, cores)[0])
            r['per_core'].append(lanes(root, name, seconds, cores, 1))
            print(name, round(r['one_process'][-1]['images_per_s']), [round(m['images_per_s']) for m in r['per_core'][-1]], flush=True)
    res['load_average'] = os.getloadavg()
    res['record'] = run_record(dict(script='bench/lanes.py', root=str(root), seconds=seconds, repeats=repeats), device='cpu')
    save_json(res, OUT/'lanes.json')
    (OUT/'lanes.md').write_text(markdown(res))
    print(markdown(res))

def markdown(res:dict) -> str:
    "The table of a `lanes.json`."
    c = res['cores']
    rows = []
    for name, r in res['recipes'].items():
        one = [o['images_per_s'] for o in r['one_process']]
        many = [sum(m['images_per_s'] for m in lane) for lane in r['per_core']]
        ratios = [b / a for a, b in zip(one, many)]
        rows.append(f"| {name} | {RECIPES[name]['bs']} | {augmentation(dict(RECIPES[name], mixup=0))} | {', '.join(f'{x:,.0f}' for x in one)} | "
                    f"{', '.join(f'{x:,.0f}' for x in many)} | {', '.join(f'{x:.2f}x' for x in ratios)} | **{sum(many) / sum(one):.2f}x** |")
    return (f"### Stage 1 on a CPU: one process on all {c} cores, or one single-thread process per core\n"
            f"Device: {res['record']['device_name'].split(',')[0]}, {c} cores; load average at the end {res['load_average'][0]:.1f}. "
            f"Command: `python bench/lanes.py --seconds {res['seconds']:g} --repeats {res['repeats']}`. ResNet-32 training steps (bf16 autocast, channels-last, "
            f"in-memory TensorLoader, CIFAR-10-LT IF=100 images) for about {res['seconds']:g} s each after warm-up; the per-core processes "
            "run at the same time and their images/s are summed; the two ways take turns, once per repeat (a column lists the repeats in order). "
            "The ratio is per-core lanes over one process, from this one run: "
            "above 1, running the reproduction's seeds side by side (`OMP_NUM_THREADS=1`, one process a core) gets through them faster.\n\n"
            f"| recipe | batch | augmentation | 1 process, {c} threads: images/s | {c} processes, 1 thread each: images/s (sum) | ratio per repeat | ratio, all repeats |\n"
            "|---|---|---|---|---|---|---|\n" + '\n'.join(rows) + '\n')

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--root', type=Path, default=None, help='the cifar10 folder of the LDMLR release (default: shared data)')
    p.add_argument('--seconds', type=float, default=15)
    p.add_argument('--repeats', type=int, default=2, help='take turns this many times')
    p.add_argument('--worker', default=None, help=argparse.SUPPRESS)
    p.add_argument('--start-at', type=float, default=0., help=argparse.SUPPRESS)
    p.add_argument('--md-only', action='store_true', help='only rewrite lanes.md from lanes.json')
    a = p.parse_args()
    if a.md_only: (OUT/'lanes.md').write_text(markdown(json.loads((OUT/'lanes.json').read_text()))); raise SystemExit
    root = cifar10_root(a.root)
    if a.worker: print(json.dumps(worker(root, a.worker, a.seconds, a.start_at)))
    else: main(root, a.seconds, a.repeats)
