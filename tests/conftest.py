import os, sys
from pathlib import Path
import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent   # the venv's bin: console scripts (ldmlr, torchrun) live here

@pytest.fixture(scope='session', autouse=True)
def _isolated_cache(tmp_path_factory):
    "Keep decoded-dataset caches of the tests out of the user's ~/.cache."
    old = os.environ.get('LDMLR_CACHE')
    os.environ['LDMLR_CACHE'] = str(tmp_path_factory.mktemp('ldmlr-cache'))
    yield
    if old is None: os.environ.pop('LDMLR_CACHE', None)
    else: os.environ['LDMLR_CACHE'] = old
