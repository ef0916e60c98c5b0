"""Write notebooks as plain percent-format scripts and back (an authoring aid; the .ipynb stays the source of truth).

  python tools/nbsrc.py to-nb  src/01_data.py nbs/01_data.ipynb   # script -> notebook (outputs of the old notebook are dropped)
  python tools/nbsrc.py to-py  nbs/01_data.ipynb src/01_data.py   # notebook -> script, to edit in any editor
Run tools/run_nbs.py on the notebook afterwards to store its outputs, then nbdev_clean."""
import sys
import jupytext, nbformat

KERNEL = {'kernelspec': {'display_name': 'python3', 'language': 'python', 'name': 'python3'}}

def to_nb(src, dst):
    nb = jupytext.read(src, fmt='py:percent')
    nb.metadata = dict(KERNEL)
    _keep_ids(nb, dst)
    nbformat.write(nb, dst)

def _keep_ids(nb, dst):
    "Give unchanged cells the ids they have in `dst`, so nbdev_export's cell markers (and diffs) change only where the source did."
    try: old = nbformat.read(dst, as_version=4)
    except FileNotFoundError: return
    ids = {}
    for c in old.cells: ids.setdefault((c.cell_type, c.source), []).append(c.id)
    for c in nb.cells:
        if ids.get((c.cell_type, c.source)): c.id = ids[(c.cell_type, c.source)].pop(0)

def to_py(src, dst):
    jupytext.write(jupytext.read(src), dst, fmt='py:percent')

if __name__ == '__main__':
    if len(sys.argv) != 4 or sys.argv[1] not in ('to-nb', 'to-py'): sys.exit(__doc__)
    (to_nb if sys.argv[1] == 'to-nb' else to_py)(sys.argv[2], sys.argv[3])
