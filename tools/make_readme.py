"""Write README.md from nbs/index.ipynb (nbdev_readme needs Quarto, which these machines cannot install).

Markdown cells are copied, the title's `> summary` kept; notebook links are pointed into nbs/;
code cells that are not hidden are shown with their text outputs. `--check` exits 1 when README.md is stale."""
import re, sys
from pathlib import Path
from execnb.nbio import read_nb
from nbdev.process import extract_directives

def readme_text(nb_path='nbs/index.ipynb'):
    parts = []
    for cell in read_nb(nb_path).cells:
        src = cell.source
        if cell.cell_type == 'markdown':
            parts.append(re.sub(r'\]\((?!https?:)([\w-]+)\.ipynb\)', r'](nbs/\1.ipynb)', src))
            continue
        direc = extract_directives(cell, remove=True)
        if 'hide' in direc or 'export' in direc or not cell.source.strip(): continue
        parts.append(f"```python\n{cell.source}\n```")
        outs = [''.join(o.get('text', '')) or ''.join(o.get('data', {}).get('text/plain', '')) for o in cell.get('outputs', [])]
        if any(outs): parts.append("```\n" + '\n'.join(o.rstrip() for o in outs if o) + "\n```")
    return '<!-- generated from nbs/index.ipynb by tools/make_readme.py: edit the notebook, not this file -->\n\n' + '\n\n'.join(parts) + '\n'

if __name__ == '__main__':
    text, readme = readme_text(), Path('README.md')
    if '--check' in sys.argv:
        if not readme.exists() or readme.read_text() != text: sys.exit('README.md is stale: run `python tools/make_readme.py`')
    else: readme.write_text(text)
