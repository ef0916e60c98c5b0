"""bench/reproduce.py --park: a stage 1 stopped in one session, parked in the repo and restored on a fresh work tree in the next,
ends with the same weights as one never stopped; parked copies of finished runs are dropped."""
import shutil, sys

import pytest
import torch
from ldmlr.core import load_torch
from ldmlr.data import lt_counts, synthetic_imageset
from ldmlr.learner import CheckpointCB
from ldmlr.stage1 import train_baseline

from conftest import REPO
sys.path.insert(0, str(REPO/'bench'))
from reproduce import park, restore

COUNTS = lt_counts(60, 4, 10)
# two phases, as WCDAS's recipe has: the stop falls in the main phase
KW = dict(model='tinynet', width=4, epochs=4, bs=16, lr=0.05, warmup_epochs=1, mixup=0.4, head_epochs=2, head_lr=0.05,
          device='cpu', progress=False, seed=3)

class SessionEnd(Exception): "The session ends (its processes are killed) after a checkpoint was written."

def _train(run):
    net, _ = train_baseline(synthetic_imageset(COUNTS, seed=0), None, run, **KW)
    return net.state_dict()

def _stopped_after_epoch(epoch, run, monkeypatch):
    "Train `run` until its checkpoint of `epoch` is written, then end the session."
    save = CheckpointCB.after_epoch
    def stop(self, learn):
        save(self, learn)
        if learn.epoch == epoch: raise SessionEnd()
    monkeypatch.setattr(CheckpointCB, 'after_epoch', stop)
    with pytest.raises(SessionEnd): _train(run)
    monkeypatch.undo()

def test_parked_stage1_resumes_on_a_fresh_tree(tmp_path, monkeypatch):
    ref = _train(tmp_path/'ref'/'run-a')

    runs, parked = tmp_path/'session1'/'runs', tmp_path/'repo'/'parked'
    save = CheckpointCB.after_epoch
    _stopped_after_epoch(1, runs/'run-a', monkeypatch)

    # a finished run in the results has its old parked copy dropped and is not parked again
    (runs/'run-b'/'stage1').mkdir(parents=True); shutil.copy(runs/'run-a'/'stage1'/'checkpoint.pt', runs/'run-b'/'stage1')
    (parked/'run-b'/'stage1').mkdir(parents=True)
    said = park(runs, parked, finished={'run-b'})
    assert said == ['dropped run-b (finished)', 'parked run-a at epoch 2 of 4'], said
    assert sorted(p.name for p in parked.iterdir()) == ['run-a']
    assert not list(parked.rglob('*.png')) and (parked/'run-a'/'stage1'/'config.json').exists()

    # the next session: a fresh work tree (no runs/), the parked copy restored, training goes on from epoch 2
    fresh = tmp_path/'session2'/'runs'/'run-a'
    assert restore(fresh, parked) and load_torch(fresh/'stage1'/'checkpoint.pt')['epoch'] == 1
    assert not restore(fresh, parked)   # a run that has its stage 1 here is left alone
    epochs_run = []
    monkeypatch.setattr(CheckpointCB, 'after_epoch', lambda self, learn: (epochs_run.append(learn.epoch), save(self, learn)))
    resumed = _train(fresh)
    monkeypatch.undo()
    assert epochs_run == [2, 3, 0, 1], epochs_run   # main epochs 2-3 only, then the head phase
    assert ref.keys() == resumed.keys()
    for k in ref: assert torch.allclose(ref[k].float(), resumed[k].float(), atol=1e-6), k
    hist = lambda run: [{k: v for k, v in h.items() if k != 'time'} for h in load_torch(run/'stage1'/'checkpoint.pt')['history']]
    assert hist(fresh) == hist(tmp_path/'ref'/'run-a') and len(hist(fresh)) == KW['epochs']

    # park is idempotent and reports the finished stage 1
    assert park(fresh.parent, parked, finished=set()) == ['parked run-a at epoch 4 of 4, head epoch 2 of 2, finished']
    assert park(fresh.parent, parked, finished={'run-a'}) == ['dropped run-a (finished)'] and not list(parked.iterdir())

def test_parallel_processes_share_the_results(tmp_path):
    "Runs in parallel processes (one thread each) all land in the results; one run is never trained by two processes at once."
    import json, subprocess
    import reproduce
    from ldmlr.core import LDMLRError
    lock = tmp_path/'runs'/'ce-cifar-if10-e200-s1'/'run.lock'
    with reproduce._locked(lock, wait=False):
        with pytest.raises(LDMLRError, match='being run by another process'):
            with reproduce._locked(lock, wait=False): pass
    with reproduce._locked(lock, wait=False): pass   # released with its process's hold

    # rows of a real run, renamed: each process adds 15 runs, one at a time, into the same results file
    rows = [r for r in json.loads((REPO/'bench'/'results'/'reproduce.json').read_text())['rows'] if r['run'] == 'ce-cifar-if100-e200-s0']
    (tmp_path/'rows.json').write_text(json.dumps(rows))
    script = tmp_path/'add.py'
    script.write_text(f'''import json, sys, time
from pathlib import Path
sys.path.insert(0, {str(REPO/'bench')!r})
import reproduce
tmp = Path({str(tmp_path)!r})
reproduce.OUT, reproduce.RESULTS, reproduce.RUNS = tmp, tmp/'reproduce.json', tmp/'runs'
rows = json.loads((tmp/'rows.json').read_text())
(tmp/f'ready-{{sys.argv[1]}}').touch()
while len(list(tmp.glob('ready-*'))) < 2: time.sleep(0.01)   # start adding together, so the two overlap
for i in range(15):
    reproduce._add_rows([dict(r, run=f'{{sys.argv[1]}}-{{i}}') for r in rows], dict(process=sys.argv[1], i=i))
''')
    procs = [subprocess.Popen([sys.executable, str(script), name]) for name in ('a', 'b')]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    res = json.loads((tmp_path/'reproduce.json').read_text())
    runs = {r['run'] for r in res['rows']}
    assert runs == {f'{n}-{i}' for n in 'ab' for i in range(15)}, sorted(runs)
    # each run keeps the record of the process that made it
    assert res['records'] == {f'{n}-{i}': dict(process=n, i=i) for n in 'ab' for i in range(15)}
    assert (tmp_path/'reproduce.md').read_text().startswith('### Reproduction from scratch')

def test_stage1_time_is_split_by_device(tmp_path):
    "Seeds of one setting trained on different devices: the table gives each device's own stage-1 time, not their mean."
    import json, reproduce
    rows = [r for r in json.loads((REPO/'bench'/'results'/'reproduce.json').read_text())['rows'] if r['run'] == 'ce-cifar-if100-e200-s0']
    res = {'rows': [dict(r, seed=s, device=dev, stage1_s=t) for r in rows
                    for s, dev, t in ((0, 'cpu A', 600), (1, 'cpu A', 1800), (2, 'gpu B', 60))]}
    table = reproduce.md(res)
    line = next(l for l in table.splitlines() if l.startswith('| IF=100 | CE | 200 epochs'))
    assert line.endswith('| 20 min (cpu A, 2 seeds); 1 min (gpu B, 1 seed) |'), line
    assert 'Device: cpu A; gpu B.' in table

def test_park_and_restore_keep_the_further_copy(tmp_path):
    "A stage 1 here and its parked copy: whichever got further is kept, by both park and restore."
    from ldmlr.core import save_torch
    def stage1(run, epoch):
        (run/'stage1').mkdir(parents=True, exist_ok=True); save_torch(dict(epoch=epoch, n_epochs=9), run/'stage1'/'checkpoint.pt')
    runs, parked = tmp_path/'runs', tmp_path/'parked'
    stage1(parked/'run-a', 5); stage1(runs/'run-a', 1)   # begun again here, behind its parked copy
    assert park(runs, parked, finished=set()) == ['kept the parked run-a at epoch 6 of 9: further than here (epoch 2 of 9)']
    assert restore(runs/'run-a', parked) == 'restored the parked stage 1 (epoch 6 of 9)'
    assert load_torch(runs/'run-a'/'stage1'/'checkpoint.pt')['epoch'] == 5
    assert restore(runs/'run-a', parked) == ''   # as far as its parked copy: left alone
    stage1(runs/'run-a', 7)
    assert restore(runs/'run-a', parked) == 'kept the stage 1 here (epoch 8 of 9): the parked copy is behind (epoch 6 of 9)'
    assert park(runs, parked, finished=set()) == ['parked run-a at epoch 8 of 9']
    assert load_torch(parked/'run-a'/'stage1'/'checkpoint.pt')['epoch'] == 7

def test_stage1_device_names_each_machine_and_precision(tmp_path, monkeypatch):
    "A stage 1 begun on one machine (an older record, without its precision) and resumed on this one: the table names both."
    from ldmlr.core import load_json, save_json, device_name, supports_bf16
    import reproduce
    run = tmp_path/'run-a'
    _stopped_after_epoch(0, run, monkeypatch)
    rec = load_json(run/'stage1'/'config.json')
    assert rec['bf16'] == supports_bf16('cpu'), rec
    del rec['bf16']; rec['device_name'] = 'x86_64 CPU, 1 thread'; save_json(rec, run/'stage1'/'config.json')
    _train(run)
    here = f"{device_name('cpu')}, {'bf16' if supports_bf16('cpu') else 'fp32'}"
    assert reproduce._stage1_device(run) == f'x86_64 CPU, 1 thread then {here}', reproduce._stage1_device(run)

def test_control_columns_are_paired_per_seed():
    "LDMLR minus each control is taken seed by seed: a control ahead on every seed shows a negative mean and 0/n seeds."
    import json, reproduce
    from reproduce_ckpt import CHOSEN
    rows = [r for r in json.loads((REPO/'bench'/'results'/'reproduce.json').read_text())['rows'] if r['run'] == 'ce-cifar-if100-e200-s0']
    acc = {CHOSEN.format('LDMLR'): 80., CHOSEN.format('Gaussian'): 81., reproduce.KEEP[1]: 77.}
    # seed s shifts every method by 3s, so only a paired difference stays constant across seeds
    res = {'rows': [dict(r, seed=s, acc=acc.get(r['method'], r['acc']) + 3 * s) for r in rows for s in (0, 1, 2)]}
    lines = reproduce.md(res).splitlines()
    cell = lambda start: next(l for l in lines if l.startswith(start)).split(' | ')[9]
    assert cell('| IF=100 | CE + Gaussian (control) | 200 epochs') == '-1.00 ± 0.00 (0/3 seeds > 0)'
    assert cell('| IF=100 | CE, cRT (control) | 200 epochs') == '+3.00 ± 0.00 (3/3 seeds > 0)'

def _in_protocol(rows, holdout):
    "`rows` as if made with `holdout` class-0 images kept out of stage 1 (run names included)."
    return [dict(r, holdout=holdout, run=r['run'] + f'-h{holdout}') for r in rows]

def test_table_says_how_far_each_parked_run_got(tmp_path):
    "Runs still to run in the current protocol are listed with the epoch their parked stage 1 reached; one not parked is listed bare."
    import json, reproduce
    from ldmlr.core import save_torch
    # only the first protocol's rows, so the test does not change as current-protocol runs land in the file
    rows = [r for r in json.loads((REPO/'bench'/'results'/'reproduce.json').read_text())['rows'] if reproduce._holdout(r) == 0]
    res = {'rows': rows + _in_protocol([r for r in rows if not (r['recipe'] == 'wcdas-cifar' and r['imb'] == 10)], reproduce.HOLDOUT)}
    name = f'wcdas-cifar-if10-e700-s1-h{reproduce.HOLDOUT}'
    (tmp_path/name/'stage1').mkdir(parents=True)
    save_torch(dict(epoch=136, n_epochs=700), tmp_path/name/'stage1'/'checkpoint.pt')
    line = next(l for l in reproduce.md(res, tmp_path).splitlines() if l.startswith('Full schedules done'))
    assert line.endswith('still to run: WCDAS IF=10 seed 0, WCDAS IF=10 seed 1 (stage 1 parked at epoch 137 of 700), WCDAS IF=10 seed 2.'), line
    assert 'stage 1 parked at' not in reproduce.md(res)   # no parked folder given

def test_each_validation_protocol_has_its_own_table():
    "Runs validated without class 0 and runs with class-0 images held out are never averaged together; only the current protocol counts as done."
    import json, reproduce
    old = [r for r in json.loads((REPO/'bench'/'results'/'reproduce.json').read_text())['rows'] if r['run'] == 'ce-cifar-if100-e200-s0']
    new = [dict(r, acc=r['acc'] + 10) for r in _in_protocol(old, reproduce.HOLDOUT)]
    table = reproduce.md({'rows': old + new})
    current, first = table.index(f'(`--holdout {reproduce.HOLDOUT}`, the current protocol)'), table.index('(`--holdout 0`, the first 12 runs')
    assert current < first   # the current protocol comes first
    stage1 = [l for l in table.splitlines() if l.startswith('| IF=100 | CE | 200 epochs')]
    base = next(r['acc'] for r in old if r['method'] == reproduce.KEEP[0])
    assert [l.split(' | ')[4] for l in stage1] == [f'{base + 10:.2f}', f'{base:.2f}'], stage1   # one seed each: its own value, not a mean of both
    assert 'Full schedules done in the current protocol: 1 of 12' in reproduce.md({'rows': old + new})
    assert 'Full schedules done in the current protocol: 0 of 12' in reproduce.md({'rows': old})
    assert 'No run has finished yet.' in reproduce.md({'rows': old})

def test_blind_spot_splits_the_classes_validation_lacks():
    "The blind-spot table: test accuracy of the classes with validation images and of those without, next to validation accuracy."
    import json, reproduce
    rows = [r for r in json.loads((REPO/'bench'/'results'/'reproduce.json').read_text())['rows'] if r['run'] == 'ce-cifar-if100-e200-s0']
    assert reproduce._blind_spot(rows) == ''   # runs from before per-class accuracy was recorded: no table
    per_class, val_counts = [50.] + [90.] * 8 + [70.], [0, 5, 5, 5, 5, 5, 5, 5, 5, 0]
    res = [dict(r, per_class=per_class, val_counts=val_counts, val_acc=88.) for r in rows]
    table = reproduce._blind_spot(res)
    head = next(l for l in table.splitlines() if l.startswith('| CIFAR-10-LT'))
    assert '| test, classes 0, 9 (no validation images) |' in head, head
    line = next(l for l in table.splitlines() if l.startswith('| IF=100 | CE stage 1 |'))
    assert line.endswith('| 1 | 88.00 | 90.00 | 60.00 | ' + f"{rows[0]['acc']:.2f} |"), line
    assert reproduce._blind_spot([dict(r, val_counts=[5] * 10) for r in res]) == ''   # validation sees every class: nothing to show
