"""The documentation site in a real browser.

`bash tools/docs.sh` builds the site once per session into a temporary folder; it is served from 127.0.0.1 and opened in
headless Debian Chromium (driven by Selenium): the home page, a stage page (01_data when it exists, else 00_core), the
search box and the plots. Screenshots go to each test's tmp_path. Needs chromium + chromium-driver:
`LDMLR_SETUP_BROWSER=1 bash tools/setup.sh` (tools/test.sh does that)."""
import functools, http.server, importlib.util, json, re, subprocess, sys, tempfile, threading, time
from configparser import ConfigParser
from pathlib import Path

import pytest
from fastcore.xtras import working_directory

REPO = Path(__file__).resolve().parents[1]
NBS = REPO/'nbs'
CHROMIUM, CHROMEDRIVER = Path('/usr/bin/chromium'), Path('/usr/bin/chromedriver')
SETUP_HINT = "run `LDMLR_SETUP_BROWSER=1 bash tools/setup.sh` (tools/test.sh does) to install Debian's chromium and chromium-driver"
IMAGE_MIMES = ('image/png', 'image/jpeg', 'image/svg+xml', 'image/gif')

def _build_docs_module():
    spec = importlib.util.spec_from_file_location('build_docs', REPO/'tools'/'build_docs.py')
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    return mod

bd = _build_docs_module()

def site_title() -> str:
    c = ConfigParser(delimiters=['=']); c.read(REPO/'settings.ini', encoding='utf-8')
    return c['DEFAULT']['title']

def nb_json(rel:Path) -> dict: return json.loads((NBS/rel).read_text(encoding='utf-8'))

def nb_headings(rel:Path) -> tuple[str, list[str]]:
    "The notebook's `# Title` and its `## ` headings, from its markdown cells."
    title, h2 = None, []
    for c in nb_json(rel)['cells']:
        if c['cell_type'] != 'markdown': continue
        src = ''.join(c['source'])
        src = re.sub(r'```.*?```', '', src, flags=re.S)
        if title is None and (m := re.search(r'^#\s+(.+?)\s*$', src, re.M)): title = m[1]
        h2 += [re.sub(r'[`*]', '', m[1]).strip() for m in re.finditer(r'^##\s+(.+?)\s*$', src, re.M)]
    return title, h2

def nb_has_images(rel:Path) -> bool:
    return any(m in o.get('data', {}) for c in nb_json(rel)['cells'] for o in c.get('outputs', []) for m in IMAGE_MIMES)

def nb_has_exports(rel:Path) -> bool:
    return any(c['cell_type'] == 'code' and re.match(r'\s*#\s?\|\s*export\b', ''.join(c['source'])) for c in nb_json(rel)['cells'])

with working_directory(REPO): ALL_NBS = bd.notebooks(NBS)  # nbdev reads settings.ini from the working directory
STAGES = [f for f in ALL_NBS if f.stem != 'index']
STAGE = next((f for f in STAGES if f.stem == '01_data'), next((f for f in STAGES if f.stem == '00_core'), STAGES[0] if STAGES else None))
def page(rel:Path) -> str: return rel.with_suffix('.html').as_posix()

# -------------------------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope='session')
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp('docs')/'site'
    t = time.time()
    r = subprocess.run(['bash', 'tools/docs.sh', str(out)], cwd=REPO, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, f'`bash tools/docs.sh` failed:\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}'
    print(f'\ndocs site built in {time.time()-t:.0f}s: {out}')
    return out

@pytest.fixture(scope='session')
def server(site):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *a): pass
    httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(Quiet, directory=str(site)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f'http://127.0.0.1:{httpd.server_address[1]}'
    httpd.shutdown(); httpd.server_close()

@pytest.fixture(scope='session')
def browser(tmp_path_factory):
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing: pytest.fail(f'{" and ".join(missing)} not found: {SETUP_HINT}', pytrace=False)
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError: pytest.fail('selenium is not installed: run `bash tools/setup.sh` (installs the docs extra)', pytrace=False)
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for a in ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
              '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage', '--window-size=1400,1000',
              f'--user-data-dir={tmp_path_factory.mktemp("chromium-profile")}']:
        opts.add_argument(a)
    d = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=opts)
    d.set_page_load_timeout(60)
    yield d
    d.quit()

# ---------------------------------------------------------------------------------------------------------------- helpers
IMAGES_JS = """return Array.from(document.querySelectorAll('article img')).map(
    i => ({src: i.getAttribute('src').slice(0, 60), complete: i.complete, width: i.naturalWidth}));"""

def open_page(d, url:str):
    from selenium.webdriver.support.ui import WebDriverWait
    d.get(url)
    WebDriverWait(d, 30).until(lambda d: d.execute_script(
        "return document.readyState === 'complete' && Array.from(document.images).every(i => i.complete)"))

def texts(d, css:str) -> list[str]:
    from selenium.webdriver.common.by import By
    return [e.text.replace('¶', '').strip() for e in d.find_elements(By.CSS_SELECTOR, css)]

def shot(d, path:Path) -> Path:
    d.save_screenshot(str(path)); print(f'screenshot: {path}')
    assert path.stat().st_size > 0
    return path

# ------------------------------------------------------------------------------------------------------------------ tests
def test_site_has_every_notebook_and_fetches_nothing(site):
    assert ALL_NBS and ALL_NBS[0].stem == 'index'
    for f in ALL_NBS: assert (site/page(f)).is_file(), f'no page for nbs/{f}'
    results = (site/'results.html').read_text()
    bench = sorted((REPO/'bench'/'results').glob('*.md'))
    if bench: assert 'No results yet' not in results and all(f'bench/results/{f.name}' in results for f in bench)
    else: assert 'No results yet' in results
    assert bd.check_offline(site) == [], 'pages load resources from the internet'

def test_index_page(browser, server, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    open_page(browser, f'{server}/index.html')
    title, h2 = nb_headings(Path('index.ipynb'))
    assert site_title() in browser.title
    assert texts(browser, 'article h1')[:1] == [title], 'the home page is not nbs/index.ipynb'
    assert h2 and h2[0] in texts(browser, 'article h2')
    nav = [a.get_attribute('href') for a in browser.find_elements(By.CSS_SELECTOR, 'nav.md-nav--primary a.md-nav__link')]
    for f in STAGES + [Path('results.md')]:
        assert any(h and h.endswith('/' + page(f)) for h in nav), f'{page(f)} is not in the sidebar'
    links = [a.get_attribute('href') or '' for a in browser.find_elements(By.CSS_SELECTOR, 'article a')]
    assert not [h for h in links if h.startswith(server) and '.ipynb' in h], 'links to notebooks should point at their pages'
    box = browser.find_element(By.CSS_SELECTOR, 'input.md-search__input')
    shot(browser, tmp_path/'index.png')
    # search runs in the browser from site/search/search_index.json: find the stage page by its title
    stage_title, _ = nb_headings(STAGE)
    box.click(); box.send_keys(stage_title)
    WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, '.md-search-result__item a'))
    hits = [a.get_attribute('href') for a in browser.find_elements(By.CSS_SELECTOR, '.md-search-result__item a')]
    assert any(page(STAGE) in h for h in hits), f'searching {stage_title!r} did not find {page(STAGE)}: {hits[:5]}'
    shot(browser, tmp_path/'search.png')

def test_stage_page(browser, server, tmp_path):
    from selenium.webdriver.common.by import By
    open_page(browser, f'{server}/{page(STAGE)}')
    title, h2 = nb_headings(STAGE)
    assert browser.title.startswith(title) and site_title() in browser.title
    assert texts(browser, 'article h1')[:1] == [title]
    assert h2 and h2[0] in texts(browser, 'article h2')
    assert browser.find_elements(By.CSS_SELECTOR, 'input.md-search__input'), 'no search box'
    body = browser.find_element(By.CSS_SELECTOR, 'article').text
    assert '#|' not in body, 'cell directives are showing'
    assert 'show_doc(' not in body, 'show_doc cells should show their output only'
    if nb_has_exports(STAGE):  # nbdev's show_doc: a heading and the signature of each exported function
        sigs = [t for t in texts(browser, 'article .jp-RenderedMarkdown pre') if re.match(r'(async )?(def|class) \w+', t)]
        assert sigs, 'no API signatures on the page'
        name = re.match(r'(?:async )?(?:def|class) (\w+)', sigs[0])[1]
        assert name in texts(browser, 'article h3, article h4'), f'no heading for {name}'
        prose = ' '.join(texts(browser, 'article .jp-RenderedMarkdown :is(p, li, td, pre)'))
        assert not re.search(r'\]\(|\{target=', prose), 'markdown link syntax is showing'
    shot(browser, tmp_path/f'{STAGE.stem}.png')

def test_plots_load(browser, server, tmp_path):
    "Every <img> on every page loads; pages of notebooks with plots show them."
    loaded, broken, first = {}, [], None
    for f in ALL_NBS:
        open_page(browser, f'{server}/{page(f)}')
        imgs = browser.execute_script(IMAGES_JS)
        broken += [f'{page(f)}: {i["src"]}' for i in imgs if i['width'] == 0]
        loaded[f] = sum(i['width'] > 0 for i in imgs)
        if imgs and first is None and f.stem != 'index':
            first = f
            assert all(i['width'] > 0 for i in imgs), f'images did not load on {page(f)}: {imgs}'
            browser.execute_script("document.querySelector('article img').scrollIntoView({block: 'center'})"); time.sleep(0.3)
            shot(browser, tmp_path/f'plot-{f.stem}.png')
    assert not broken, f'images that did not load: {broken}'
    with_plots = [f for f in STAGES if nb_has_images(f)]
    for f in with_plots: assert loaded[f] > 0, f'nbs/{f} has plots but {page(f)} shows none'
    if with_plots or (NBS/'01_data.ipynb').exists():  # 01_data draws the class counts
        assert sum(loaded[f] for f in STAGES) >= 1 and first is not None, \
            'no stage page shows a plot: run `python tools/run_nbs.py nbs/NN_name.ipynb` so notebooks carry their outputs'
