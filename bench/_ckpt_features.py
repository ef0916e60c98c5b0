"""Encode the paper's CIFAR-10-LT baseline checkpoints to FeatureSets, cached under bench/runs/ckpt/ (used by reproduce_ckpt.py, stage23.py).

`unseen_val(imb)` is the clean validation set: the released IF=100 and IF=10 training splits were drawn separately from CIFAR-10's
training images, so each holds images the other's baseline never saw (every class but airplane, whose 5,000 images are in both)."""
import time
from pathlib import Path
from ldmlr.data import load_cifar10_lt_folder, shared_data, FeatureSet
from ldmlr.models import load_baseline

RUN = Path(__file__).parent/'runs'/'ckpt'

def ckpt_path(imb): return shared_data()/'cifar10'/'baselines'/f'resnet32_ce_if{imb}.checkpoint'

def encode_set(model, ds, train_counts):
    "Features of `ds` under `model`, with the training counts of the split they belong to."
    from ldmlr.stage1 import encode
    return encode(model, ds, train_counts=train_counts, device='cpu')

def features(imb:int, # 100 or 10
            ) -> tuple[FeatureSet, FeatureSet, dict]:
    "(train, test, stage-1 head state dict) for the checkpoint of imbalance factor `imb`; encoded once, then read from the cache."
    import torch
    from ldmlr.core import save_torch, load_torch
    d = RUN/f'if{imb}'
    f_tr, f_te, f_head = d/'train.safetensors', d/'test.safetensors', d/'head.pt'
    if not (f_tr.exists() and f_te.exists() and f_head.exists()):
        t0 = time.time()
        model = load_baseline(ckpt_path(imb))
        root = shared_data()/'cifar10'
        train, test = load_cifar10_lt_folder(root, imb), load_cifar10_lt_folder(root, imb, train=False)
        tr = encode_set(model, train, train.counts); tr.save(f_tr)
        te = encode_set(model, test, train.counts); te.save(f_te)
        save_torch({k: v.detach().cpu() for k, v in model.head.state_dict().items()}, f_head)
        print(f'encoded IF={imb} train {len(tr)} + test {len(te)} in {time.time()-t0:.0f}s -> {d}')
    return FeatureSet.load(f_tr), FeatureSet.load(f_te), load_torch(f_head)

def _digests(images) -> list[str]:
    import hashlib
    return [hashlib.sha1(x.numpy().tobytes()).hexdigest() for x in images]

def unseen_images(imb:int, # 100 or 10: the training split a model was trained on
                 ):
    "`(images, train_counts)`: the training images of the *other* released split that are not in IF=`imb`'s (pixel-identical ones removed)."
    import torch
    root, other = shared_data()/'cifar10', {100: 10, 10: 100}[imb]
    own, pool = load_cifar10_lt_folder(root, imb), load_cifar10_lt_folder(root, other)
    seen = set(_digests(own.images))
    keep = torch.tensor([d not in seen for d in _digests(pool.images)])
    ds = pool.subset(torch.nonzero(keep).flatten())
    ds.name = f'cifar10-lt-if{other}/train minus if{imb}/train'
    return ds, own.counts

def unseen_val(imb:int, # 100 or 10: the checkpoint (and training split) to validate
              ) -> FeatureSet:
    "Features, under the IF=`imb` checkpoint, of `unseen_images(imb)`; cached."
    f = RUN/f'if{imb}'/'unseen_val.safetensors'
    if not f.exists():
        t0 = time.time()
        ds, counts = unseen_images(imb)
        fs = encode_set(load_baseline(ckpt_path(imb)), ds, counts)
        fs.source = ds.name
        fs.save(f)
        print(f'encoded {len(fs)} images of {ds.name} (unseen by the IF={imb} baseline) in {time.time()-t0:.0f}s -> {f}')
    return FeatureSet.load(f)

if __name__ == '__main__':
    for imb in (100, 10): features(imb); unseen_val(imb)
