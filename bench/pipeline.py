"""End-to-end benchmark of a preset: `run_pipeline` for several seeds, test accuracy by shot group (mean +- std) and stage times.

  python bench/pipeline.py [--preset fmnist-lt] [--seeds 0 1 2] [--runs bench/runs]
  python bench/pipeline.py --md-only          # rewrite the table from its JSON
Writes bench/results/pipeline_<preset>.json and .md. Runs resume: re-running skips finished stages."""
import argparse, re, time
from pathlib import Path
import numpy as np
from ldmlr.core import save_json, load_json, run_record
from ldmlr.pipeline import preset, run_pipeline

ROWS = ('before', 'after', 'after (val-selected)')
COLS = ('acc', 'many', 'medium', 'few')

def main(name, seeds, runs, out):
    per_seed, stage_times = [], []
    for s in seeds:
        msgs, t0 = [], time.time()
        run_pipeline(preset(name, seed=s), runs/f'{name}-seed{s}', progress=False, log=lambda m: (print(m), msgs.append(m)))
        times = {m.split(':')[0]: float(re.search(r'finished in ([\d.]+)s', m).group(1)) for m in msgs if 'finished in' in m}
        stage_times.append(times | {'total': time.time() - t0})
        per_seed.append(load_json(runs/f'{name}-seed{s}'/'metrics.json')['results'])
    res = dict(preset=name, seeds=seeds, per_seed=per_seed, stage_times=stage_times, record=run_record(preset(name).to_dict()))
    save_json(res, out/f'pipeline_{name}.json')
    text = markdown(res)
    (out/f'pipeline_{name}.md').write_text(text)
    print(text)

def markdown(res:dict) -> str:
    "The table of a `pipeline_<preset>.json`: mean ± sample std over seeds, and each seed's stage times."
    name, seeds, per_seed = res['preset'], res['seeds'], res['per_seed']
    stats = {r: {c: [p[r][c] for p in per_seed if p[r].get(c) is not None] for c in COLS} for r in ROWS}
    fmt = lambda v: f"{np.mean(v):.2f}" + (f" ± {np.std(v, ddof=1):.2f}" if len(v) > 1 else '') if v else '-'
    lines = [f"| {'stage-1 head (before)' if r == 'before' else 'LDMLR head, ' + ('final epoch' if r == 'after' else 'validation-selected epoch')} | "
             + ' | '.join(fmt(stats[r][c]) for c in COLS) + ' |' for r in ROWS]
    gain = {c: [p['after'][c] - p['before'][c] for p in per_seed if p['after'].get(c) is not None and p['before'].get(c) is not None] for c in COLS}
    lines.append('| change (final − before) | ' + ' | '.join(fmt(gain[c]) for c in COLS) + ' |')
    fresh = [t for t in res['stage_times'] if 'stage1' in t]   # seeds that ran every stage in that invocation
    each = lambda k: ', '.join(f"{t[k]:.0f}" for t in fresh)
    timing = (f"Wall time of each run, by seed: {each('total')} s (stage 1 {each('stage1')} s; diffusion {each('diffusion')} s; "
              f"head {each('stage3')} s), one after another on a shared machine."
              if fresh else "All runs were resumed from finished run directories; no stage times measured in that invocation.")
    return (f"### `{name}`: test accuracy (%) by shot group, {len(seeds)} seeds ({', '.join(map(str, seeds))}), mean ± sample std\n"
            f"Device: {res['record']['device_name']}. Command: `python bench/pipeline.py --preset {name} --seeds {' '.join(map(str, seeds))}`. {timing}\n\n"
            "| head | overall | many | medium | few |\n|---|---|---|---|---|\n" + '\n'.join(lines) + '\n')

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--preset', default='fmnist-lt')
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--runs', type=Path, default=Path(__file__).parent/'runs')
    p.add_argument('--out', type=Path, default=Path(__file__).parent/'results')
    p.add_argument('--md-only', action='store_true', help='only rewrite the table from its JSON')
    a = p.parse_args()
    if a.md_only: (a.out/f'pipeline_{a.preset}.md').write_text(markdown(load_json(a.out/f'pipeline_{a.preset}.json')))
    else: main(a.preset, a.seeds, a.runs, a.out)
