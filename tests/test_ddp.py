"""Data-parallel training under torchrun (gloo, 2 CPU processes): every rank ends with identical weights (ldmlr.learner, ldmlr.stage1)."""
import json, os, subprocess, sys, time
from pathlib import Path

import torch
from ldmlr.core import load_torch

TORCHRUN = Path(sys.executable).parent/'torchrun'

SCRIPT = r'''
import json, sys
from pathlib import Path
import torch
from torch import nn
from ldmlr.core import set_seed, save_torch, save_json
from ldmlr.data import ImageSet, TensorLoader, lt_counts, synthetic_imageset
from ldmlr.models import create_model
from ldmlr.learner import Learner, DataLoaders, DeviceCB, DDPCB, MetricsCB, CheckpointCB, MixupCB, ddp_setup, ddp_cleanup
from ldmlr.stage1 import train_baseline

out = Path(sys.argv[1])
rank, world, dev = ddp_setup('cpu')
assert world == 2 and torch.distributed.get_backend() == 'gloo'

counts = lt_counts(120, 4, 10)
train, test = synthetic_imageset(counts, seed=0), synthetic_imageset([21] * 4, seed=1)

# 1. the Learner: each rank starts from a different initialisation; DDP must start them all from rank 0's and keep them equal
set_seed(100 + rank)
model = create_model('tinynet', 4, in_channels=1, width=4)
dls = DataLoaders(TensorLoader(train, 16, augment=True, device=dev, rank=rank, world_size=world, pad=2),
                  TensorLoader(test, 32, shuffle=False, device=dev, rank=rank, world_size=world))
learn = Learner(model, dls, nn.CrossEntropyLoss(), lr=0.05, warmup_epochs=1,
                cbs=[DeviceCB(dev), DDPCB(), MetricsCB(counts), MixupCB(0.4), CheckpointCB(out/'learner')]).fit(3)
assert learn.model is model   # unwrapped after the fit
save_torch(model.state_dict(), out/f'learner_rank{rank}.pt')
save_json(learn.history, out/f'history_rank{rank}.json')
save_json(dict(n_train=len(train), n_train_batches=len(dls.train)), out/f'info_rank{rank}.json')

# 2. stage 1 end to end: two phases (the second head-only with class-aware sampling)
net, hist = train_baseline(train, test, out/'run', model='tinynet', width=4, epochs=2, bs=16, lr=0.05, warmup_epochs=0.5,
                           head_epochs=1, head_lr=0.05, device='cpu', progress=False)
save_torch(net.state_dict(), out/f'stage1_rank{rank}.pt')
ddp_cleanup()
'''

def test_ddp_two_processes_identical_weights(tmp_path):
    script = tmp_path/'ddp_train.py'; script.write_text(SCRIPT)
    env = dict(os.environ, OMP_NUM_THREADS='1', GLOO_SOCKET_IFNAME=os.environ.get('GLOO_SOCKET_IFNAME', 'lo'))
    t0 = time.time()
    r = subprocess.run([str(TORCHRUN), '--standalone', '--nproc_per_node', '2', str(script), str(tmp_path)],
                       capture_output=True, text=True, env=env, timeout=120)
    took = time.time() - t0
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-5000:]
    assert took < 60, f'torchrun test took {took:.0f}s'

    for name in ('learner', 'stage1'):
        a, b = load_torch(tmp_path/f'{name}_rank0.pt'), load_torch(tmp_path/f'{name}_rank1.pt')
        assert a.keys() == b.keys()
        for k in a: assert torch.equal(a[k], b[k]), f'{name}: {k} differs between ranks'

    # each rank saw half the training data per epoch, and the metrics were summed over both ranks
    info = json.loads((tmp_path/'info_rank0.json').read_text())
    assert info['n_train_batches'] == -(-(-(-info['n_train'] // 2)) // 16)    # ceil(ceil(N / 2) / 16): half the data each
    h0, h1 = (json.loads((tmp_path/f'history_rank{r}.json').read_text()) for r in (0, 1))
    strip = lambda h: [{k: v for k, v in r.items() if k != 'time'} for r in h]
    assert len(h0) == 3 and strip(h0) == strip(h1)

    # rank 0 wrote the checkpoint, holding the RNG states of both ranks; the stage-1 run directory is complete
    ck = load_torch(tmp_path/'learner'/'checkpoint.pt')
    assert ck['world_size'] == 2 and len(ck['rng']) == 2 and ck['epoch'] == 2
    for f in ('config.json', 'model.pt', 'metrics.json', 'checkpoint.pt', 'head/checkpoint.pt'): assert (tmp_path/'run'/'stage1'/f).exists(), f
    print(f'torchrun test took {took:.1f}s')
