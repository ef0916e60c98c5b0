"""A training run killed with SIGKILL and then resumed ends with the same weights as one never interrupted (ldmlr.learner)."""
import os, signal, subprocess, sys, time
from pathlib import Path

import torch
from ldmlr.core import load_torch

SCRIPT = r'''
import sys, time
from pathlib import Path
import torch
from torch import nn
torch.set_num_threads(1)
from ldmlr.core import set_seed, save_torch
from ldmlr.data import ImageSet, TensorLoader, lt_counts, synthetic_imageset
from ldmlr.models import create_model
from ldmlr.learner import (Learner, DataLoaders, Callback, DeviceCB, MetricsCB, MixupCB, AutocastCB, CheckpointCB)

run, n_epochs, sleep = Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])

counts = lt_counts(120, 4, 10)
train, test = synthetic_imageset(counts, seed=0), synthetic_imageset([20] * 4, seed=1)

class SlowEpochs(Callback):
    "Leave time to kill the run between epochs (after the checkpoint is written)."
    def after_epoch(self, learn): time.sleep(sleep)

set_seed(0)
model = create_model('tinynet', 4, in_channels=1, width=4)
dls = DataLoaders(TensorLoader(train, 16, augment=True, device='cpu', pad=2), TensorLoader(test, 64, shuffle=False, device='cpu'))
learn = Learner(model, dls, nn.CrossEntropyLoss(), lr=0.05, opt='sgd', wd=5e-4, schedule='cosine', warmup_epochs=1,
                cbs=[DeviceCB('cpu'), MetricsCB(counts), MixupCB(0.4), AutocastCB(), CheckpointCB(run), SlowEpochs()])
learn.fit(n_epochs)
save_torch(model.state_dict(), run/'final.pt')
print('resumed from', learn.cbs[4].resumed_from, 'epochs run', len(learn.history))
'''

N_EPOCHS = 6

def _cmd(script, run, sleep): return [sys.executable, str(script), str(run), str(N_EPOCHS), str(sleep)]

def _env(): return dict(os.environ, OMP_NUM_THREADS='1', PYTHONUNBUFFERED='1')

def test_kill_and_resume_matches_uninterrupted(tmp_path):
    script = tmp_path/'train.py'; script.write_text(SCRIPT)
    t0 = time.time()
    r = subprocess.run(_cmd(script, tmp_path/'full', 0), capture_output=True, text=True, env=_env(), timeout=300)
    assert r.returncode == 0, r.stderr

    # start the same run, SIGKILL it once the checkpoint of epoch 2 (the third) exists
    killed = tmp_path/'killed'
    p = subprocess.Popen(_cmd(script, killed, 0.4), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env())
    ckpt, deadline = killed/'checkpoint.pt', time.time() + 240
    while time.time() < deadline and p.poll() is None:
        if ckpt.exists() and load_torch(ckpt)['epoch'] >= 2: break
        time.sleep(0.05)
    assert p.poll() is None, f"the run ended before it could be killed: {p.stderr.read().decode()}"
    os.kill(p.pid, signal.SIGKILL)
    p.wait(timeout=30)
    assert p.returncode == -signal.SIGKILL
    stopped_at = load_torch(ckpt)['epoch']
    assert 2 <= stopped_at < N_EPOCHS - 1 and not (killed/'final.pt').exists()

    # resume: a fresh process picks up the checkpoint and finishes
    r = subprocess.run(_cmd(script, killed, 0), capture_output=True, text=True, env=_env(), timeout=300)
    assert r.returncode == 0, r.stderr
    assert f'resumed from {stopped_at}' in r.stdout and f'epochs run {N_EPOCHS}' in r.stdout, r.stdout

    full, resumed = load_torch(tmp_path/'full'/'final.pt'), load_torch(killed/'final.pt')
    assert full.keys() == resumed.keys()
    for k in full:
        assert torch.equal(full[k], resumed[k]) or (full[k].float() - resumed[k].float()).abs().max() <= 1e-6, k
    # the history (losses and accuracies of every epoch) is the same too
    h_full, h_res = load_torch(tmp_path/'full'/'checkpoint.pt')['history'], load_torch(ckpt)['history']
    strip = lambda h: [{k: v for k, v in r.items() if k != 'time'} for r in h]
    assert strip(h_full) == strip(h_res)
    print(f'kill/resume test took {time.time() - t0:.1f}s (killed after epoch {stopped_at})')
