"""Reproduce the paper from scratch on CIFAR-10-LT: stage 1 with the CE and WCDAS recipes (trained by ldmlr's Learner), then LDMLR.

  python bench/reproduce.py                                   # full schedules (CE 200 epochs, WCDAS 700 + 30), IF 100 and 10, seeds 0 1 2
  python bench/reproduce.py --epochs 50 --imb 100 --seeds 0   # shortened schedules (see `shortened` in bench/stage1_cifar.py)
  python bench/reproduce.py --md-only                         # rewrite the table from bench/results/reproduce.json

Every step resumes: stage 1 from its per-epoch checkpoint; features, diffusion model and pseudo-features from their files. A run
that is killed, or outlives a session, continues where it stopped when the same command is given again.
Nothing is selected on the test set. Stage 3 reports its final epoch; the guidance weight of LDMLR (and of the Gaussian control)
is chosen per seed on a clean validation set, scored by mean per-class accuracy: training images of the other released split
(IF=10 for an IF=100 run and the other way round) that this run's stage 1 never saw, plus, for the class those lack (class 0,
whose 5,000 images are in both splits), `--holdout` (200) of its images kept out of stage 1, the same ones for every run.
`--holdout 0` is the protocol of the first 12 runs, whose validation set had no class-0 image (the table keeps them apart).
Writes bench/results/reproduce.{json,md}; runs live under bench/runs/reproduce/<recipe>-if<imb>-e<epochs>-s<seed>[-h<holdout>]/.

  python bench/reproduce.py --park                            # before a session ends: park unfinished stage 1s in bench/parked/
                                                              #   (and rewrite the table: it says how far each parked run got)

bench/runs/ is not committed, and a session's work tree does not outlive it, so a stage 1 longer than a session (a WCDAS stage 1
took 3 h at IF=100 on 2 threads of a CPU with bf16, about 9 h on a 1-thread lane beside another, and about 3x that in fp32
on a CPU without bf16: 130-140 s an epoch on an AMD EPYC lane) would never finish. `--park` copies the stage 1 of every run not yet in the results (its checkpoint, config
and history: about 4 MB) to bench/parked/<run>/, which is committed; the next session's run of the same command restores it
into bench/runs/ and trains on from the parked epoch (bit for bit as if never stopped, at the same thread count on the same kind of CPU; a machine without bf16
in hardware trains on in fp32, and the run's record names each machine and its precision). A parked copy is dropped once its run's
rows are in the results.

On a CPU, run one single-thread process per core, each with its own seeds (or recipes, or IFs): bench/results/lanes.md measures
this as no slower than one process on all cores, and faster on some machines. The runs share the results file under a lock,
and a run that another process is training is refused:
  OMP_NUM_THREADS=1 python bench/reproduce.py --recipes ce-cifar --imb 10 --seeds 1 &
  OMP_NUM_THREADS=1 python bench/reproduce.py --recipes ce-cifar --imb 10 --seeds 2 &"""
import argparse, contextlib, fcntl, functools, shutil, sys, time
from pathlib import Path

import torch
sys.path.insert(0, str(Path(__file__).parent))
from _ckpt_features import unseen_images
from stage1_cifar import shortened, stage1_run, stage1_seconds
from reproduce_ckpt import METHODS, HEAD, DIFFUSION, SAMPLING, CHOSEN, DiskCache, choose_on_validation, paired_diffs, tag
from ldmlr.core import save_json, load_json, load_torch, run_record, device_name, get_device, LDMLRError
from ldmlr.data import load_dataset, FeatureSet, ImageSet
from ldmlr.stage1 import train_baseline, RECIPES, load_stage1, encode
from ldmlr.diffusion import train_diffusion_fs, save_diffusion, load_diffusion
from ldmlr.stage3 import init_head, ClassGaussian, run_methods, class_counts, combine
from ldmlr.evaluate import md_table, mean_std_rows, pm_rows

OUT, RUNS, PARKED = Path(__file__).parent/'results', Path(__file__).parent/'runs'/'reproduce', Path(__file__).parent/'parked'
RESULTS = OUT/'reproduce.json'
PAPER = {('ce-cifar', 100): (72.46, 76.26), ('ce-cifar', 10): (88.22, 89.13),      # (baseline, + LDMLR): test-selected in the paper
         ('wcdas-cifar', 100): (84.67, 86.29), ('wcdas-cifar', 10): (92.48, 92.58)}
KEEP = ('stage-1 head (no fine-tuning)', 'real only, class-balanced (cRT)')
CONTROLS = (KEEP[1], CHOSEN.format('Gaussian'))   # the rows LDMLR is compared with, seed by seed
SHOWN = (KEEP[0], CHOSEN.format('LDMLR'), *CONTROLS)   # the methods each table shows: the stage-1 model, LDMLR and the controls
STAGE3 = [m for m in METHODS if m['name'] in KEEP or m.get('fill_to') == 'max' and not m.get('balanced')]
COLS = ['acc', 'many', 'medium', 'few']
ALL_RECIPES, ALL_IMB, ALL_SEEDS = ['ce-cifar', 'wcdas-cifar'], [100, 10], [0, 1, 2]   # the full reproduction (#6)
HOLDOUT = 200   # images of each class the other split cannot validate (class 0), kept out of stage 1 to validate on
SPLIT_SEED = 0  # one choice of those images for every run, so seeds differ by training alone

def park(runs:Path, # the runs folder (bench/runs/reproduce)
         parked:Path, # where parked copies go (bench/parked, committed)
         finished:set, # names of the runs whose rows are in the results: their parked copies are dropped
        ) -> list[str]:
    "Copy the stage 1 of every unfinished run in `runs` to `parked`, and drop the parked copies of finished runs; what was done."
    done = []
    for old in sorted(parked.glob('*/stage1')):
        if old.parent.name in finished: shutil.rmtree(old.parent); done.append(f'dropped {old.parent.name} (finished)')
    for s1 in sorted(runs.glob('*/stage1')):
        name = s1.parent.name
        if name in finished or not (s1/'checkpoint.pt').exists(): continue
        tmp, dest = parked/f'{name}.tmp', parked/name
        if (dest/'stage1').exists() and _stage1_steps(dest/'stage1') > _stage1_steps(s1):   # e.g. a run begun again here by mistake
            done.append(f'kept the parked {name} at {_stage1_progress(dest/"stage1")}: further than here ({_stage1_progress(s1)})'); continue
        shutil.rmtree(tmp, ignore_errors=True)
        # checkpoints are written by rename, so a run still training is copied at a whole epoch; pngs are redrawn on resume
        shutil.copytree(s1, tmp/'stage1', ignore=shutil.ignore_patterns('*.png', '*.tmp'))
        shutil.rmtree(dest, ignore_errors=True); tmp.rename(dest)
        done.append(f'parked {name} at {_stage1_progress(dest/"stage1")}')
    return done

def restore(run:Path, # a run directory (bench/runs/reproduce/<run>)
            parked:Path, # the parked copies (bench/parked)
           ) -> str:
    "Put the parked stage 1 of `run` back where training resumes from, unless the stage 1 here is as far; what was done ('' if nothing)."
    src, here = parked/run.name/'stage1', run/'stage1'
    if not src.exists(): return ''
    if here.exists():
        ours, theirs = _stage1_steps(here), _stage1_steps(src)
        if ours == theirs: return ''
        if ours > theirs: return f'kept the stage 1 here ({_stage1_progress(here)}): the parked copy is behind ({_stage1_progress(src)})'
    shutil.rmtree(run/'stage1.tmp', ignore_errors=True)
    shutil.copytree(src, run/'stage1.tmp')
    if here.exists(): shutil.rmtree(here)   # behind the parked copy of the same run: nothing is lost
    (run/'stage1.tmp').rename(here)
    return f'restored the parked stage 1 ({_stage1_progress(here)})'

def _stage1_steps(s1:Path) -> tuple:
    "How far a stage 1 got, comparable between two copies of one run: (finished, head epochs done, main epochs done)."
    done = lambda f: load_torch(f)['epoch'] + 1 if f.exists() else 0
    return ((s1/'model.pt').exists(), done(s1/'head'/'checkpoint.pt'), done(s1/'checkpoint.pt'))

def _stage1_progress(s1:Path) -> str:
    "Where a stage 1 stands: 'epoch E of N' of its main phase, plus its head phase when that has begun."
    ck = lambda f: load_torch(f) if f.exists() else None
    main, head = ck(s1/'checkpoint.pt'), ck(s1/'head'/'checkpoint.pt')
    if main is None: return 'no epoch done yet'
    return (f"epoch {main['epoch'] + 1} of {main['n_epochs']}" + (f", head epoch {head['epoch'] + 1} of {head['n_epochs']}" if head else '')
            + (', finished' if (s1/'model.pt').exists() else ''))

def stage1_data(imb:int, # 100 or 10
                holdout:int, # images of each class without unseen images to keep out of stage 1 (0: none)
               ) -> tuple[ImageSet, ImageSet, list[ImageSet]]:
    "(stage-1 training images, test images, clean validation images): the other split's images this one lacks, and the held-out ones."
    train, test = load_dataset('cifar10-lt-folder', imb_factor=imb)
    unseen, _ = unseen_images(imb)
    if not holdout: return train, test, [unseen]
    train, held = train.split([holdout if n == 0 else 0 for n in unseen.counts], seed=SPLIT_SEED)
    return train, test, [unseen, held]

def features(run:Path, train:ImageSet, test:ImageSet, val:list[ImageSet], device) -> tuple[FeatureSet, FeatureSet, FeatureSet, torch.nn.Module]:
    "(train, test, clean validation) features of the run's stage-1 model, and its head; encoded once, then read from run/features/."
    d = run/'features'
    files = [d/f'{n}.safetensors' for n in ('train', 'test', 'val')]
    model = load_stage1(run)
    if not all(f.exists() for f in files):
        enc = lambda ds: encode(model, ds, train_counts=train.counts, device=device)   # shot groups from the counts stage 1 trained on
        named = [(enc(train), train.name), (enc(test), test.name), (functools.reduce(combine, map(enc, val)), ' + '.join(v.name for v in val))]
        for (fs, name), f in zip(named, files): fs.source = name; fs.save(f)
    return (*(FeatureSet.load(f) for f in files), model.head)

def diffusion(run:Path, tr:FeatureSet, seed:int, device):
    "The run's feature diffusion model (trained once, then loaded)."
    path = run/'stage2'/f'diffusion-{tag(DIFFUSION)}.pt'
    if path.exists(): return load_diffusion(path, features=tr)
    dm = train_diffusion_fs(tr, seed=seed, device=device, progress=False, **DIFFUSION)
    save_diffusion(dm, path)
    return dm.to('cpu')

def run_one(recipe:str, imb:int, seed:int, epochs:int|None, device, log, compiled:bool=False, holdout:int=HOLDOUT) -> list[dict]:
    "Stage 1, then stages 2-3, of one (recipe, imbalance factor, seed); the rows of `run_methods` plus the validation-chosen ones."
    cfg = shortened(RECIPES[recipe], epochs) if epochs else dict(RECIPES[recipe])
    run = stage1_run(RUNS.parent, recipe, imb, cfg['epochs'], seed, holdout)
    with _locked(run/'run.lock', wait=False):   # two processes on one run would overwrite each other's checkpoints
        if said := restore(run, PARKED): log(f'{run.name}: {said}')
        t0 = time.time()
        train, test_images, val_images = stage1_data(imb, holdout)
        # no test pass after every epoch (a fifth of a CPU epoch's time): nothing is selected on it, and the stage-1 head is tested below.
        # A finished run is returned without training, after the check that it was trained with this recipe.
        # Progress: one row per epoch with the time left (bars on a terminal), so a run left in the background can be followed.
        train_baseline(train, None, run, seed=seed, device=device, progress=True, compiled=compiled, **cfg)
        s1_time, s1_device = stage1_seconds(run), _stage1_device(run)
        log(f'{run.name}: stage 1 ready ({time.time()-t0:.0f}s this call)')
        tr, test, va, head = features(run, train, test_images, val_images, device)
        gens = dict(diffusion=diffusion(run, tr, seed, device), gaussian=ClassGaussian.fit(tr))
        rows = run_methods(STAGE3, tr, va, test, init_head(head, warm=head), gens, seed=seed, pseudo_kw=SAMPLING, progress=False,
                           cache=DiskCache(run/'stage3', tag(DIFFUSION)), **HEAD)
        rows += choose_on_validation(rows)
        val_counts = class_counts(va)   # which classes validation can see
        for r in rows: r.update(recipe=recipe, imb=imb, epochs=cfg['epochs'], head_epochs=cfg.get('head_epochs', 0), stage1_s=s1_time, stage1_device=s1_device,
                                diffusion_s=gens['diffusion'].history.get('time_s'), run=run.name, val_counts=val_counts, holdout=holdout)
        log(f'{run.name}: ' + ', '.join(f"{r['method']} {r['acc']:.2f}" for r in rows if r['method'] in KEEP + (CHOSEN.format('LDMLR'),)))
        return rows

def md(res:dict, # the results (bench/results/reproduce.json)
       parked:Path|None=None, # the parked stage 1s (bench/parked): how far each run still to run got
      ) -> str:
    "The results tables, one per validation protocol (the current one first): ours (mean ± std over seeds) against the paper, by shot group."
    devices = sorted({r['device'] for r in res['rows']})
    intro = ("### Reproduction from scratch: CIFAR-10-LT, ResNet-32\n"
            "Stage 1 trained by ldmlr's Learner with the CE recipe (SGD lr 0.1, batch 64, mixup 0.5, step decay) and the WCDAS recipe "
            "(SGD lr 0.2, batch 256, cosine, AutoAugment + Cutout, then head-only class-aware fine-tuning); test accuracy %, mean ± sample std over seeds (one seed: its value), "
            "final epoch of every stage. LDMLR = fill every class to the head count with DDIM pseudo-features, guidance chosen per seed "
            "on a clean validation set (training images of the other released split, unseen by this stage 1; in the current protocol also "
            f"{HOLDOUT} images of class 0, which that split lacks, kept out of stage 1); the Gaussian control is "
            "chosen the same way. The paper's numbers select the best epoch on the test set. "
            "LDMLR gain = LDMLR minus the stage-1 model, per seed (paired): mean ± std, and how many seeds gained; "
            "LDMLR minus control = the same against each control (cRT: the head re-trained on real features only, with class-balanced sampling; "
            "Gaussian: the same pseudo-feature counts drawn from a Gaussian per class fitted to the real features, its covariance shrunk towards the pooled one), "
            "so a negative value there means the control did better. "
            f"Device: {'; '.join(devices)}. Command: `python bench/reproduce.py --recipes R --imb I --seeds S` (plus `--epochs N` for a shortened stage 1, "
            "`--holdout 0` for the first protocol). "
            "Stage-1 time (on each setting's first row) is wall time per device; on a 1-thread device two runs trained side by side, one per core "
            "(bench/results/lanes.md), so such a run takes longer alone but two finish sooner. "
            "A stage 1 longer than a session resumes from its checkpoint in the next one (`--park` carries it over in bench/parked/).")
    parts = [intro, _progress(res, parked)]
    for holdout in sorted({_holdout(r) for r in res['rows']} | {HOLDOUT}, reverse=True):
        rows = [r for r in res['rows'] if _holdout(r) == holdout]
        parts.append(f"#### {_protocol(holdout)}\n\n" + (md_table(_summary(rows)) + '\n' + _blind_spot(rows) if rows else 'No run has finished yet.'))
    return '\n\n'.join(parts)

def _holdout(row:dict) -> int: return row.get('holdout', 0)   # rows made before the holdout existed had none

def _protocol(holdout:int) -> str:
    "A validation protocol, in words."
    if holdout: return (f"Validation with every class: the other split's unseen images + {holdout} class-0 images kept out of stage 1 (`--holdout {holdout}`"
                         + (', the current protocol)' if holdout == HOLDOUT else ')'))
    return ("Validation without class 0: the other split's unseen images only (`--holdout 0`, the first 12 runs"
            + ('; superseded, kept for the record)' if HOLDOUT else ')'))

def _summary(rows:list) -> list[dict]:
    "The table rows of one protocol: per setting, the stage-1 model, LDMLR and the controls."
    out = []
    for (recipe, imb, epochs), rows in _groups(rows):
        summ = {s['method']: s for s in mean_std_rows(rows, by='method', cols=COLS)}
        n = len({r['seed'] for r in rows})
        base, ldmlr = PAPER[(recipe, imb)]
        name = recipe.split('-')[0].upper()
        sched = _schedule(rows)
        full = epochs == RECIPES[recipe]['epochs']
        gain = _paired_gain(rows, CHOSEN.format('LDMLR'), KEEP[0])
        s1_time = _stage1_time([r for r in rows if r['method'] == KEEP[0]])
        for label, method, paper in zip((name, f'{name} + LDMLR', f'{name}, cRT (control)', f'{name} + Gaussian (control)'), SHOWN, (base, ldmlr, None, None)):
            s = summ[method]
            out.append({'CIFAR-10-LT': f'IF={imb}', 'method': label, 'stage 1': sched + ('' if full else f' (shortened: `--epochs {epochs}`)'), 'seeds': n,
                        **{c: '-' if s.get(c+'_mean') is None else f"{s[c+'_mean']:.2f}" + (f" ± {s[c+'_std']:.2f}" if n > 1 else '') for c in COLS},
                        'LDMLR gain': gain if method == CHOSEN.format('LDMLR') else '',
                        'LDMLR minus control': _paired_gain(rows, CHOSEN.format('LDMLR'), method) if method in CONTROLS else '',
                        'paper': '-' if paper is None else f'{paper:.2f}', 'stage-1 time': s1_time if method == KEEP[0] else ''})
    return out

def _blind_spot(rows:list) -> str:
    "What validation cannot see: per setting, test accuracy on the classes with and without validation images (runs that recorded per-class accuracy)."
    out = []
    for (recipe, imb, epochs), rows in _groups(rows):
        rows = [r for r in rows if r.get('per_class') and r.get('val_counts') and 0 in r['val_counts'] and r.get('val_acc') is not None]
        for label, method in zip(('stage 1', '+ LDMLR', 'cRT', '+ Gaussian'), SHOWN):
            rs = [r for r in rows if r['method'] == method]
            if not rs: continue
            blind = [c for c, n in enumerate(rs[0]['val_counts']) if n == 0]
            mean = lambda xs: sum(xs) / len(xs)
            part = lambda r, inside: mean([a for c, a in enumerate(r['per_class']) if (c in blind) != inside])
            out.append({'CIFAR-10-LT': f'IF={imb}', 'method': f"{recipe.split('-')[0].upper()} {label}", 'stage 1': _schedule(rs),
                        'seeds': len(rs), 'validation acc': mean([r['val_acc'] for r in rs]), 'test, classes validation has': mean([part(r, True) for r in rs]),
                        f"test, class{'es' if len(blind) > 1 else ''} {', '.join(map(str, blind))} (no validation images)": mean([part(r, False) for r in rs]),
                        'test acc': mean([r['acc'] for r in rs])})
    if not out: return ''
    return ("\n##### What this validation set cannot see\n"
            "It holds no image of a class whose long-tailed subset already uses all of its training images (the head class, "
            "class 0), so the guidance chosen on it is blind to that class. Below, for the runs that recorded per-class test accuracy: validation "
            "accuracy (mean over the classes it has), the test accuracy of the same classes, and of the classes it lacks; means over seeds. "
            "A validation gain that comes back on the test classes it covers, while the blind class loses, is this blind spot, not over-fitting "
            "to validation; it is why the current protocol keeps class-0 images out of stage 1. "
            "Per-class rows: `bench/results/reproduce.json` (`per_class`, `val_counts`).\n\n"
            + md_table(out) + '\n')

def _stage1_device(run:Path) -> str:
    "The device(s) that trained a run's stage 1, with their precision where recorded, from its record (each resume that trained appends one)."
    rec = load_json(run/'stage1'/'config.json')
    precision = lambda r: {True: ', bf16', False: ', fp32'}.get(r.get('bf16'), '')   # records before 2026-12-02 did not say
    return ' then '.join(dict.fromkeys(r['device_name'] + precision(r) for r in [rec] + rec.get('resumed', [])))

def _stage1_time(rows) -> str:
    "Mean stage-1 wall time per device, since seeds of one setting may have trained on different devices."
    by_dev = {}
    for r in rows: by_dev.setdefault(r.get('stage1_device', r['device']), []).append(r['stage1_s'])
    return '; '.join(f"{sum(t)/len(t)/60:.0f} min ({dev}, {len(t)} seed{'s' if len(t) > 1 else ''})" for dev, t in sorted(by_dev.items()))

def _paired_gain(rows, method, base):
    "Per-seed `method` minus `base` accuracy: 'mean ± std (k/n seeds > 0)'."
    d = paired_diffs(rows, method, base)
    if not len(d): return '-'
    return f"{d.mean():+.2f}" + (f" ± {d.std(ddof=1):.2f}" if len(d) > 1 else '') + f" ({(d > 0).sum()}/{len(d)} seeds > 0)"

def _progress(res, parked:Path|None=None):
    "Which full-schedule runs (recipe x imbalance factor x seed) are in the table, and which are still missing (with how far a parked one got)."
    want = [(r, i, s) for r in ALL_RECIPES for i in ALL_IMB for s in ALL_SEEDS]
    have = {(r['recipe'], r['imb'], r['seed']) for r in res['rows'] if r['epochs'] == RECIPES[r['recipe']]['epochs'] and _holdout(r) == HOLDOUT}
    missing = [w for w in want if w not in have]
    def where(recipe, imb, seed):
        if parked is None: return ''
        s1 = parked/stage1_run(Path(), recipe, imb, RECIPES[recipe]['epochs'], seed, HOLDOUT).name/'stage1'
        return f" (stage 1 parked at {_stage1_progress(s1)})" if (s1/'checkpoint.pt').exists() else ''
    return (f"Full schedules done in the current protocol: {len(want) - len(missing)} of {len(want)} ({len(ALL_RECIPES)} recipes x IF {', '.join(map(str, ALL_IMB))} "
            f"x seeds {', '.join(map(str, ALL_SEEDS))})"
            + ('.' if not missing else '; still to run: '
               + ', '.join(f"{r.split('-')[0].upper()} IF={i} seed {s}{where(r, i, s)}" for r, i, s in missing) + '.'))

def _groups(rows) -> list:
    "`((recipe, imb, epochs), rows)` per setting, in table order: IF=100 first."
    g = {}
    for r in rows: g.setdefault((r['recipe'], r['imb'], r['epochs']), []).append(r)
    return sorted(g.items(), key=lambda kv: (kv[0][1] != 100, kv[0][0], kv[0][2]))

def _schedule(rows) -> str:
    h0 = rows[0]['head_epochs']
    return f"{rows[0]['epochs']} epochs" + (f" + {h0} head epochs" if h0 else '')

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--recipes', nargs='+', default=ALL_RECIPES, choices=ALL_RECIPES)
    p.add_argument('--imb', type=int, nargs='+', default=ALL_IMB, choices=ALL_IMB)
    p.add_argument('--seeds', type=int, nargs='+', default=ALL_SEEDS)
    p.add_argument('--epochs', type=int, default=None, help='shorten every stage-1 schedule to this many epochs (default: full)')
    p.add_argument('--device', default=None)
    p.add_argument('--holdout', type=int, default=HOLDOUT, help='class-0 images kept out of stage 1 for validation (0: the first protocol)')
    p.add_argument('--compile', action='store_true', help='train stage 1 through torch.compile (pays on GPUs)')
    p.add_argument('--md-only', action='store_true')
    p.add_argument('--park', action='store_true', help='only park unfinished stage 1s in bench/parked/ (commit it) for the next session')
    a = p.parse_args()
    if a.park:
        print('\n'.join(park(RUNS, PARKED, {r['run'] for r in _results()['rows']})) or 'nothing to park')
        with _locked(): _write_md(_results())   # the table says how far each parked run got
        return
    if not a.md_only:
        device = get_device(a.device)
        log = lambda s: print(time.strftime('%H:%M:%S'), s, flush=True)
        for recipe in a.recipes:
            for imb in a.imb:
                for seed in a.seeds:
                    rows = run_one(recipe, imb, seed, a.epochs, device, log, a.compile, a.holdout)
                    for r in rows: r['device'] = device_name(device)
                    _add_rows(rows, run_record(dict(script='bench/reproduce.py', args=vars(a)), device=device))
                    for name in {r['run'] for r in rows}: shutil.rmtree(PARKED/name, ignore_errors=True)   # no longer needed
    with _locked(): print(_write_md(_results()))

def _results() -> dict: return load_json(RESULTS) if RESULTS.exists() else dict(rows=[])

@contextlib.contextmanager
def _locked(path:Path|None=None, # the lock file (None: the results file's, RUNS/results.lock)
            wait:bool=True, # wait for the lock (False: refuse at once when another process holds it)
           ):
    "Hold `path`'s lock: by default for one read-modify-write of the results, so runs in parallel processes all land in them."
    path = path or RUNS/'results.lock'
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, 'w') as lock:
        try: fcntl.flock(lock, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise LDMLRError(f"{path.parent} is being run by another process: give each parallel process its own seeds, recipes or IFs") from None
        yield

def _add_rows(rows:list, record:dict):
    "Put one run's rows, and the record of the process that made them, in the results (replacing earlier ones of that run); rewrite the table."
    with _locked():
        res, done = _results(), {r['run'] for r in rows}
        res['rows'] = [r for r in res['rows'] if r['run'] not in done] + rows
        res['records'] = res.get('records', {}) | {name: record for name in done}
        save_json(res, RESULTS)
        _write_md(res)

def _write_md(res:dict) -> str:
    text = md(res, PARKED)
    (OUT/'reproduce.md').write_text(text)
    return text

if __name__ == '__main__':
    main()
