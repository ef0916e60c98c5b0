"""Execute notebooks in place, keeping their outputs (plots, tables) for the docs site.

Cells flagged with a test flag from settings.ini (`#| slow`) are skipped, exactly as `nbdev_test` skips them,
unless named in --flags. Usage: python tools/run_nbs.py nbs/01_data.ipynb [more.ipynb] [--flags slow]
Then run `nbdev_clean` before committing."""
import argparse, os, sys, time
from pathlib import Path
from execnb.nbio import read_nb, write_nb
from execnb.shell import CaptureShell
from nbdev.config import get_config
from nbdev.process import extract_directives
from fastcore.xtras import working_directory

def run_nb(fn:Path, flags:set):
    skip = set(get_config().tst_flags.split()) - flags
    nb = read_nb(fn)
    def no_eval(cell):
        if cell.cell_type != 'code': return True
        if 'nbdev_export(' in cell.source: return True
        direc = extract_directives(cell, remove=False)
        if direc.get('eval:', [''])[0].lower() == 'false': return True
        return bool(skip & direc.keys())
    sys.path.insert(0, str(get_config().config_path))  # as nbdev_test does: import the repo's ldmlr
    k = CaptureShell(fn)
    start = time.time()
    with working_directory(fn.parent): k.run_all(nb, exc_stop=True, preproc=no_eval)
    write_nb(nb, fn)
    return time.time() - start

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('notebooks', nargs='+', type=Path)
    p.add_argument('--flags', default='', help='space-separated test flags to run too (e.g. "slow")')
    a = p.parse_args()
    os.environ.setdefault('MPLBACKEND', 'module://matplotlib_inline.backend_inline')
    for fn in a.notebooks:
        try: print(f'{fn}: ran in {run_nb(fn.resolve(), set(a.flags.split())):.0f}s')
        except Exception as e: sys.exit(f'{fn}: failed: {e}')
