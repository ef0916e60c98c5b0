"""The `ldmlr` console command end to end on tiny generated data: the whole pipeline, resume, and bad input / faults."""
import os, shutil, signal, subprocess, sys, time
from pathlib import Path
import numpy as np
import pytest
from conftest import BIN
from ldmlr.pipeline import make_tiny_dataset

LDMLR = str(BIN/'ldmlr')

def ldmlr(*args, check=True, timeout=300):
    r = subprocess.run([LDMLR, *map(str, args)], capture_output=True, text=True, timeout=timeout, env=os.environ | {'LDMLR_DEVICE': 'cpu'})
    if check: assert r.returncode == 0, f"ldmlr {' '.join(map(str, args))} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r

def failing(*args):
    r = ldmlr(*args, check=False)
    assert r.returncode == 2, f"expected a clean error (exit 2), got {r.returncode}:\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}"
    assert 'Traceback' not in r.stderr, r.stderr
    return r.stderr

@pytest.fixture(scope='session')
def data(tmp_path_factory):
    return make_tiny_dataset(tmp_path_factory.mktemp('tiny-data'))

@pytest.fixture(scope='session')
def done_run(tmp_path_factory, data):
    "A finished tiny run, and how long it took."
    run = tmp_path_factory.mktemp('runs')/'tiny'
    t0 = time.time()
    r = ldmlr('run', '--preset', 'tiny', '--data-root', data, '--run-dir', run, '--quiet')
    return run, r, time.time() - t0

def test_help_lists_every_command_and_parameter():
    r = ldmlr('--help')
    for cmd in ('run', 'data', 'baseline', 'encode', 'diffuse', 'augment', 'evaluate', 'report'):
        assert f'  {cmd} ' in r.stdout
        assert ldmlr(cmd, '--help').stdout.startswith(f'usage: ldmlr {cmd}')
    h = ldmlr('run', '--help').stdout
    for p in ('--preset', '--run_dir', '--data_root', '--baseline', '--seed', '--device', '--set', '--force', '--until'):
        assert p in h, p

def test_run_end_to_end_then_resume(done_run):
    run, r, secs = done_run
    assert secs < 60, f"the tiny pipeline took {secs:.0f}s"
    last = r.stdout.strip().splitlines()
    assert last[0].startswith('| result | overall | many | medium | few |') or '| result |' in '\n'.join(last[-6:])
    assert last[-1].startswith('| change |'), r.stdout[-500:]      # the before/after table is the last thing printed
    for f in ('config.json', 'report.md', 'metrics.json', 'per_class.png', 'real_vs_generated.png', 'stage1/model.pt',
              'features/train.safetensors', 'stage2/diffusion.pt', 'pseudo.safetensors', 'stage3/head.pt'):
        assert (run/f).exists(), f
    again = ldmlr('run', '--preset', 'tiny', '--data-root', run.parent.parent/'x' if False else (run/'..').resolve(), '--run-dir', run, check=False)
    # the same config resumes: every stage found done
    r2 = ldmlr('run', '--preset', 'tiny', '--data-root', _root(run), '--run-dir', run, '--quiet')
    assert r2.stdout.count('skipped') == 5, r2.stdout
    assert ldmlr('evaluate', run).stdout.startswith('| result |')
    assert (run/'report.md').read_text().startswith('# LDMLR run')

def _root(run):
    import json
    return json.loads((run/'config.json').read_text())['config']['data_root']

def test_unknown_preset_and_stage(tmp_path):
    assert "unknown preset 'nope'" in failing('run', '--preset', 'nope', '--run-dir', tmp_path/'r')
    assert "unknown stage 'nope'" in failing('run', '--preset', 'tiny', '--data-root', tmp_path, '--run-dir', tmp_path/'r', '--until', 'nope')
    assert "unknown config field 'epochs'" in failing('run', '--preset', 'tiny', '--run-dir', tmp_path/'r', '--set', 'epochs=3')

def test_missing_data(tmp_path):
    assert 'apt-get install -y dataset-fashion-mnist' in failing('data', '--data-root', tmp_path/'nowhere')
    assert 'train/ and test/ class folders' in failing('run', '--preset', 'tiny', '--data-root', tmp_path/'nowhere', '--run-dir', tmp_path/'r')
    assert 'baseline checkpoint' in failing('run', '--preset', 'tiny', '--baseline', tmp_path/'none.pt', '--run-dir', tmp_path/'r2')

def test_conflicting_flags(tmp_path):
    np.savez(tmp_path/'a.npz', features=np.random.rand(20, 4), labels=np.arange(20) % 2)
    assert 'go together' in failing('augment', tmp_path/'r', '--train-features', tmp_path/'a.npz')
    assert 'either a baseline checkpoint or features' in failing(
        'run', '--preset', 'tiny', '--baseline', tmp_path/'x.pt', '--run-dir', tmp_path/'r',
        '--set', f'train_features={tmp_path/"a.npz"} test_features={tmp_path/"a.npz"}')

def test_run_dir_with_another_config_is_refused_unless_forced(tmp_path, data):
    run = tmp_path/'r'
    ldmlr('baseline', run, '--preset', 'tiny', '--data-root', data, '--quiet')
    assert 'made with another config (differs in: seed)' in failing('baseline', run, '--preset', 'tiny', '--data-root', data, '--seed', '1')
    r = ldmlr('baseline', run, '--preset', 'tiny', '--data-root', data, '--seed', '1', '--force', '--quiet')
    assert 'stage1: finished' in r.stdout

def test_killed_during_diffusion_then_rerun(tmp_path, data):
    run = tmp_path/'r'
    args = ['run', '--preset', 'tiny', '--data-root', data, '--run-dir', run, '--quiet', '--set', 'diffusion.epochs=400']
    p = subprocess.Popen([LDMLR, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         env=os.environ | {'LDMLR_DEVICE': 'cpu'})
    ckpt, t0 = run/'stage2'/'checkpoint.pt', time.time()
    while not ckpt.exists() and p.poll() is None and time.time() - t0 < 240: time.sleep(0.2)
    assert ckpt.exists() and p.poll() is None, 'diffusion training never reached its first checkpoint'
    stage1_mtime = (run/'stage1'/'model.pt').stat().st_mtime_ns
    p.send_signal(signal.SIGKILL); p.wait()
    assert not (run/'stage2'/'diffusion.pt').exists()
    r = ldmlr(*args)
    assert 'stage1: done (outputs validated), skipped' in r.stdout and 'encode: done (outputs validated), skipped' in r.stdout
    assert 'diffusion: finished' in r.stdout and r.stdout.strip().splitlines()[-1].startswith('| change |')
    assert (run/'stage1'/'model.pt').stat().st_mtime_ns == stage1_mtime         # finished work was not redone

def test_corrupt_artifact_is_detected_and_remade(tmp_path, done_run):
    src, _, _ = done_run
    run = tmp_path/'r'; shutil.copytree(src, run)
    f = run/'features'/'train.safetensors'; b = f.read_bytes(); f.write_bytes(b[:len(b)//3])
    r = ldmlr('run', '--preset', 'tiny', '--data-root', _root(src), '--run-dir', run, '--quiet')
    assert 'encode: outputs invalid' in r.stdout and 'truncated or corrupt' in r.stdout
    assert 'stage1: done (outputs validated), skipped' in r.stdout
    for stage in ('encode', 'diffusion', 'pseudo', 'stage3', 'report'): assert f'{stage}: finished' in r.stdout

def test_bring_your_own_features(tmp_path):
    rng = np.random.default_rng(0)
    counts, D = [150, 60, 25, 10, 6], 8
    def make(n_per):
        y = np.concatenate([np.full(n, c) for c, n in enumerate(n_per)])
        return rng.normal(0, 1, (len(y), D)) + 3 * np.eye(len(n_per), D)[y], y
    (xtr, ytr), (xte, yte) = make(counts), make([20] * 5)
    np.savez(tmp_path/'tr.npz', features=xtr, labels=ytr); np.savez(tmp_path/'te.npz', features=xte, labels=yte)
    r = ldmlr('augment', tmp_path/'run', '--train-features', tmp_path/'tr.npz', '--test-features', tmp_path/'te.npz',
              '--quiet', '--set', 'diffusion.epochs=20 head.epochs=20')
    assert r.stdout.strip().splitlines()[-1].startswith('| change |')
    bad = xtr.copy(); bad[3, 2] = np.nan; np.savez(tmp_path/'nan.npz', features=bad, labels=ytr)
    assert 'contain NaN or inf' in failing('augment', tmp_path/'run2', '--train-features', tmp_path/'nan.npz', '--test-features', tmp_path/'te.npz')
    np.savez(tmp_path/'te9.npz', features=rng.normal(size=(10, 9)), labels=np.arange(10) % 5)
    assert 'feature dimension 9 != the 8 expected' in failing('augment', tmp_path/'run3', '--train-features', tmp_path/'tr.npz', '--test-features', tmp_path/'te9.npz')
