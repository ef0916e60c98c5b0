"""Stage 1 on CIFAR-10-LT (IF=100) with our Learner: the CE and WCDAS recipes, on a schedule shortened to fit a CPU.

  python bench/stage1_cifar.py [--epochs 30] [--seed 0] [--recipes ce-cifar wcdas-cifar]
The full schedules (CE 200 epochs, WCDAS 700 + 30 head epochs) need a GPU or hours of CPU: pass --epochs 200 / 700.
A shortened schedule keeps each recipe's shape: CE's step decays at the same fractions (1/2, 3/4) of the run,
WCDAS's cosine over the whole run, and its head-only phase scaled by the same factor (at least 2 epochs).
Runs resume; they live where bench/reproduce.py looks for its stage 1 (bench/runs/reproduce/<recipe>-if100-e<epochs>-s<seed>/),
so it goes on from them to stages 2-3. Writes bench/results/stage1_cifar10.json and .md."""
import argparse, time
from pathlib import Path
from ldmlr.core import save_json, load_json, device_name
from ldmlr.data import load_dataset
from ldmlr.stage1 import train_baseline, RECIPES

def shortened(recipe:dict, epochs:int) -> dict:
    "The recipe with its schedule scaled to `epochs`."
    r, f = dict(recipe), epochs / recipe['epochs']
    r['epochs'] = epochs
    if r.get('milestones'): r['milestones'] = [round(m * f) for m in r['milestones']]
    if r.get('head_epochs'): r['head_epochs'] = max(2, round(r['head_epochs'] * f))
    return r

def augmentation(cfg:dict) -> str:
    "A recipe's (or a run config's) training augmentation, in words."
    return ('crop + flip' + (' + AutoAugment' if cfg.get('autoaugment') else '') + (f" + Cutout {cfg['cutout']}" if cfg.get('cutout') else '')
            + (' + mixup' if cfg.get('mixup') else ''))

def stage1_run(runs:Path, recipe:str, imb:int, epochs:int, seed:int, holdout:int=0) -> Path:
    "The run directory of one stage-1 training (shared with bench/reproduce.py); `holdout`: head-class images kept out of it for validation."
    return runs/'reproduce'/(f'{recipe}-if{imb}-e{epochs}-s{seed}' + (f'-h{holdout}' if holdout else ''))

def stage1_seconds(run:Path) -> float:
    "Training time of a run's stage 1 (both phases), from its per-epoch history."
    return sum(h.get('time', 0) for f in (run/'stage1'/'history.json', run/'stage1'/'head'/'history.json') if f.exists() for h in load_json(f))

def main(epochs, seed, recipes, runs, out):
    rows = load_json(out/'stage1_cifar10.json')['rows'] if (out/'stage1_cifar10.json').exists() else {}
    if recipes: train, test = load_dataset('cifar10-lt-folder', imb_factor=100)
    for name in recipes:
        cfg = shortened(RECIPES[name], epochs)
        run = stage1_run(runs, name, 100, epochs, seed)
        t0 = time.time()
        train_baseline(train, test, run, seed=seed, progress=False, **cfg)
        m = load_json(run/'stage1'/'metrics.json')
        train_s = stage1_seconds(run) or time.time() - t0
        rows[f'{name}-e{epochs}-s{seed}'] = dict(recipe=name, epochs=epochs, head_epochs=cfg.get('head_epochs', 0), seed=seed,
                                                 acc=m['acc'], many=m['many'], medium=m['medium'], few=m['few'], train_s=train_s,
                                                 config=cfg, device=device_name())
        save_json(dict(rows=rows), out/'stage1_cifar10.json')
    paper = {'ce-cifar': 72.46, 'wcdas-cifar': 84.67}
    stale = [r for r in rows.values() if augmentation(r['config']) != augmentation(shortened(RECIPES[r['recipe']], r['epochs']))]
    lines = [f"| {r['recipe']} | {augmentation(r['config'])} | {r['epochs']}" + (f" + {r['head_epochs']} head" if r['head_epochs'] else '') +
             f" | {r['seed']} | {r['acc']:.2f} | {r['many']:.2f} | {r['medium']:.2f} | {paper[r['recipe']]:.2f} (full schedule) | {r['train_s']/60:.1f} min ({r['device']}) |"
             for r in rows.values()]
    md = ("### Stage 1 on CIFAR-10-LT IF=100, trained by ldmlr's Learner\n"
          "Shortened CPU schedules (no GPU was lent to this task): each recipe's schedule compressed to the epochs shown, "
          "final epoch, test accuracy % (the test set is evaluated, never used to select), as `train_baseline` evaluates it: under bf16 autocast "
          "where the device has bf16 (bench/results/reproduce.md scores the same models' heads on fp32 features, so the same run can differ "
          "there by a few tenths). The paper's numbers are for the full "
          "schedules (CE 200 epochs, WCDAS 700 + 30). Command: `python bench/stage1_cifar.py --epochs N`. "
          + (f"The augmentation column is what each run trained with; {len(stale)} run(s) predate the recipe's current augmentation "
             f"({augmentation(shortened(RECIPES[stale[0]['recipe']], stale[0]['epochs']))} for {stale[0]['recipe']})." if stale else '') + "\n\n"
          "| recipe | augmentation | epochs | seed | overall | many | medium | paper | training time |\n|---|---|---|---|---|---|---|---|---|\n"
          + '\n'.join(lines) + '\n')
    (out/'stage1_cifar10.md').write_text(md)
    print(md)

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--epochs', type=int, default=30)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--recipes', nargs='+', default=['ce-cifar', 'wcdas-cifar'])
    p.add_argument('--runs', type=Path, default=Path(__file__).parent/'runs')
    p.add_argument('--out', type=Path, default=Path(__file__).parent/'results')
    p.add_argument('--md-only', action='store_true', help='only rewrite the table from the JSON')
    a = p.parse_args()
    main(a.epochs, a.seed, [] if a.md_only else a.recipes, a.runs, a.out)
