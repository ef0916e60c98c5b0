"""Build the documentation site offline: nbdev's processed notebooks -> MkDocs (Material) + mkdocs-jupyter -> site/.

  python tools/build_docs.py [SITE_DIR] [--force]     (`bash tools/docs.sh` runs set-up, then this)

1. nbdev's own processing (`nbdev.serve.proc_nbs`, the work of `nbdev_proc_nbs`: show_doc, `#| hide`, `#| export`, ...)
   writes the processed notebooks to _proc/. The `nbdev_proc_nbs` command itself is not used: where Quarto is missing it
   tries to install Quarto with sudo and then runs `pip install -e .[dev]` with whatever pip is first on PATH.
2. They are staged into _proc/_mkdocs/ for mkdocs-jupyter: the Quarto front matter becomes the `# Title` and `> summary`,
   Quarto cell options act as in Quarto (`echo: false` hides the code, `output: asis` makes show_doc's markdown part of the
   page, `include: false` drops the cell, `output: false` drops the outputs), `#|` lines are removed, and links to
   notebooks point at their pages. results.md is made from bench/results/*.md; pages in docs/ are copied as they are;
   MathJax comes from jupyter-server-mathjax, so a page fetches nothing from the internet.
3. MkDocs builds the site with mkdocs.yml. Notebooks are not executed: they are committed with outputs (tools/run_nbs.py).
   After a build, `.venv/bin/mkdocs serve` previews the staged pages (_proc/_mkdocs/) too."""
import argparse, fcntl, hashlib, html, json, logging, os, re, shutil, sys, tempfile, time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROC = REPO/'_proc'
STAGE = PROC/'_mkdocs'  # docs_dir in mkdocs.yml; '_' so that Quarto (nbdev_docs renders _proc/) skips it
RESULTS = REPO/'bench'/'results'
EXTRA = REPO/'docs'
HIDE_INPUT_TAG = 'ldmlr-hide-input'  # removed by mkdocs-jupyter: remove_tag_config.remove_input_tags in mkdocs.yml
IMAGE_EXTS = {'.png', '.jpg', '.jpeg', '.gif', '.svg', '.webp'}
SKIP_FOLDERS = r'^[_.]|^runs$'  # nbs/runs/ holds run outputs, not pages
MATHJAX = 'assets/mathjax'  # custom_mathjax_url in mkdocs.yml points here
MATHJAX_LOCAL_CONFIG = """MathJax.Hub.Config({"HTML-CSS": {availableFonts: [], webFont: "STIX-Web", imageFont: null},
  SVG: {font: "STIX-Web"}});
MathJax.Ajax.loadComplete("[MathJax]/config/local/ldmlr.js");
"""
NO_RESULTS = """!!! note "No results yet"
    Nothing has been written to `bench/results/` yet. Each `bench/` script writes its table there as a `.md` file
    (naming the command that made it); rebuild the site with `bash tools/docs.sh` to show them here.
"""

def log(msg): print(f'docs: {msg}', flush=True)

# ---------------------------------------------------------------------------------------------------------- notebooks
def notebooks(nbs:Path) -> list[Path]:
    "Notebooks nbdev documents (relative to `nbs`), in site order: index first, then by name (00_core, 01_data, ...)."
    from nbdev.doclinks import nbglob
    fns = [Path(f).relative_to(nbs) for f in nbglob(nbs, skip_folder_re=SKIP_FOLDERS)]
    return sorted(fns, key=lambda f: (f.parent.parts, f.stem != 'index', f.stem))

def front_matter(text:str):
    "The YAML front matter nbdev puts in a raw cell (title, description, output-file), or None."
    import yaml
    m = re.match(r'\s*---\s*\n(.*?)\n---\s*$', text, re.S)
    if not m: return None
    try: fm = yaml.safe_load(m[1])
    except yaml.YAMLError: return None
    return fm if isinstance(fm, dict) else None

def directives(src:str) -> tuple[dict, str]:
    "Split the leading `#| key: value` lines of a code cell from its code: ({key: value}, code)."
    lines, opts = src.splitlines(), {}
    while lines and (re.match(r'\s*#\s?\|', lines[0]) or (opts and not lines[0].strip())):
        m = re.match(r'\s*#\s?\|\s*([^:\s]+)\s*:?\s*(.*)$', lines.pop(0))
        if m: opts[m[1].lower()] = m[2].strip().lower()
    return opts, '\n'.join(lines)

def mixed_import_cells(nbs:Path, fns:list[Path]) -> list[str]:
    """Cells that import something *and* do other things. To make the docs nbdev runs every cell with an import (as well as
    the exported and show_doc cells) without the cells before it, so such a cell fails when it uses an earlier cell's names."""
    import ast
    found = []
    for f in fns:
        for i, c in enumerate(json.loads((nbs/f).read_text(encoding='utf-8'))['cells']):
            if c['cell_type'] != 'code': continue
            opts, code = directives(_text(c.get('source')))
            if opts.keys() & {'export', 'exports', 'exporti', 'exec_doc'} or opts.get('eval') == 'false' or 'nbdev_export(' in code: continue
            try: nodes = list(ast.walk(ast.parse(code)))
            except SyntaxError: continue
            if any(isinstance(n, (ast.Import, ast.ImportFrom)) for n in nodes) and any(isinstance(n, (ast.Expr, ast.Assign)) for n in nodes):
                found.append(f'nbs/{f.as_posix()} cell {i}: ' + next((l for l in code.splitlines() if l.strip()), '')[:70])
    return found

def _text(x) -> str: return ''.join(x) if isinstance(x, list) else (x or '')

def output_markdown(o:dict) -> str:
    "What Quarto's `output: asis` would put on the page for output `o`."
    d = o.get('data', {})
    if 'text/markdown' in d: return _text(d['text/markdown'])
    if 'text/html' in d: return _text(d['text/html'])
    if o.get('output_type') == 'stream': return _text(o.get('text'))
    return _text(d.get('text/plain', ''))

def _attrs(spec:str) -> str:
    "Pandoc attributes `{.cls #id key=\"v\"}` as HTML attributes."
    classes, out = [], []
    for tok in re.findall(r'[\w-]+=(?:"[^"]*"|\'[^\']*\'|\S+)|[.#][\w-]+', spec):
        if tok[0] == '.': classes.append(tok[1:])
        elif tok[0] == '#': out.append(f'id="{tok[1:]}"')
        else:
            k, v = tok.split('=', 1)
            out.append(f'{k}="{html.escape(v.strip(chr(34)+chr(39)), quote=True)}"')
    return ' '.join(([f'class="{" ".join(classes)}"'] if classes else []) + out)

CALLOUTS = {'note': 'note', 'tip': 'tip', 'warning': 'warning', 'important': 'important', 'caution': 'danger'}

def quarto_to_commonmark(text:str) -> str:
    """Quarto/Pandoc markdown that nbdev writes (show_doc's `[source](url){target="_blank" ...}`, `![](img){width=..}`,
    `::: {.callout-note}` blocks) as the HTML that nbconvert's CommonMark renderer needs; code spans and fences untouched."""
    parts = re.split(r'(```.*?```|~~~.*?~~~|`[^`\n]+`)', text, flags=re.S)
    for i in range(0, len(parts), 2):
        t = re.sub(r'!\[([^\]]*)\]\(([^)\s]+)\)\{([^}]*)\}',
                   lambda m: f'<img src="{m[2]}" alt="{html.escape(m[1], quote=True)}" {_attrs(m[3])}>', parts[i])
        t = re.sub(r'(?<!!)\[([^\]]+)\]\(([^)\s]+)\)\{([^}]*)\}', lambda m: f'<a href="{m[2]}" {_attrs(m[3])}>{m[1]}</a>', t)
        def callout(m):
            title = re.search(r'title="([^"]*)"', m[2])
            return (f'<div class="admonition {CALLOUTS.get(m[1], "note")}">\n'
                    f'<p class="admonition-title">{title[1] if title else m[1].title()}</p>\n\n')
        t = re.sub(r'^:::+\s*\{\.callout-(\w+)([^}]*)\}\s*$', callout, t, flags=re.M)
        t = re.sub(r'^:::+\s*$', '\n</div>\n', t, flags=re.M)
        parts[i] = t
    return ''.join(parts)

def _unlink_code(text:str) -> str:
    "Inside fenced code (show_doc signatures) markdown links are shown verbatim: keep their text only."
    return re.sub(r'```.*?```', lambda m: re.sub(r'\[`?([^\]`]+?)`?\]\([^)\s]*\)', r'\1', m[0]), text, flags=re.S)

def link_fixer(pages:dict[str, str], by_output:dict[str, str], doc_url:str):
    """`fix(text, here)`: points markdown links at notebooks (`01_data.ipynb#x`) and nbdev doc links (`{doc_url}/data.html#x`)
    at the pages this site has for them, relative to the page `here`."""
    def rel(target:str, here:str) -> str: return os.path.relpath(target, os.path.dirname(here) or '.').replace(os.sep, '/')
    def fix(text:str, here:str) -> str:
        text = quarto_to_commonmark(text)
        def nb_link(m):
            target = os.path.normpath(os.path.join(os.path.dirname(here), m[2])).replace(os.sep, '/')
            return f'{m[1]}{rel(pages[target], here)}{m[3] or ""}' if target in pages else m[0]
        text = re.sub(r'(\]\(|href=")(?![a-z][\w+.-]*:|/)([^)"#\s]+\.ipynb)(#[^)"\s]*)?', nb_link, text)
        if doc_url:
            def doc_link(m): return rel(by_output[m[1]], here) + (m[2] or '') if m[1] in by_output else m[0]
            text = re.sub(re.escape(doc_url.rstrip('/')) + r'/([\w./-]+\.html)(#[\w.-]*)?', doc_link, text)
        return text
    return fix

def stage_notebook(src:Path, dst:Path, page:str, fix) -> dict:
    "Write processed notebook `src` as the notebook mkdocs-jupyter renders; returns its front matter."
    nb = json.loads(src.read_text(encoding='utf-8'))
    fm, cells = {}, []
    def md_cell(text): return {'cell_type': 'markdown', 'metadata': {}, 'source': text}
    for cell in nb['cells']:
        src_text = _text(cell.get('source'))
        if cell['cell_type'] == 'raw':
            meta = front_matter(src_text) if not cells and not fm else None
            if meta is None: cells.append(cell); continue
            fm = meta
            head = (f"# {meta['title']}\n" if meta.get('title') else '') + (f"\n> {meta['description']}\n" if meta.get('description') else '')
            if head: cells.append(md_cell(head))
        elif cell['cell_type'] == 'markdown':
            if re.fullmatch(r'\s*(<!--.*?-->\s*)*', src_text, re.S): continue  # nbdev's "autogenerated" comment
            cells.append({**cell, 'source': fix(src_text, page)})
        else:
            opts, code = directives(src_text)
            if opts.get('include') == 'false': continue
            outputs = [] if opts.get('output') == 'false' else cell.get('outputs', [])
            echo = opts.get('echo') != 'false' and code.strip() != ''
            if opts.get('output') == 'asis':  # show_doc: its markdown becomes part of the page
                if echo: cells.append({**cell, 'source': code, 'outputs': []})
                text = _unlink_code('\n\n'.join(output_markdown(o) for o in outputs).strip())
                if text: cells.append(md_cell(fix(text, page)))
                continue
            if not echo and not outputs: continue
            for o in outputs:
                if 'text/markdown' in o.get('data', {}): o['data']['text/markdown'] = fix(_text(o['data']['text/markdown']), page)
            meta = dict(cell.get('metadata', {}))
            if not echo: meta['tags'] = meta.get('tags', []) + [HIDE_INPUT_TAG]
            cells.append({**cell, 'source': code, 'outputs': outputs, 'metadata': meta})
    if nb.get('nbformat', 4) >= 4 and nb.get('nbformat_minor', 0) >= 5:  # cell ids are required from nbformat 4.5
        seen = set()
        for i, c in enumerate(cells):
            if not c.get('id') or c['id'] in seen: c['id'] = f'ldmlr-{i}'
            seen.add(c['id'])
    nb['cells'] = cells
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text(json.dumps(nb, indent=1, ensure_ascii=False), encoding='utf-8')
    return fm

# ------------------------------------------------------------------------------------------------------------ results
def _demote(text:str, top:int=2) -> str:
    "Shift markdown headings (outside code fences) so that the highest becomes level `top`."
    lines, fence, levels = text.splitlines(), None, []
    for ln in lines:
        if re.match(r'\s*(```|~~~)', ln): fence = None if fence else ln.strip()[:3]
        elif not fence and (m := re.match(r'(#{1,6})\s', ln)): levels.append(len(m[1]))
    if not levels: return text
    shift, out, fence = top - min(levels), [], None
    for ln in lines:
        if re.match(r'\s*(```|~~~)', ln): fence = None if fence else ln.strip()[:3]
        elif not fence and (m := re.match(r'(#{1,6})(\s.*)', ln)): ln = '#' * min(6, max(1, len(m[1]) + shift)) + m[2]
        out.append(ln)
    return '\n'.join(out)

def results_page(results:Path, stage:Path) -> list[str]:
    "Write results.md from bench/results/*.md (images beside them are copied too); returns the files used."
    files = sorted(results.glob('*.md')) if results.is_dir() else []
    parts = ['# Results', 'Reproduction tables written by the `bench/` scripts into `bench/results/`; each one names the '
             'command that made it. Numbers here are only ever read from those files.']
    if not files: parts.append(NO_RESULTS)
    for f in files:
        text = f.read_text(encoding='utf-8').strip()
        if not re.search(r'^#{1,6}\s', text, re.M): text = f'## {f.stem}\n\n{text}'
        text = re.sub(r'(!?\]\()(?![a-z][\w+.-]*:|/|#)([^)\s]+)', r'\1bench-results/\2', _demote(text))
        parts.append(f'{text}\n\n<small>From `bench/results/{f.name}`.</small>')
        if not re.search(r'command', text, re.I): log(f'warning: bench/results/{f.name} does not say which command made it')
    for img in (results.rglob('*') if results.is_dir() else []):
        if img.suffix.lower() in IMAGE_EXTS:
            (stage/'bench-results'/img.relative_to(results)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(img, stage/'bench-results'/img.relative_to(results))
    (stage/'results.md').write_text('\n\n'.join(parts) + '\n', encoding='utf-8')
    return [f.name for f in files]

# ------------------------------------------------------------------------------------------------------------- assets
def copy_mathjax(stage:Path):
    "MathJax 2 from jupyter-server-mathjax, so notebook math renders without a CDN."
    try: import jupyter_server_mathjax
    except ImportError: sys.exit('docs: jupyter-server-mathjax is missing: run `bash tools/setup.sh` (installs the docs extra)')
    shutil.copytree(Path(jupyter_server_mathjax.__file__).parent/'static', stage/MATHJAX,  # English is built in
                    ignore=shutil.ignore_patterns('localization'))
    (stage/MATHJAX/'config'/'local').mkdir(parents=True, exist_ok=True)
    (stage/MATHJAX/'config'/'local'/'ldmlr.js').write_text(MATHJAX_LOCAL_CONFIG)

EXTERNAL = re.compile(r'<(script|link|img|iframe|source|video|audio)\b[^>]*?\s(?:src|href)=["\']?((?:https?:)?//[^"\'\s>]+)', re.I)

def check_offline(site:Path) -> list[str]:
    "Resources (scripts, styles, images, fonts) that pages would fetch from another host. Plain links are fine."
    bad = []
    for f in site.rglob('*.html'):
        for m in EXTERNAL.finditer(f.read_text(encoding='utf-8', errors='replace')):
            if m[1].lower() == 'link' and re.search(r'rel=["\']?(canonical|alternate)', m[0], re.I): continue
            bad.append(f'{f.relative_to(site)}: {m[2]}')
    for f in site.rglob('*.css'):
        for m in re.finditer(r'@import\s+(?:url\()?["\']?((?:https?:)?//[^"\')\s]+)', f.read_text(errors='replace')):
            bad.append(f'{f.relative_to(site)}: {m[1]}')
    return bad

def fix_mathjax_depth(site:Path):
    "custom_mathjax_url is relative to the top folder: correct it on pages in subfolders."
    for f in site.rglob('*.html'):
        depth = len(f.relative_to(site).parts) - 1
        if depth:
            t = f.read_text(encoding='utf-8')
            f.write_text(t.replace(f'src="{MATHJAX}/', f'src="{"../" * depth}{MATHJAX}/'), encoding='utf-8')

# ---------------------------------------------------------------------------------------------------------------- main
def build(site:Path, force:bool=False) -> Path:
    from nbdev.config import get_config
    from nbdev.serve import proc_nbs
    os.chdir(REPO)
    cfg = get_config()
    nbs, t0 = Path(cfg.nbs_path), time.time()
    if site.exists() and any(site.iterdir()) and not (site/'search'/'search_index.json').exists() and not (site/'sitemap.xml').exists():
        sys.exit(f'docs: {site} is not empty and is not a site built before: refusing to replace what is in it')

    fns = notebooks(nbs)
    if not fns: sys.exit(f'docs: no notebooks in {nbs}')
    log(f'nbdev processing of {len(fns)} notebooks into _proc/ (nbdev.serve.proc_nbs)')
    try:  # from nbs/, as the notebooks run (nbdev_test, tools/run_nbs.py): cells nbdev re-runs may read '../bench/results'
        os.chdir(nbs)
        proc_nbs(nbs, n_workers=min(2, os.cpu_count() or 1), force=force, skip_folder_re=SKIP_FOLDERS)
    except Exception as e:
        chain, x = [], e.__cause__
        while x is not None: chain.append(str(x)); x = x.__cause__
        root = [m[0] for t in chain for m in [re.search(r'^\w+(?:Error|Exception|Failure)\b:?.*$', t, re.M)] if m]
        mixed = mixed_import_cells(nbs, fns)
        sys.exit(f'docs: nbdev could not process a notebook. {e}\n  because: {root[0] if root else "see above"}\n'
                 '  To make the docs nbdev runs the exported cells, the show_doc cells and every cell that imports something, '
                 'without the cells in between: keep imports in cells of their own (nbdev FAQ).'
                 + (f' Cells that mix imports with other code:\n    ' + '\n    '.join(mixed) if mixed else ''))
    finally: os.chdir(REPO)
    t1 = time.time()

    shutil.rmtree(STAGE, ignore_errors=True); STAGE.mkdir(parents=True)
    pages = {f.as_posix(): f.with_suffix('.html').as_posix() for f in fns}
    by_output = {}
    for f in fns:  # nbdev's doc links name Quarto's pages (front matter `output-file`, e.g. core.html for 00_core)
        fm = front_matter(_text(json.loads((PROC/f).read_text(encoding='utf-8'))['cells'][0].get('source'))) if (PROC/f).exists() else None
        if fm and fm.get('output-file'): by_output[(f.parent/fm['output-file']).as_posix()] = pages[f.as_posix()]
    fix = link_fixer(pages, by_output, (cfg.get('doc_host', '') + cfg.get('doc_baseurl', '')) if cfg.get('doc_host') else '')
    for f in fns:
        if not (PROC/f).exists(): sys.exit(f'docs: nbdev did not process {nbs/f} (no {PROC/f})')
        stage_notebook(PROC/f, STAGE/f, pages[f.as_posix()], fix)
    for img in PROC.rglob('*'):  # images the notebooks' markdown links to (nbdev copies them into _proc/)
        if img.suffix.lower() in IMAGE_EXTS and STAGE not in img.parents:
            (STAGE/img.relative_to(PROC)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(img, STAGE/img.relative_to(PROC))
    used = results_page(RESULTS, STAGE)
    if EXTRA.is_dir(): shutil.copytree(EXTRA, STAGE, dirs_exist_ok=True)
    copy_mathjax(STAGE)
    t2 = time.time()

    from mkdocs.commands.build import build as mkdocs_build
    from mkdocs.config import load_config
    handler = logging.StreamHandler(sys.stdout); handler.setFormatter(logging.Formatter('mkdocs %(levelname)s: %(message)s'))
    logging.getLogger('mkdocs').addHandler(handler); logging.getLogger('mkdocs').setLevel(logging.WARNING)
    conf = load_config(str(REPO/'mkdocs.yml'), site_dir=str(site.resolve()), site_name=cfg.get('title', cfg.lib_name),
                       site_description=cfg.get('description', ''), copyright=f"Copyright {cfg.get('copyright', '')}")
    log(f'mkdocs build of {len(fns)} notebooks + results ({len(used)} bench files) into {site}')
    mkdocs_build(conf)
    fix_mathjax_depth(site)
    missing = [p for p in list(pages.values()) + ['results.html', 'search/search_index.json'] if not (site/p).exists()]
    if missing: sys.exit(f'docs: the build did not write {missing}')
    bad = check_offline(site)
    if bad: sys.exit('docs: pages would fetch from the internet:\n  ' + '\n  '.join(bad[:20]))
    log(f'built {site}/index.html in {time.time()-t0:.0f}s (nbdev {t1-t0:.0f}s, staging {t2-t1:.0f}s, mkdocs {time.time()-t2:.0f}s); '
        f'view it with: .venv/bin/python -m http.server -d {site} 8000 -b 127.0.0.1')
    return site

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('site', nargs='?', default='site', type=Path, help='where to write the site (default: site/)')
    p.add_argument('--force', action='store_true', help="reprocess every notebook, ignoring nbdev's _proc/ cache")
    a = p.parse_args()
    site = a.site if a.site.is_absolute() else Path.cwd()/a.site
    lock = Path(tempfile.gettempdir())/f'ldmlr-docs-{hashlib.sha256(str(REPO).encode()).hexdigest()[:12]}.lock'
    with open(lock, 'w') as fh:  # one build at a time per checkout: they share _proc/
        fcntl.flock(fh, fcntl.LOCK_EX)
        build(site, a.force)

if __name__ == '__main__': main()  # proc_nbs starts worker processes with `spawn`: they import this file
