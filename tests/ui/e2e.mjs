// e2e.mjs - Cairn's web UI in real headless Chromium (Debian's, through
// playwright-core), against a running `cairn agent -dev`.
//
//   node tests/ui/e2e.mjs BASE_URL RESULTS_DIR SCENARIO
//
// Runs one scenario and prints "OK <scenario>" or "FAIL <scenario>: why"
// (tests/integration/test_ui.py runs each as one harness test).  Screen-
// shots go to RESULTS_DIR.  A scenario that needs the agent stopped
// prints "NEED stop-agent" and waits for a line on stdin.  No timing is
// asserted: every wait is for a condition, bounded.
import { chromium } from 'playwright-core';
import { createInterface } from 'node:readline';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const [base, out, scenario] = process.argv.slice(2);
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const T = 20000; // the bound of every wait, ms
mkdirSync(out, { recursive: true });

function check(cond, what) {
  if (!cond) throw new Error(what);
}

// the HTTP API as a client sees it (not through the UI)
async function http(method, path, body) {
  const r = await fetch(base + path, { method, body });
  return { status: r.status, text: await r.text() };
}
async function ok(method, path, body) {
  const r = await http(method, path, body);
  check(r.status === 200, `${method} ${path}: ${r.status} ${r.text}`);
  return r.text;
}
async function waitFor(pred, what) {
  const end = Date.now() + T;
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out waiting for ' + what);
    await new Promise((r) => setTimeout(r, 100));
  }
}

let stdinLines = null;
function needStop() {
  if (!stdinLines) stdinLines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  process.stdout.write('NEED stop-agent\n');
  return stdinLines.next();
}

async function shot(page, name) {
  await page.screenshot({ path: join(out, name + '.png'), fullPage: true });
}

async function register(svc) {
  await ok('PUT', '/v1/agent/service/register', JSON.stringify(svc));
}

const scenarios = {
  // the services page lists a registered service, with health in words
  async services_page_lists_service(page) {
    await register({ ID: 'web1', Name: 'web', Port: 8080, Tags: ['v1', 'primary'],
      Check: { TTL: '600s', CheckID: 'web1-ttl', Status: 'passing' } });
    await register({ ID: 'web2', Name: 'web', Port: 8081, Tags: ['v1'],
      Check: { TTL: '600s', CheckID: 'web2-ttl', Status: 'warning' } });
    await register({ ID: 'db1', Name: 'db', Port: 5432, Tags: ['postgres'],
      Check: { TTL: '600s', CheckID: 'db1-ttl', Status: 'passing' } });
    await page.goto(base + '/ui/');
    const row = page.locator('tr[data-service="web"]');
    await row.waitFor({ timeout: T });
    await waitFor(async () => (await row.textContent()).includes('warning'), 'web as warning');
    const text = await row.textContent();
    check(text.includes('web') && text.includes('2') && text.includes('primary'), 'row: ' + text);
    await page.locator('tr[data-service="db"]').waitFor({ timeout: T });
    await shot(page, 'services');
    // the filter box
    await page.fill('input.filter', 'postgres');
    await page.locator('tr[data-service="web"]').waitFor({ state: 'detached', timeout: T });
    check(await page.locator('tr[data-service="db"]').count() === 1, 'db filtered away');
    await page.fill('input.filter', '');
  },

  // a check turning critical shows on the open pages without a reload
  async check_turns_critical_live(page) {
    await register({ ID: 'api1', Name: 'api', Port: 9090, Tags: ['rest'],
      Check: { TTL: '600s', CheckID: 'api1-ttl', Status: 'passing' } });
    await page.goto(base + '/ui/#/services');
    const row = page.locator('tr[data-service="api"]');
    await row.waitFor({ timeout: T });
    await waitFor(async () => (await row.locator('.badge').getAttribute('data-state')) === 'passing', 'api passing');
    await page.evaluate(() => { window.__noReload = 'still here'; });
    await ok('PUT', '/v1/agent/check/fail/api1-ttl?note=' + encodeURIComponent('connection refused'));
    await waitFor(async () => (await row.locator('.badge').getAttribute('data-state')) === 'critical',
      'the services row turning critical');
    check((await row.locator('.badge').textContent()).includes('critical'), 'the state in words');
    // the service page: the check and its output, then back to passing
    await row.locator('a').click();
    const chk = page.locator('li[data-check="api1-ttl"]');
    await chk.waitFor({ timeout: T });
    await waitFor(async () => (await chk.textContent()).includes('connection refused'), 'the output');
    await ok('PUT', '/v1/agent/check/pass/api1-ttl?note=' + encodeURIComponent('all good'));
    await waitFor(async () => (await chk.locator('.badge').getAttribute('data-state')) === 'passing' &&
      (await chk.textContent()).includes('all good'), 'the check passing again');
    await ok('PUT', '/v1/agent/check/fail/api1-ttl?note=' + encodeURIComponent('HTTP GET /health: 503'));
    await waitFor(async () => (await chk.locator('.badge').getAttribute('data-state')) === 'critical',
      'the check critical on the service page');
    check(await page.evaluate(() => window.__noReload) === 'still here', 'the page was reloaded');
    const inst = await page.locator('section.card').first().textContent();
    check(inst.includes('api1') && inst.includes('9090') && inst.includes('rest'), 'instance: ' + inst);
    await shot(page, 'service');
  },

  // nodes: address, health, services; one node: its checks and services
  async nodes_and_node_pages(page) {
    await page.goto(base + '/ui/#/nodes');
    const row = page.locator('tr[data-node]').first();
    await row.waitFor({ timeout: T });
    const node = await row.getAttribute('data-node');
    const text = await row.textContent();
    check(text.includes('consul') && /passing|warning|critical/.test(text), 'node row: ' + text);
    await shot(page, 'nodes');
    await row.locator('a').click();
    await page.locator('li[data-check="serfHealth"]').waitFor({ timeout: T });
    const body = await page.locator('main').textContent();
    check(body.includes('Serf Health Status') && body.includes('consul') && body.includes(node), 'node page');
    await shot(page, 'node');
  },

  // KV: create, edit and delete through the UI; the API agrees each time
  async kv_create_edit_delete(page) {
    await ok('PUT', '/v1/kv/app/feature-flags', 'beta=on');
    await page.goto(base + '/ui/#/kv/');
    await page.locator('tr[data-key="app/"]').waitFor({ timeout: T });
    await page.locator('tr[data-key="app/"] a').click();
    await page.locator('tr[data-key="app/feature-flags"]').waitFor({ timeout: T });
    await page.fill('#kv-new-key', 'greeting');
    await page.fill('#kv-new-value', 'hello');
    await page.click('#kv-create');
    await waitFor(async () => (await page.locator('#kv-value').textContent().catch(() => '')) === 'hello', 'the new key shown');
    check(decodeURIComponent(new URL(page.url()).hash) === '#/kv/app/greeting', 'url ' + page.url());
    check(await ok('GET', '/v1/kv/app/greeting?raw') === 'hello', 'API after create');
    await page.fill('#kv-edit', 'hello, world\nsecond line');
    await page.click('#kv-save');
    await waitFor(async () => (await page.locator('#kv-value').textContent()) === 'hello, world\nsecond line', 'the edit shown');
    check(await ok('GET', '/v1/kv/app/greeting?raw') === 'hello, world\nsecond line', 'API after edit');
    await shot(page, 'kv');
    await page.click('#kv-delete');
    await page.click('#kv-delete-yes');
    await page.locator('tr[data-key="app/feature-flags"]').waitFor({ timeout: T });
    check((await http('GET', '/v1/kv/app/greeting')).status === 404, 'API after delete');
    check(await page.locator('tr[data-key="app/greeting"]').count() === 0, 'deleted key still listed');
    // a binary value is shown as base64
    await ok('PUT', '/v1/kv/app/blob', new Uint8Array([0, 255, 1, 2]));
    await page.goto(base + '/ui/#/kv/app/blob');
    await page.locator('#kv-value').waitFor({ timeout: T });
    check(await page.locator('#kv-value').textContent() === 'AP8BAg==', 'base64 shown');
    check((await page.locator('main').textContent()).includes('Binary value, shown as base64'), 'binary said');
    await shot(page, 'kv-binary');
    // and edited as base64 it stays binary
    await page.fill('#kv-edit', 'AAEC');
    await page.click('#kv-save');
    await waitFor(async () => (await page.locator('#kv-value').textContent()) === 'AAEC', 'the binary edit');
    const rows = JSON.parse(await ok('GET', '/v1/kv/app/blob'));
    check(rows[0].Value === 'AAEC', 'API binary: ' + rows[0].Value);
  },

  // keys, tags, check output and values with markup render as text
  async markup_renders_as_text(page) {
    const script = '<script>alert(1)</script>';
    const img = '<img src=x onerror=alert(1)>';
    const dialogs = [];
    page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss().catch(() => {}); });
    await register({ ID: 'xss1', Name: 'xss', Port: 1, Tags: [script, img],
      Check: { TTL: '600s', CheckID: 'xss1-ttl', Status: 'passing' } });
    await ok('PUT', '/v1/agent/check/fail/xss1-ttl?note=' + encodeURIComponent(script + img));
    await ok('PUT', '/v1/kv/xss/' + encodeURIComponent(img), script);
    await ok('PUT', '/v1/kv/xss/' + encodeURIComponent(script).replace(/%2F/g, '/'), img);
    const injected = () => page.evaluate(() =>
      document.querySelectorAll('main img, main script, #banner img, #banner script').length +
      document.querySelectorAll('script').length - 1);

    await page.goto(base + '/ui/#/services');
    await page.locator('tr[data-service="xss"]').waitFor({ timeout: T });
    await page.getByText(script, { exact: true }).first().waitFor({ timeout: T });
    await page.getByText(img, { exact: true }).first().waitFor({ timeout: T });
    check(await injected() === 0, 'an element was injected on the services page');

    await page.goto(base + '/ui/#/service/xss');
    await page.locator('li[data-check="xss1-ttl"] pre.output').waitFor({ timeout: T });
    check(await page.locator('li[data-check="xss1-ttl"] pre.output').textContent() === script + img, 'check output');
    check(await page.getByText(script, { exact: true }).count() >= 1, 'the tag as text');
    check(await injected() === 0, 'an element was injected on the service page');
    await shot(page, 'markup-service');

    await page.goto(base + '/ui/#/kv/xss/');
    await page.locator(`tr[data-key="xss/${img}"]`).waitFor({ timeout: T });
    check((await page.locator(`tr[data-key="xss/${img}"] a`).textContent()).endsWith(img), 'the key as text');
    await page.locator(`tr[data-key="xss/${img}"] a`).click();
    await page.locator('#kv-value').waitFor({ timeout: T });
    check(await page.locator('#kv-value').textContent() === script, 'the value as text');
    check(await page.locator('h2.keyname').textContent() === 'xss/' + img, 'the key name');
    check(await injected() === 0, 'an element was injected on the key page');
    await page.goto(base + '/ui/#/kv/xss/' + encodeURIComponent('<script>alert(1)<') + '/' + encodeURIComponent('script>'));
    await page.locator('#kv-value').waitFor({ timeout: T });
    check(await page.locator('h2.keyname').textContent() === 'xss/' + script, 'the script key name');
    check(await page.locator('#kv-value').textContent() === img, 'the img value');
    check(await injected() === 0, 'an element was injected on the second key page');
    check(dialogs.length === 0, 'a dialog opened: ' + dialogs.join(', '));
  },

  // the datacenter switcher lists dc1, and every API call names it
  async dc_switcher(page) {
    const urls = [];
    page.on('request', (r) => { if (r.url().includes('/v1/')) urls.push(r.url()); });
    await page.goto(base + '/ui/#/nodes');
    await page.locator('#dc[data-loaded="true"]').waitFor({ state: 'attached', timeout: T });
    const opts = await page.locator('#dc option').evaluateAll((os) => os.map((o) => o.value));
    check(opts.includes('dc1'), 'options: ' + opts.join(','));
    await page.selectOption('#dc', 'dc1');
    await page.locator('tr[data-node]').first().waitFor({ timeout: T });
    await waitFor(() => urls.some((u) => u.includes('/v1/internal/ui/nodes') && u.includes('dc=dc1')), 'a call with dc=dc1');
    const after = urls.slice(urls.findIndex((u) => u.includes('dc=dc1')));
    const missing = after.filter((u) => !u.includes('dc=dc1'));
    check(missing.length === 0, 'calls without dc: ' + missing.join(' '));
  },

  // the ACL token from the settings goes with reads and writes
  async token_sent(page) {
    const seen = [];
    page.on('request', (r) => {
      if (r.url().includes('/v1/')) seen.push([r.method(), r.url(), r.headers()['x-consul-token']]);
    });
    await page.goto(base + '/ui/#/settings');
    await page.fill('#token', 'b1gs3cr3t-token');
    await page.click('#token-save');
    await page.getByText('Saved').waitFor({ timeout: T });
    seen.length = 0; // from now on, every call carries it
    await page.goto(base + '/ui/#/kv/');
    await page.fill('#kv-new-key', 'tokened');
    await page.fill('#kv-new-value', 'x');
    await page.click('#kv-create');
    await page.locator('#kv-value').waitFor({ timeout: T });
    const put = seen.find(([m, u]) => m === 'PUT' && u.includes('/v1/kv/tokened'));
    check(put && put[2] === 'b1gs3cr3t-token', 'the PUT without the token');
    const gets = seen.filter(([m]) => m === 'GET');
    check(gets.length > 0 && gets.every(([, , t]) => t === 'b1gs3cr3t-token'), 'a GET without the token');
    await ok('DELETE', '/v1/kv/tokened');
  },

  // an error the agent answers is shown: a value over the limit (413)
  async error_shown_too_large(page) {
    await page.goto(base + '/ui/#/kv/');
    await page.locator('#kv-new-key').waitFor({ timeout: T });
    await page.fill('#kv-new-key', 'too-big');
    await page.fill('#kv-new-value', 'x'.repeat(5000));
    await page.click('#kv-create');
    const banner = page.locator('#banner');
    await waitFor(async () => (await banner.textContent()).includes('413'), 'the 413 banner');
    check(await banner.isVisible(), 'banner hidden');
    check((await http('GET', '/v1/kv/too-big')).status === 404, 'the value was stored');
    check(await page.locator('#kv-new-key').isVisible(), 'the page went blank');
    await shot(page, 'error-413');
  },

  // a background tab starts no new long-polls; back in front it catches up
  async background_tab_rests(page) {
    const started = [];
    page.on('request', (r) => { if (r.url().includes('/v1/kv/bg/')) started.push(r.url()); });
    await ok('PUT', '/v1/kv/bg/a', '1');
    await page.goto(base + '/ui/#/kv/bg/');
    await page.locator('tr[data-key="bg/a"]').waitFor({ timeout: T });
    await waitFor(() => started.some((u) => u.includes('index=')), 'a blocking query');
    await page.evaluate(() => {
      Object.defineProperty(document, 'hidden', { configurable: true, get: () => true });
      document.dispatchEvent(new Event('visibilitychange'));
    });
    await ok('PUT', '/v1/kv/bg/b', '2'); // ends the long-poll in flight
    await page.locator('#live[data-state="paused"]').waitFor({ timeout: T });
    const n = started.length;
    for (const k of ['c', 'd', 'e']) await ok('PUT', '/v1/kv/bg/' + k, k);
    await page.waitForTimeout(1500);
    check(started.length === n, `requests while hidden: ${started.length - n}`);
    await page.evaluate(() => {
      delete document.hidden;
      document.dispatchEvent(new Event('visibilitychange'));
    });
    await page.locator('tr[data-key="bg/e"]').waitFor({ timeout: T });
  },

  // the agent goes away: a banner says so, the last data stays
  async no_leader_banner(page) {
    // base is a lone server waiting for two more (-bootstrap-expect 3)
    await page.goto(base + '/ui/#/services');
    const banner = page.locator('#banner');
    await waitFor(async () => (await banner.textContent()).includes('No cluster leader'), 'the no-leader banner');
    check(await banner.isVisible(), 'banner hidden');
    await shot(page, 'no-leader');
  },
  async network_down_banner(page) {
    await page.goto(base + '/ui/#/services');
    await page.locator('tr[data-service="consul"]').waitFor({ timeout: T });
    await needStop();
    const banner = page.locator('#banner');
    await waitFor(async () => (await banner.textContent()).includes('Cannot reach the Cairn agent'), 'the banner');
    check(await banner.isVisible(), 'banner hidden');
    check(await page.locator('tr[data-service="consul"]').count() === 1, 'the list went away');
    await shot(page, 'network-down');
  },
};

const fn = scenarios[scenario];
if (!fn) {
  console.log(`FAIL ${scenario}: no such scenario (${Object.keys(scenarios).join(', ')})`);
  process.exit(2);
}
const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
let failed = false;
try {
  const page = await browser.newPage({ viewport: { width: 1200, height: 760 } });
  const problems = [];
  page.on('pageerror', (e) => problems.push('page error: ' + e.message));
  page.setDefaultTimeout(T);
  await fn(page);
  check(problems.length === 0, problems.join('; '));
  console.log('OK ' + scenario);
} catch (e) {
  failed = true;
  console.log(`FAIL ${scenario}: ${e.stack || e}`);
} finally {
  await browser.close().catch(() => {});
}
process.exit(failed ? 1 : 0);
