"The README's set-up is idempotent: a second run changes nothing and installs nothing."
import subprocess, sys
from conftest import REPO

def test_setup_is_idempotent():
    r = subprocess.run(['bash', 'tools/setup.sh'], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert 'installing' not in r.stdout + r.stderr, r.stdout   # nothing to do the second time

def test_readme_is_generated_from_index():
    r = subprocess.run([sys.executable, 'tools/make_readme.py', '--check'], cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
