"""Stages 2 and 3 on a CPU: diffusion training time, sampling throughput, head fine-tuning time, DDIM 50 vs 1000 steps, MLP vs 1-D U-Net.

Uses the CIFAR-10-LT IF=100 features of the paper's CE checkpoint and the diffusion models cached by bench/reproduce_ckpt.py
(run that first; its seed-0 split, model and stage-3 settings are reused here), and measures stage 1 for comparison.

  python bench/stage23.py [--budget 600] [--threads 1]
  python bench/stage23.py --md-only
Writes bench/results/stage23.json and bench/results/stage23.md; caches the budget-trained denoisers under bench/runs/stage23/."""
import argparse, os, sys, time
from pathlib import Path

import torch
sys.path.insert(0, str(Path(__file__).parent))
from _ckpt_features import features, unseen_val
import reproduce_ckpt as R
from ldmlr.core import save_json, load_json, run_record, flush_denormals
from ldmlr.data import load_cifar10_lt_folder, shared_data, TensorLoader
from ldmlr.diffusion import train_diffusion_fs, save_diffusion, load_diffusion, ddim_sample, time_denoiser
from ldmlr.stage3 import split_val, init_head, run_methods, ClassGaussian
from ldmlr.evaluate import md_table

OUT, RUN = Path(__file__).parent/'results', Path(__file__).parent/'runs'/'stage23'
# the accuracy probe: pseudo-features for every class at ratio 0.2, guidance -0.5, class-balanced head training; on IF=100 seed 0 it
# moves test accuracy well above real-only cRT (about 76), so it is sensitive to what the generator produces, and it is cheap to sample
PROBE = dict(name='LDMLR probe', generator='diffusion', ratio=0.2, groups=R.ALL, guidance=-0.5, balanced=True)
METHOD = 'ratio 0.2, guidance -0.5, class-balanced'

def timed(f):
    t0 = time.perf_counter(); r = f(); return r, time.perf_counter() - t0

def stage1_time(batches=40, bs=64):
    "ResNet-32 training throughput as stage 1 trains it (bench/stage1.py's loop: bf16 autocast, channels-last, batched crop + flip, SGD; the CE recipe's batch 64), extrapolated to 200 epochs on 12,406 images."
    import stage1 as S1
    train = load_cifar10_lt_folder(shared_data()/'cifar10', 100)
    flush_denormals(torch.device('cpu'))
    r = S1.run(TensorLoader(train, bs, shuffle=True, augment=True, device='cpu', drop_last=True), torch.device('cpu'), float('inf'), batches)
    ips = r['images_per_s']
    return dict(images_per_s=ips, batches=r['batches'], bs=bs, epoch_s=len(train) / ips, train_200_epochs_h=200 * len(train) / ips / 3600)

def sampling_rate(dm, n=2048, steps=50, eta=0.):
    "Pseudo-features per second of DDIM sampling."
    labels = torch.arange(n) % dm.n_classes
    _, t = timed(lambda: ddim_sample(dm, labels, steps=steps, eta=eta, seed=0))
    return dict(n=n, steps=steps, eta=eta, seconds=t, per_s=n / t)

def probe(dm, tr, va, test, head, seed=0, **pk):
    "Test accuracy of the METHOD with pseudo-features from `dm` (sampling settings `pk`), and the time to draw them."
    m = dict(PROBE, **pk)
    t0 = time.time()
    row = run_methods([m], tr, va, test, head, dict(diffusion=dm), seed=seed, pseudo_kw=R.SAMPLING, progress=False, **R.HEAD)[0]
    return dict(acc=row['acc'], sel_acc=row['sel_acc'], many=row['many'], medium=row['medium'], n_pseudo=row['n_pseudo'],
                total_s=time.time() - t0, head_s=row['time_s'])

def main(budget, threads, log):
    torch.set_num_threads(threads)
    res = dict(threads=threads, cpu_count=os.cpu_count(), load_average_start=os.getloadavg())
    full, test, head_sd = features(100)
    tr, _ = split_val(full, R.VAL_PER_CLASS, seed=0)   # the reproduction's seed-0 training features (its cached model's)
    va = unseen_val(100)
    head = init_head('linear', 64, 10, warm=head_sd)
    dm = R.diffusion_for(100, 0, tr, log)

    log('stage 1 reference'); res['stage1'] = stage1_time()
    f = OUT/'stage1.json'
    if f.exists(): res['stage1_bench'] = dict(images_per_s=load_json(f)['pipelines']['tensorloader']['train']['images_per_s'], note='bench/results/stage1.json (bf16 autocast, 2 threads)')

    log('diffusion training times (reproduction models)')
    rep = {imb: load_json(OUT/f'ckpt_if{imb}.json') for imb in (100, 10) if (OUT/f'ckpt_if{imb}.json').exists()}
    res['diffusion_train'] = [dict(imb=imb, seed=t['seed'], seconds=t['diffusion_train_s'], n_features=len(tr) if imb == 100 else None)
                              for imb, r in rep.items() for t in r['timing'] if t['diffusion_train_s']]
    res['diffusion_config'] = dict(R.DIFFUSION, steps_per_epoch=-(-len(tr) // R.DIFFUSION['bs']))
    res['denoiser_steps'] = [time_denoiser('mlp', 64, 10, bs=256, n_samples=512, reps=5, width=256, depth=4),
                             time_denoiser('mlp', 64, 10, bs=256, n_samples=512, reps=5, width=512, depth=4),
                             time_denoiser('unet1d', 64, 10, bs=256, n_samples=512, reps=3)]

    log('sampling throughput')
    res['sampling'] = [sampling_rate(dm, 2048, 50), sampling_rate(dm, 2048, 50, eta=1.), sampling_rate(dm, 256, 1000, eta=1.)]
    labels = torch.arange(2048) % 10
    _, t = timed(lambda: ddim_sample(dm, labels, steps=50, guidance=-0.5, seed=0))
    res['sampling'].append(dict(n=2048, steps=50, eta=0., guidance=-0.5, seconds=t, per_s=2048 / t))

    log('head fine-tuning times (reproduction rows)')
    if 100 in rep:
        by = {}
        for r in rep[100]['rows']: by.setdefault(r['method'], []).append(r)
        res['head'] = [dict(method=m, n_features=rs[0]['n_real'] + rs[0]['n_pseudo'], seconds=sum(r['time_s'] for r in rs) / len(rs),
                            balanced=rs[0]['balanced'])
                       for m, rs in by.items() if rs[0].get('sel_epoch') is not None]

    log('DDIM 50 steps vs 1000 steps (eta 0 and eta 1 = ancestral DDPM)')
    res['steps'] = []
    for steps, eta in ((50, 0.), (1000, 0.), (1000, 1.)):
        res['steps'].append(dict(steps=steps, eta=eta, **probe(dm, tr, va, test, head, steps=steps, eta=eta)))
        log(f"  {res['steps'][-1]}")

    log(f'MLP vs 1-D U-Net at the same training budget ({budget} s)')
    res['denoisers'] = []
    for name, kw in (('mlp', dict(width=256, depth=4)), ('unet1d', dict(ch=32, mults=(1, 2, 4)))):
        step = time_denoiser(name, 64, 10, bs=256, n_samples=64, reps=3, **kw)['train_step_s']
        epochs = max(1, int(budget / (step * -(-len(tr) // 256))))
        path = RUN/f'{name}-{epochs}ep.pt'
        if path.exists(): m = load_diffusion(path)
        else:
            m = train_diffusion_fs(tr, denoiser=name, epochs=epochs, bs=256, lr=1e-3, seed=0, device='cpu', progress=False, **kw)
            save_diffusion(m, path)
        p = probe(m, tr, va, test, head)
        res['denoisers'].append(dict(denoiser=name, **{k: list(v) if isinstance(v, tuple) else v for k, v in kw.items()},
                                     params=sum(x.numel() for x in m.parameters()), step_s=step, epochs=epochs,
                                     train_s=m.history.get('time_s'), final_loss=m.history['loss'][-1], **p))
        log(f"  {res['denoisers'][-1]}")
    res['load_average_end'] = os.getloadavg()
    res['record'] = run_record(dict(script='bench/stage23.py', budget=budget, method=METHOD), device='cpu')
    save_json(res, OUT/'stage23.json')
    return res

def md(res) -> str:
    s1 = res['stage1']
    dt = res['diffusion_train']
    d100 = [d['seconds'] for d in dt if d['imb'] == 100]
    head = res.get('head', [])
    real = next((h for h in head if h['method'] == 'real only'), None)
    fill = next((h for h in head if h['method'] == R.fill('diffusion', 0.)['name']), None)
    samp = res['sampling']
    lines = [f"""### Stages 2 and 3 on a CPU (CIFAR-10-LT IF=100 features of the paper's CE checkpoint)
Machine: {res['record']['device_name']}, torch threads {res['threads']} (of {res['cpu_count']} cores; load average
{res['load_average_start'][0]:.1f} at the start, {res['load_average_end'][0]:.1f} at the end). Command: `python bench/stage23.py --budget {res['record']['config']['budget']:g} --threads {res['threads']}`.

| what | time |
|---|---|
| stage 1 (measured here): ResNet-32 training, bf16 + channels-last, batch {s1['bs']} | {s1['images_per_s']:.0f} images/s = {s1['epoch_s']/60:.1f} min/epoch; 200 epochs = **{s1['train_200_epochs_h']:.1f} h** |"""]
    if 'stage1_bench' in res:
        ips = res['stage1_bench']['images_per_s']
        lines.append(f"| stage 1 (`bench/results/stage1.json` as it was when this ran, bf16 autocast) | {ips:.0f} images/s; 200 epochs = {200*12406/ips/3600:.1f} h |")
    f = OUT/'stage1_cifar10.json'
    if f.exists():
        for name, r in load_json(f).get('rows', {}).items():
            if r.get('train_s') and r.get('epochs'):
                lines.append(f"| stage 1 (`bench/results/stage1_cifar10.json`, run `{name}`: {r['epochs']} real epochs, {r.get('device', '?')}) | "
                             f"{r['train_s']/r['epochs']:.0f} s/epoch; 200 epochs = {200*r['train_s']/r['epochs']/3600:.1f} h |")
    c = res['diffusion_config']
    mlp = next((d for d in res.get('denoisers', []) if d['denoiser'] == 'mlp' and d.get('train_s')), None)
    t_diff = mlp['train_s'] / mlp['epochs'] * c['epochs'] if mlp else (max(d100) if d100 else None)
    if mlp:
        lines.append(f"| stage 2: diffusion training, MLP {c['width']}x{c['depth']}, {c['epochs']} epochs x {c['steps_per_epoch']} steps "
                     f"(measured here: {mlp['epochs']} epochs took {mlp['train_s']/60:.1f} min) | **{t_diff/60:.1f} min** |")
    if d100:
        lines.append(f"| stage 2: the same, as recorded when the bench/reproduce_ckpt.py models were trained (IF=100; other jobs shared the CPU) | "
                     f"{min(d100)/60:.1f}-{max(d100)/60:.1f} min per model ({len(d100)} models) |")
    lines.append(f"| stage 2: DDIM sampling, 50 steps, eta 0 | **{samp[0]['per_s']:,.0f} pseudo-features/s** |")
    lines.append(f"| stage 2: DDIM sampling, 50 steps, eta 1 | {samp[1]['per_s']:,.0f} pseudo-features/s |")
    lines.append(f"| stage 2: ancestral sampling, 1000 steps | {samp[2]['per_s']:,.1f} pseudo-features/s |")
    if len(samp) > 3: lines.append(f"| stage 2: DDIM 50 steps with guidance (two denoiser passes per step) | {samp[3]['per_s']:,.0f} pseudo-features/s |")
    if real: lines.append(f"| stage 3: head fine-tuning, 100 epochs, {real['n_features']:,} real features | **{real['seconds']:.1f} s** |")
    if fill: lines.append(f"| stage 3: head fine-tuning, 100 epochs, {fill['n_features']:,} real + pseudo features | {fill['seconds']:.1f} s |")
    if t_diff and fill:
        s2 = t_diff + fill['n_features'] / samp[0]['per_s'] + fill['seconds']
        lines.append(f"\nStages 2 + 3 together (diffusion training as measured here + sampling the fill + fine-tuning): about {s2/60:.1f} min, "
                     f"{100 * s2 / (s1['train_200_epochs_h'] * 3600):.1f}% of stage 1's 200 epochs as measured here "
                     f"({s1['batches']} timed batches, extrapolated; evaluation passes not counted).")
    lines.append(f"\n**Sampling steps** (accuracy probe: LDMLR with {METHOD}, seed 0; real-only cRT gives about 76):\n")
    lines.append(md_table([dict(sampler=('DDIM' if r['eta'] == 0 else 'ancestral (eta 1)'), steps=r['steps'], n_pseudo=r['n_pseudo'],
                                sample_s=r['total_s'] - r['head_s'], acc=r['acc'], sel_acc=r['sel_acc'], medium=r['medium']) for r in res['steps']],
                          headers=dict(sample_s='sampling s', acc='final', sel_acc='val-sel')))
    lines.append(f"\n**Denoisers at the same training budget** (each trained for about the same wall time; same probe):\n")
    lines.append(md_table([dict(denoiser=d['denoiser'], params=f"{d['params']/1e6:.2f} M", step_ms=1000 * d['step_s'], epochs=d['epochs'],
                                train_min=(d['train_s'] or 0) / 60, final_loss=d['final_loss'], sample_s=d['total_s'] - d['head_s'],
                                acc=d['acc'], sel_acc=d['sel_acc']) for d in res['denoisers']],
                          headers=dict(step_ms='ms / step (bs 256)', train_min='training min', sample_s='sampling s', acc='final', sel_acc='val-sel'),
                          digits=3))
    return '\n'.join(lines) + '\n'

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--budget', type=float, default=600, help='training seconds for each denoiser in the MLP vs U-Net comparison')
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--md-only', action='store_true')
    a = p.parse_args()
    log = lambda s: print(time.strftime('%H:%M:%S'), s, flush=True)
    res = load_json(OUT/'stage23.json') if a.md_only else main(a.budget, a.threads, log)
    m = md(res); (OUT/'stage23.md').write_text(m); print(m)
