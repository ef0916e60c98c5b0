"""Stages 2 + 3 on the paper's released CIFAR-10-LT stage-1 checkpoints (ResNet-32, CE), with the controls, over seeds.

For each imbalance factor (100, 10) and seed: encode train and test with the checkpoint (cached), train the feature diffusion model
on the training features (cached), fit the per-class Gaussian on the same features, then fine-tune the warm-started head
(Adam lr 1e-3, batch 1024, 100 epochs, weight decay 1e-5, cross-entropy) for every method.
Nothing is selected on the test set. Selection (the guidance weight, and the val-sel epoch) uses a clean validation set: training
images of the *other* released split that this checkpoint never saw (`_ckpt_features.unseen_val`), scored by mean per-class accuracy.

  python bench/reproduce_ckpt.py                    # IF=100 and IF=10, seeds 0 1 2, then the ablations (IF=100)
  python bench/reproduce_ckpt.py --imb 100 --seeds 0 --no-ablations
  python bench/reproduce_ckpt.py --md-only          # rewrite the .md tables from the .json files
Writes bench/results/ckpt_if100.{json,md}, ckpt_if10.{json,md}, ckpt_ablations.{json,md}; caches under bench/runs/ckpt/."""
import argparse, hashlib, json, sys, time
from pathlib import Path

import numpy as np
import torch
sys.path.insert(0, str(Path(__file__).parent))
from _ckpt_features import features, unseen_val, RUN, ckpt_path
from ldmlr.core import save_json, load_json, run_record
from ldmlr.data import SHOT_GROUPS, shot_groups, FeatureSet
from ldmlr.diffusion import train_diffusion_fs, save_diffusion, load_diffusion
from ldmlr.stage3 import (split_val, init_head, ClassGaussian, run_methods, ratio_sweep, group_sweep, generate_pseudo_features,
                          GROUP_CHOICES)
from ldmlr.evaluate import md_table, mean_std_rows, pm_rows, feature_quality

OUT = Path(__file__).parent/'results'
VAL_PER_CLASS = 5
HEAD = dict(epochs=100, lr=1e-3, bs=1024, wd=1e-5, loss='ce')          # the paper's stage-3 settings (and the lead's controls)
DIFFUSION = dict(denoiser='mlp', width=256, depth=4, target='v', schedule='cosine', T=1000, epochs=200, bs=256, lr=1e-3,
                 p_uncond=0.1, ema_decay=0.999)
SAMPLING = dict(steps=50, eta=0., guidance=0.)
ALL = SHOT_GROUPS

GUIDANCES = (0., -0.25, -0.5, -0.75, -0.9)   # guidance < 0 blends each class with the marginal of all features (see ClassGaussian.params)
CHOSEN = '{}, fill, guidance chosen on validation'

def fill(gen, w): return dict(name=f"{'LDMLR' if gen == 'diffusion' else 'Gaussian'}, fill, guidance {w:g}", generator=gen, fill_to='max', groups=ALL, guidance=w)

METHODS = [
    dict(name='stage-1 head (no fine-tuning)', generator=None, epochs=0),
    dict(name='real only', generator=None),
    dict(name='real only, class-balanced (cRT)', generator=None, balanced=True),
    dict(name='Gaussian, ratio 0.2', generator='gaussian', ratio=0.2, groups=ALL),
    dict(name='LDMLR, ratio 0.2 (paper)', generator='diffusion', ratio=0.2, groups=ALL),
    dict(name='Gaussian, fill, class-balanced', generator='gaussian', fill_to='max', groups=ALL, balanced=True),
    dict(name='LDMLR, fill, class-balanced', generator='diffusion', fill_to='max', groups=ALL, balanced=True),
] + [fill(g, w) for g in ('gaussian', 'diffusion') for w in GUIDANCES]

def paired_diffs(rows:list, a:str, b:str) -> np.ndarray:
    "Per-seed accuracy of method `a` minus method `b`, over the seeds that have both."
    acc = lambda m: {r['seed']: r['acc'] for r in rows if r['method'] == m}
    A, B = acc(a), acc(b)
    return np.array([A[k] - B[k] for k in sorted(A) if k in B])

def choose_on_validation(rows:list) -> list:
    "Per seed and generator, the fill row whose final head scores best on the validation set, renamed `CHOSEN` (with `chosen_guidance`)."
    out = []
    for seed in sorted({r['seed'] for r in rows}):
        for gen, label in (('diffusion', 'LDMLR'), ('gaussian', 'Gaussian')):
            cands = [r for r in rows if r['seed'] == seed and r['method'] in {fill(gen, w)['name'] for w in GUIDANCES}]
            best = max(cands, key=lambda r: (r['val_acc'], -abs(r['guidance'])))
            out.append(dict(best, method=CHOSEN.format(label), chosen_guidance=best['guidance']))
    return out

PAPER = {100: dict(ce=72.46, ldmlr=76.26, ls=80.88, ls_ldmlr=82.77), 10: dict(ce=88.22, ldmlr=89.13, ls=89.46, ls_ldmlr=89.70)}
COLS = ['acc', 'many', 'medium', 'few', 'sel_acc', 'sel_many', 'sel_medium', 'sel_few', 'ls_acc']

def tag(d:dict) -> str: return hashlib.sha1(json.dumps(d, sort_keys=True).encode()).hexdigest()[:8]

def diffusion_for(imb, seed, tr, log):
    "The diffusion model of (imb, seed), trained on the validation-free training features; cached by settings."
    path = RUN/f'if{imb}'/f'seed{seed}'/f'diffusion-{tag(dict(DIFFUSION, val=VAL_PER_CLASS))}.pt'
    if path.exists(): return load_diffusion(path, features=tr)
    t0 = time.time()
    dm = train_diffusion_fs(tr, seed=seed, device='cpu', progress=False,
                            on_epoch_end=lambda e, l: log(f'  diffusion IF={imb} seed {seed}: epoch {e} loss {l:.4f} ({time.time()-t0:.0f}s)') if e % 25 == 0 else None,
                            **DIFFUSION)
    save_diffusion(dm, path)
    return dm

class DiskCache:
    "Pseudo-features drawn by `run_methods`, kept as safetensors under the seed's run folder (so repeats skip the sampling)."
    def __init__(self, folder, model_tag): self.folder, self.model_tag, self.mem = Path(folder), model_tag, {}
    def _file(self, key): return self.folder/f"pseudo-{tag(dict(key=[str(k) for k in key], model=self.model_tag))}.safetensors"
    def __contains__(self, key): return key in self.mem or self._file(key).exists()
    def __getitem__(self, key):
        if key not in self.mem: self.mem[key] = FeatureSet.load(self._file(key))
        return self.mem[key]
    def __setitem__(self, key, fs): fs.save(self._file(key)); self.mem[key] = fs

def cache_for(imb, seed): return DiskCache(RUN/f'if{imb}'/f'seed{seed}', tag(dict(DIFFUSION, val=VAL_PER_CLASS)))

def run_imb(imb, seeds, log):
    full, test, head_sd = features(imb)
    va = unseen_val(imb)
    rows, timing, quality = [], [], None
    for seed in seeds:
        tr, _ = split_val(full, VAL_PER_CLASS, seed=seed)   # the 5 held-out features a class are unused (kept so cached models stay valid)
        t0 = time.time(); dm = diffusion_for(imb, seed, tr, log); t_load = time.time() - t0
        gens = dict(diffusion=dm, gaussian=ClassGaussian.fit(tr))
        head = init_head('linear', full.feat_dim, full.n_classes, warm=head_sd)
        t0 = time.time()
        r = run_methods(METHODS, tr, va, test, head, gens, seed=seed, pseudo_kw=SAMPLING, progress=False, label_shift=True,
                        cache=cache_for(imb, seed), **HEAD)
        r += choose_on_validation(r)
        rows += r
        timing.append(dict(seed=seed, diffusion_train_s=dm.history.get('time_s'), methods_s=time.time() - t0))
        log(f'IF={imb} seed {seed}: ' + ', '.join(f"{x['method']} {x['acc']:.2f}" for x in r))
        if quality is None:   # generated-feature quality of the first seed, diffusion vs Gaussian, ratio 0.2
            q = {name: feature_quality(tr, generate_pseudo_features(g, tr.train_counts, 0.2, ALL, seed=seed, **(SAMPLING if name == 'diffusion' else {})),
                                       reference=test) for name, g in gens.items()}
            quality = dict(seed=seed, ratio=0.2, rows=q)
    summary = mean_std_rows(rows, by='method', cols=COLS + ['val_acc', 'sel_epoch', 'n_pseudo', 'time_s'])
    res = dict(imb=imb, checkpoint=str(ckpt_path(imb)), train_counts=full.train_counts, seeds=list(seeds), val_per_class=VAL_PER_CLASS,
               val=dict(source=va.source, n=len(va), per_class=torch.bincount(va.labels, minlength=va.n_classes).tolist()),
               guidances=list(GUIDANCES), head=HEAD, diffusion=DIFFUSION,
               sampling=SAMPLING, methods=METHODS, paper=PAPER[imb], rows=rows, summary=summary, quality=quality, timing=timing,
               record=run_record(dict(script='bench/reproduce_ckpt.py'), device='cpu'))
    save_json(res, OUT/f'ckpt_if{imb}.json')
    return res

def md_imb(res) -> str:
    imb, p = res['imb'], res['paper']
    tab = pm_rows(res['summary'], COLS[:5] + ['ls_acc'], keep=['method', 'n', 'n_pseudo_mean'])
    for t, s in zip(tab, res['summary']): t['n_pseudo'] = int(round(s['n_pseudo_mean'])); t.pop('n_pseudo_mean')
    by_name = {s['method']: s for s in res['summary']}
    chosen, chosen_g = by_name[CHOSEN.format('LDMLR')], by_name[CHOSEN.format('Gaussian')]
    ws = lambda gen: ', '.join(f"seed {r['seed']}: {r['chosen_guidance']:g}" for r in res['rows'] if r['method'] == CHOSEN.format(gen))
    target = p['ldmlr']
    diff_times = [t['diffusion_train_s'] for t in res['timing'] if t['diffusion_train_s']]
    pairs = []   # each LDMLR variant against the Gaussian with the same counts, sampling and guidance: per-seed paired differences
    for m in METHODS + [dict(name=CHOSEN.format('LDMLR'), generator='diffusion', chosen=True)]:
        if m.get('generator') != 'diffusion': continue
        g = dict(name=CHOSEN.format('Gaussian')) if m.get('chosen') else next(
            x for x in METHODS if x.get('generator') == 'gaussian' and all(x.get(k) == m.get(k) for k in ('ratio', 'fill_to', 'balanced', 'guidance')))
        pm = lambda d: f"{d.mean():+.2f} ± {d.std(ddof=1) if len(d) > 1 else 0.:.2f}"
        pairs.append({'LDMLR variant': m['name'], 'LDMLR': by_name[m['name']]['acc_mean'], 'Gaussian (same counts, guidance)': by_name[g['name']]['acc_mean'],
                      'LDMLR - Gaussian': pm(paired_diffs(res['rows'], m['name'], g['name'])),
                      'LDMLR - cRT': pm(paired_diffs(res['rows'], m['name'], METHODS[2]['name']))})
    ls_real = next(s for s in res['summary'] if s['method'] == 'real only')
    ls_s1 = next(s for s in res['summary'] if s['method'] == METHODS[0]['name'])
    ls_crt = next(s for s in res['summary'] if s['method'] == METHODS[2]['name'])
    verdict = f"""**LDMLR against its controls** (final epoch, mean over seeds; differences are per-seed paired, mean ± std):

{md_table(pairs)}

**LDMLR without test-set selection** (guidance chosen per seed on the validation set, final epoch): {chosen['acc_mean']:.2f} ± {chosen['acc_std']:.2f}
(val-sel epoch: {chosen['sel_acc_mean']:.2f} ± {chosen['sel_acc_std']:.2f}); chosen guidance {ws('LDMLR')}.
Target {target} (the paper's CE + LDMLR, test-selected): **{'met' if chosen['acc_mean'] >= target - 0.005 else 'not met'}**.
The Gaussian control chosen the same way: {chosen_g['acc_mean']:.2f} ± {chosen_g['acc_std']:.2f} (guidance {ws('Gaussian')}); cRT: {by_name[METHODS[2]['name']]['acc_mean']:.2f} ± {by_name[METHODS[2]['name']]['acc_std']:.2f}.
The paper's own setting (*{METHODS[4]['name']}*) gives {by_name[METHODS[4]['name']]['acc_mean']:.2f} ± {by_name[METHODS[4]['name']]['acc_std']:.2f}.
Post-hoc label-shift compensation with no generator at all (the `final + label shift` column): stage-1 head {ls_s1['ls_acc_mean']:.2f},
real-only head {ls_real['ls_acc_mean']:.2f} ± {ls_real['ls_acc_std']:.2f}, cRT head {ls_crt['ls_acc_mean']:.2f} ± {ls_crt['ls_acc_std']:.2f}.
(After filling every class to the head count the training prior is uniform, so label shift changes nothing in those rows.)"""
    return f"""### CIFAR-10-LT IF={imb}: stage 3 on the paper's CE baseline checkpoint
Checkpoint `{Path(res['checkpoint']).name}` (ResNet-32, CE + mixup, from the LDMLR release). Seeds {res['seeds']} (mean ± sample std);
each seed has its own diffusion model, pseudo-features and batch order (trained on the training features less {res['val_per_class']} per class,
held out when the cached models were made and unused since). Head: warm-started from stage 1, Adam lr
{res['head']['lr']:g}, batch {res['head']['bs']}, {res['head']['epochs']} epochs, weight decay {res['head']['wd']:g}, cross-entropy.
Diffusion: {res['diffusion']['denoiser'].upper()} denoiser (width {res['diffusion']['width']}, depth {res['diffusion']['depth']}),
{res['diffusion']['epochs']} epochs, DDIM {res['sampling']['steps']} steps, eta {res['sampling']['eta']:g}
(training {min(diff_times)/60 if diff_times else float('nan'):.0f}-{max(diff_times)/60 if diff_times else float('nan'):.0f} min per model on the CPU).
Ratio 0.2 = `max(round(0.2 n_c), 5)` pseudo-features for every class (the paper's default); fill = top every class up to the largest class's count;
guidance w < 0 blends each class with the marginal of all features (grid {', '.join(f'{w:g}' for w in res['guidances'])}).
**Validation set**: {res['val']['n']} images of `{res['val']['source']}`, i.e. training images of the other released split that this
checkpoint never saw, encoded by it (per class: {res['val']['per_class']}; airplane's 5,000 images are in both splits, so it has none).
Score: mean per-class accuracy. It picks the guidance weight per seed (the *chosen on validation* rows) and the **val-sel** epoch;
**final** = the last epoch. Mean validation accuracy of the final heads: {sum(r['val_acc'] for r in res['rows'] if r.get('val_acc') is not None) / max(1, sum(r.get('val_acc') is not None for r in res['rows'])):.1f}%.
Test-set accuracy, %; no per-run test-set selection.
Shot groups by training count: {', '.join(f'{g} {len(ix)} classes' for g, ix in shot_groups(res['train_counts']).items())} (smallest class: {min(res['train_counts'])} images); an empty group shows '-'.
Command: `python bench/reproduce_ckpt.py --imb {imb}`.

{md_table(tab, ['method', 'n_pseudo', 'acc', 'many', 'medium', 'few', 'sel_acc', 'ls_acc'],
          headers=dict(acc='final', sel_acc='val-sel', ls_acc='final + label shift', n_pseudo='pseudo-features'))}

Paper (best epoch selected on the test set): CE {p['ce']}, CE + LDMLR {p['ldmlr']}; label shift {p['ls']}, label shift + LDMLR {p['ls_ldmlr']}.

{verdict}
"""

ABL_COLS = ['acc', 'many', 'medium', 'sel_acc', 'n_pseudo']

def run_ablations(seeds, log):
    "IF=100, diffusion vs Gaussian: augmentation ratio and shot groups (plain and class-balanced sampling), guidance (fill)."
    full, test, head_sd = features(100)
    rows = dict(ratio=[], ratio_cb=[], groups=[], groups_cb=[], guidance=[])
    va = unseen_val(100)
    for seed in seeds:
        tr, _ = split_val(full, VAL_PER_CLASS, seed=seed)
        gens = dict(diffusion=diffusion_for(100, seed, tr, log), gaussian=ClassGaussian.fit(tr))
        head = init_head('linear', full.feat_dim, full.n_classes, warm=head_sd)
        kw = dict(seed=seed, pseudo_kw=SAMPLING, progress=False, cache=cache_for(100, seed), **HEAD)
        for bal in (False, True):
            sfx = '_cb' if bal else ''
            rows['ratio' + sfx] += ratio_sweep([0.1, 0.2, 0.5, 1.0, 2.0], tr, va, test, head, gens, groups=ALL, balanced=bal, **kw)
            rows['groups' + sfx] += group_sweep(tr, va, test, head, gens, choices=GROUP_CHOICES, ratio=1.0, balanced=bal, **kw)
        gm = [dict(name='real only', generator=None)]
        gm += [dict(name=f'{g} w={w:g}', generator=g, fill_to='max', groups=ALL, guidance=w)
               for g in gens for w in (0., -0.25, -0.5, -0.75, -0.9)]
        r = run_methods(gm, tr, va, test, head, gens, label_shift=True, **{**kw, 'pseudo_kw': {k: v for k, v in SAMPLING.items() if k != 'guidance'}})
        for x in r:
            if x['generator'] == '-': x['guidance'] = 'real'
        rows['guidance'] += r
        log(f'ablations seed {seed} done')
    titles = dict(ratio='augmentation ratio (pseudo-features for every class)', ratio_cb='augmentation ratio, class-balanced sampling',
                  groups='which shot groups get pseudo-features (ratio 1.0)', groups_cb='shot groups (ratio 1.0), class-balanced sampling',
                  guidance='guidance weight (fill every class to the head count)')
    out = {k: dict(title=f'IF=100: {titles[k]}', rows=v, summary=mean_std_rows(v, by='method', cols=ABL_COLS + (['ls_acc'] if k == 'guidance' else [])))
           for k, v in rows.items()}
    out['record'] = run_record(dict(script='bench/reproduce_ckpt.py --ablations-only', seeds=list(seeds)), device='cpu')
    save_json(out, OUT/'ckpt_ablations.json')
    return out

def md_ablations(ab) -> str:
    parts = ["### Ablations (CIFAR-10-LT IF=100, CE checkpoint)\nSame protocol as above; mean ± std over seeds "
             f"{sorted({r['seed'] for r in ab['ratio']['rows']})}. On CIFAR-10-LT IF=100 the shot groups by training count are many = 8 "
             "classes (> 100 images) and medium = ship (83) and truck (50); no class is few-shot, so choices that only name `few` draw nothing "
             "and are left out (as is `medium+few`, the same classes as `medium`). Command: `python bench/reproduce_ckpt.py --imb 100 --ablations-only`."]
    for key in ('ratio', 'ratio_cb', 'groups', 'groups_cb', 'guidance'):
        if key not in ab: continue
        a = ab[key]
        x = key.split('_')[0]
        tab = pm_rows(a['summary'], ['acc', 'many', 'medium', 'sel_acc'], keep=['generator', x])
        parts.append(f"**{a['title']}**\n\n" + md_table(tab, ['generator', x, 'acc', 'many', 'medium', 'sel_acc'],
                                                         headers=dict(acc='final', sel_acc='val-sel')))
    return '\n\n'.join(parts) + '\n'

def run_showcase(log, seed=0):
    "IF=100, one seed: per-class accuracy and confusion matrices of the stage-1 head and of LDMLR heads, and a subsample of real and generated features, for the plots in nbs/08_evaluate."
    from ldmlr.evaluate import head_logits, confusion_matrix, evaluate_head
    from ldmlr.stage3 import fit_evaluate, combine, train_head
    full, test, head_sd = features(100)
    tr, _ = split_val(full, VAL_PER_CLASS, seed=seed)
    va = unseen_val(100)
    gens = dict(diffusion=diffusion_for(100, seed, tr, log), gaussian=ClassGaussian.fit(tr))
    head = init_head('linear', full.feat_dim, full.n_classes, warm=head_sd)
    cache = cache_for(100, seed)
    out = dict(seed=seed, classes=full.classes, train_counts=full.train_counts, heads={})
    def record(name, h):
        lg = head_logits(h, test.feats)
        out['heads'][name] = dict(per_class=evaluate_head(h, test)['per_class'], confusion=confusion_matrix(lg, test.labels, 10).tolist())
    record('stage-1 head', head)
    pseudo = {}
    w = next(r['chosen_guidance'] for r in load_json(OUT/'ckpt_if100.json')['rows'] if r['method'] == CHOSEN.format('LDMLR') and r['seed'] == seed)
    for m in METHODS:
        if m['name'] not in ('real only, class-balanced (cRT)', fill('diffusion', 0.)['name'], fill('diffusion', w)['name']): continue
        r = run_methods([m], tr, va, test, head, gens, seed=seed, pseudo_kw=SAMPLING, progress=False, cache=cache, **HEAD)[0]
        # retrain the same head (deterministic given the seed) to keep it: run_methods returns rows only
        ps = None
        if m.get('generator'):
            from ldmlr.stage3 import pseudo_counts
            key = ('diffusion', tuple(pseudo_counts(tr.train_counts, 0.2, ALL, 5, 'max')), SAMPLING['steps'], SAMPLING['eta'], m.get('guidance', 0.), seed)
            ps = cache[key]; pseudo[m['name']] = ps
        fit = train_head(head, combine(tr, ps), va, seed=seed, progress=False, balanced=m.get('balanced', False), **HEAD)
        assert abs(evaluate_head(fit['final'], test)['acc'] - r['acc']) < 1e-6, 'showcase head differs from run_methods'
        record(m['name'], fit['final'])
        log(f"showcase {m['name']}: {r['acc']:.2f}")
    g = torch.Generator().manual_seed(seed)
    sub = lambda fs, k: fs.subset(torch.cat([torch.nonzero(fs.labels == c).flatten()[torch.randperm(int((fs.labels == c).sum()), generator=g)[:k]] for c in range(10)]))
    sub(tr, 100).save(OUT/'ckpt_showcase_real.safetensors')
    for name, ps in pseudo.items():
        sub(ps, 100).save(OUT/f"ckpt_showcase_gen_w{name.split()[-1]}.safetensors")
    save_json(out, OUT/'ckpt_showcase.json')

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--imb', type=int, nargs='+', default=[100, 10])
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--no-ablations', action='store_true')
    p.add_argument('--ablations-only', action='store_true')
    p.add_argument('--md-only', action='store_true')
    p.add_argument('--showcase', action='store_true', help='only write the per-class / confusion / feature-sample files for nbs/08_evaluate')
    p.add_argument('--threads', type=int, default=1, help='torch threads (the machine is shared)')
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    log = lambda s: print(time.strftime('%H:%M:%S'), s, flush=True)
    if a.showcase: return run_showcase(log)
    for imb in a.imb:
        if a.ablations_only: break
        res = load_json(OUT/f'ckpt_if{imb}.json') if a.md_only else run_imb(imb, a.seeds, log)
        md = md_imb(res); (OUT/f'ckpt_if{imb}.md').write_text(md); print(md)
    if not a.no_ablations and 100 in a.imb:
        ab = load_json(OUT/'ckpt_ablations.json') if a.md_only else run_ablations(a.seeds, log)
        md = md_ablations(ab); (OUT/'ckpt_ablations.md').write_text(md); print(md)

if __name__ == '__main__':
    main()
