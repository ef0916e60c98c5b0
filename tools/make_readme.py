"""Write README.md from nbs/index.ipynb (nbdev_readme needs Quarto, which these machines cannot install).

Markdown cells are copied, the title's `> summary` kept; notebook links are pointed into nbs/;
code cells that are not hidden are shown with their outputs (`#| echo: false`: the output alone; markdown outputs as markdown). `--check` exits 1 when README.md is stale."""
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
        if direc.get('echo:', [''])[0].lower() != 'false': parts.append(f"```python\n{cell.source}\n```")
        for o in cell.get('outputs', []):
            data = o.get('data', {})
            if 'text/markdown' in data: parts.append(''.join(data['text/markdown']).strip())   # e.g. a results table
            elif o.get('text') or 'text/plain' in data:
                parts.append("```\n" + (''.join(o.get('text', '')) or ''.join(data['text/plain'])).rstrip() + "\n```")
    return '<!-- generated from nbs/index.ipynb by tools/make_readme.py: edit the notebook, not this file -->\n\n' + '\n\n'.join(parts) + '\n'

if __name__ == '__main__':
    text, readme = readme_text(), Path('README.md')
    if '--check' in sys.argv:
        if not readme.exists() or readme.read_text() != text: sys.exit('README.md is stale: run `python tools/make_readme.py`')
    else: readme.write_text(text)
