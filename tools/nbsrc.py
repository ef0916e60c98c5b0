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
    nbformat.write(nb, dst)

def to_py(src, dst):
    jupytext.write(jupytext.read(src), dst, fmt='py:percent')

if __name__ == '__main__':
    if len(sys.argv) != 4 or sys.argv[1] not in ('to-nb', 'to-py'): sys.exit(__doc__)
    (to_nb if sys.argv[1] == 'to-nb' else to_py)(sys.argv[2], sys.argv[3])
