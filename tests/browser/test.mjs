// The OPNsense widget and events page of mailpulse in headless Chromium, fed by a live daemon.
//
// Needs MAILPULSE (the binary) and MAILPULSE_SOCKET (a running daemon's control socket, with
// the traffic of live-daemon.sh judged), as live-daemon.sh provides. Starts server.py (the
// OPNsense stand-in), loads the dashboard widget and the events page, and checks what they show
// against the daemon's own JSON, read here with the same CLI. Saves docs/screenshots/widget.png
// and docs/screenshots/events.png. Last line: "N passed, N failed"; exit 1 on any failure.

import {spawn, execFileSync} from 'node:child_process';
import {mkdtempSync, mkdirSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {dirname, join} from 'node:path';
import {fileURLToPath} from 'node:url';
import {chromium} from 'playwright-core';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..', '..');
const SHOTS = join(ROOT, 'docs', 'screenshots');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let passed = 0;
let failed = 0;

function check(name, ok, detail = '') {
    if (ok) {
        passed += 1;
        console.log(`ok      ${name}`);
    } else {
        failed += 1;
        console.log(`FAILED  ${name}${detail ? `: ${detail}` : ''}`);
    }
    return ok;
}

function equal(name, actual, expected) {
    return check(name, actual === expected,
        `got ${JSON.stringify(actual)}, expected ${JSON.stringify(expected)}`);
}

function finish(code) {
    console.log(`${passed} passed, ${failed} failed`);
    process.exit(code ?? (failed === 0 && passed > 0 ? 0 : 1));
}

// The daemon's answer, read with the CLI the way configd runs it (independently of server.py).
function daemon(...args) {
    const out = execFileSync(process.env.MAILPULSE,
        [args[0], '--json', '--socket', process.env.MAILPULSE_SOCKET, ...args.slice(1)],
        {encoding: 'utf8', timeout: 20000});
    return JSON.parse(out);
}

// Milliseconds of a probe's last run: the sum of its phases (`duration_ms` each).
function probeMs(probe) {
    if (!probe.last || !Array.isArray(probe.last.phases)) {
        return null;
    }
    return probe.last.phases.reduce((t, p) => t + p.duration_ms, 0);
}

function startServer(env = process.env) {
    return new Promise((resolve, reject) => {
        const child = spawn('python3', [join(HERE, 'server.py')], {stdio: ['ignore', 'pipe', 'inherit'], env});
        let buffered = '';
        const timer = setTimeout(() => reject(new Error('server.py did not start within 10 s')), 10000);
        child.stdout.on('data', chunk => {
            buffered += chunk;
            const m = buffered.match(/listening on (http:\/\/\S+)/);
            if (m) {
                clearTimeout(timer);
                resolve({child, url: m[1]});
            }
        });
        child.on('exit', code => reject(new Error(`server.py exited (${code})`)));
    });
}

async function sleep(ms) {
    return new Promise(r => setTimeout(r, ms));
}

// Computed colour of an element with this Bootstrap class, for comparing against.
async function classColour(page, css) {
    return page.evaluate(cls => {
        const probe = document.createElement('span');
        probe.className = cls;
        document.body.appendChild(probe);
        const colour = getComputedStyle(probe).color;
        probe.remove();
        return colour;
    }, css);
}

async function widgetChecks(page, base) {
    const errors = [];
    page.on('pageerror', e => errors.push(String(e)));
    page.on('console', m => { if (m.type() === 'error') errors.push(m.text()); });

    const before = daemon('status');
    await page.goto(`${base}/ui/dashboard/`);
    await page.waitForFunction(() => window.mailpulseWidget && window.mailpulseWidget.ticks >= 1,
        null, {timeout: 15000});
    const after = daemon('status');
    const snapshots = [before, after];

    const tickError = await page.evaluate(() => window.mailpulseWidget.lastError);
    equal('widget: first tick finished without an error', tickError, null);

    const health = await page.$$eval('#mailpulse-health > .flextable-row', rows => rows.map(r => {
        const cells = r.querySelectorAll(':scope > .flex-cell');
        const value = cells[1];
        const coloured = value && value.querySelector('i.fa-circle');
        return {
            header: cells[0] ? cells[0].textContent.trim() : '',
            text: value ? value.textContent.trim() : '',
            dotColour: coloured ? getComputedStyle(coloured).color : null
        };
    }));
    const success = await classColour(page, 'text-success');
    const warning = await classColour(page, 'text-warning');
    const danger = await classColour(page, 'text-danger');

    // WAN row: the daemon's WAN state, green when up.
    const wan = health.find(r => r.header === 'WAN');
    check('widget: has a WAN row', !!wan, JSON.stringify(health));
    if (wan) {
        equal('widget: WAN shows the daemon\'s WAN state', wan.text, after.engine.wan.state);
        if (after.engine.wan.state === 'up') {
            equal('widget: WAN up is green (text-success)', wan.dotColour, success);
        }
    }

    // One row per probe target, with state, and latency (or the failure) from the daemon.
    const probes = after.engine.probes;
    check('widget: the daemon reports probe targets', probes.length >= 2, `${probes.length}`);
    for (const probe of probes) {
        const row = health.find(r => r.header === probe.target);
        if (!check(`widget: row for probe ${probe.target}`, !!row, JSON.stringify(health.map(r => r.header)))) {
            continue;
        }
        const states = snapshots.map(s => s.engine.probes.find(p => p.target === probe.target)).filter(Boolean);
        check(`widget: ${probe.target} shows its state (${probe.state})`,
            states.some(p => row.text.startsWith(p.state)), row.text);
        if (probe.state === 'failed') {
            const errorsSeen = states.map(p => p.last && p.last.failure && p.last.failure.error).filter(Boolean);
            check(`widget: ${probe.target} shows the daemon's failure text`,
                errorsSeen.some(e => row.text.includes(e)), `${row.text} vs ${JSON.stringify(errorsSeen)}`);
            equal(`widget: failed probe ${probe.target} is red (text-danger)`, row.dotColour, danger);
        } else {
            const m = row.text.match(/\((\d+) ms\)/);
            const expected = states.map(p => Math.round(probeMs(p)));
            check(`widget: ${probe.target} shows the daemon's latency`, !!m && expected.includes(Number(m[1])),
                `${row.text} vs ${JSON.stringify(expected)} ms`);
            if (probe.state === 'ok') {
                equal(`widget: ok probe ${probe.target} is green`, row.dotColour, success);
            }
        }
    }

    // Failed sessions: each with its verdict text, client, server and password judgement.
    const readFailures = () => page.$$eval('#mailpulse-failures > .grid-row', rows => rows.map(r => {
        const items = [...r.querySelectorAll(':scope > .grid-item')];
        const verdict = items[3] && items[3].querySelector('span');
        const password = items[4] && items[4].querySelector('span');
        const link = items[1] && items[1].querySelector('a');
        return {
            cells: items.map(i => i.textContent.trim()),
            href: link ? link.getAttribute('href') : null,
            verdictColour: verdict ? getComputedStyle(verdict).color : null,
            passwordColour: password ? getComputedStyle(password).color : null
        };
    }));
    const failures = daemon('events', '--failures', '--limit', '10').filter(e => e.kind === 'session-failed');
    let rows = await readFailures();
    check('widget: the daemon judged failed sessions', failures.length >= 2, `${failures.length}`);
    equal('widget: one row per failed session', rows.length, failures.length);
    for (const verdict of ['auth-rejected', 'upstream-unreachable']) {
        check(`widget: the daemon has a ${verdict} session`, failures.some(e => e.verdict === verdict));
    }
    for (const event of failures) {
        const row = rows.find(r => r.cells[3] === event.verdict && r.cells[1] === event.client &&
            r.cells[2] === (event.server_name || event.server));
        if (!check(`widget: row for event ${event.id} (${event.verdict}, ${event.client} -> ${event.server_name})`,
            !!row, JSON.stringify(rows.map(r => r.cells)))) {
            continue;
        }
        equal(`widget: event ${event.id} client links to its explanation`, row.href,
            `/ui/mailpulse/explain/?ip=${encodeURIComponent(event.client)}`);
        const expectPassword = {rejected: 'Rejected', 'not-at-fault': 'Not at fault'}[event.credentials];
        equal(`widget: event ${event.id} password column`, row.cells[4], expectPassword);
        const colour = event.credentials === 'rejected' ? danger : warning;
        equal(`widget: event ${event.id} verdict colour (${event.credentials})`, row.verdictColour, colour);
        equal(`widget: event ${event.id} password colour (${event.credentials})`, row.passwordColour, colour);
    }
    const rejected = rows.find(r => r.cells[3] === 'auth-rejected');
    const notAtFault = rows.find(r => r.cells[3] === 'upstream-unreachable');
    if (rejected && notAtFault) {
        check('widget: password-at-fault colour differs from not-at-fault colour',
            rejected.verdictColour !== notAtFault.verdictColour,
            `${rejected.verdictColour} vs ${notAtFault.verdictColour}`);
    }
    if (rows.length > 0 && failures.length > 0) {
        const newest = failures[failures.length - 1];
        equal('widget: newest failure is listed first', rows[0].cells[3], newest.verdict);
    }

    // A later tick with changed data redraws the same rows (no duplicates piling up).
    const firstState = JSON.stringify(after.engine.probes);
    for (let i = 0; i < 60 && JSON.stringify(daemon('status').engine.probes) === firstState; i++) {
        await sleep(250);
    }
    await page.evaluate(() => window.mailpulseWidget.tick());
    rows = await readFailures();
    equal('widget: after another tick, still one row per failed session', rows.length,
        daemon('events', '--failures', '--limit', '10').filter(e => e.kind === 'session-failed').length);

    equal('widget: no JavaScript errors', errors.join(' | '), '');
    const card = await page.$('#widget-mailpulse');
    await card.screenshot({path: join(SHOTS, 'widget.png')});
}

// The same widget when nothing answers on the socket: the "not running" message, no rows.
async function stoppedChecks(page) {
    const socket = join(tmpdir(), `mpb-no-daemon-${process.pid}.sock`);
    const server = await startServer({...process.env, MAILPULSE_SOCKET: socket});
    try {
        await page.goto(`${server.url}/ui/dashboard/`);
        await page.waitForFunction(() => window.mailpulseWidget && window.mailpulseWidget.ticks >= 1,
            null, {timeout: 15000});
        const health = await page.$$eval('#mailpulse-health > .flextable-row',
            rows => rows.map(r => [...r.children].map(c => c.textContent.trim()).join(' | ')));
        equal('stopped daemon: the widget says it is not running', JSON.stringify(health),
            JSON.stringify(['MailPulse | MailPulse is not running']));
        equal('stopped daemon: no failure rows', await page.$$eval('#mailpulse-failures > .grid-row',
            rows => rows.length), 0);
    } finally {
        server.child.kill();
    }
}

async function eventsChecks(page, base) {
    const errors = [];
    page.on('pageerror', e => errors.push(String(e)));
    page.on('console', m => { if (m.type() === 'error') errors.push(m.text()); });

    const before = daemon('events', '--limit', '500');
    await page.goto(`${base}/ui/mailpulse/events/`);
    await page.waitForSelector('#grid-events[data-loaded]', {timeout: 15000});
    const after = daemon('events', '--limit', '500');
    equal('events page: grid loaded', await page.getAttribute('#grid-events', 'data-loaded'), 'true');

    const rows = await page.$$eval('#grid-events tbody tr', trs => trs.map(tr => {
        const cell = id => tr.querySelector(`td[data-column="${id}"]`);
        const text = id => (cell(id) ? cell(id).textContent.trim() : null);
        const span = id => (cell(id) ? cell(id).querySelector('span') : null);
        const link = cell('client') && cell('client').querySelector('a');
        return {
            id: text('id'), time: text('time'),
            timeTitle: cell('time') && cell('time').querySelector('span')
                ? cell('time').querySelector('span').getAttribute('title') : null, verdict: text('verdict'), credentials: text('credentials'),
            client: text('client'), server: text('server'), message: text('message'), advice: text('advice'),
            href: link ? link.getAttribute('href') : null,
            verdictColour: span('verdict') ? getComputedStyle(span('verdict')).color : null,
            credentialsColour: span('credentials') ? getComputedStyle(span('credentials')).color : null
        };
    }));
    check('events page: one row per daemon event', rows.length >= before.length && rows.length <= after.length,
        `${rows.length} rows, daemon had ${before.length}..${after.length}`);
    const ids = rows.map(r => Number(r.id));
    const maxBefore = Math.max(...before.map(e => e.id));
    const maxAfter = Math.max(...after.map(e => e.id));
    check('events page: newest event first', ids.length > 0 && ids[0] >= maxBefore && ids[0] <= maxAfter,
        `first id ${ids[0]}, daemon's newest ${maxBefore}..${maxAfter}`);
    check('events page: ids descend', ids.every((id, i) => i === 0 || id < ids[i - 1]), JSON.stringify(ids));
    const warning = await classColour(page, 'text-warning');
    const danger = await classColour(page, 'text-danger');
    const labels = {rejected: 'Password rejected', 'not-at-fault': 'Not the password', ok: 'Accepted'};
    const byId = new Map(rows.map(r => [Number(r.id), r]));
    for (const event of after.filter(e => e.kind === 'session-failed' || e.kind.startsWith('wan-'))) {
        const row = byId.get(event.id);
        if (!check(`events page: row for event ${event.id} (${event.kind})`, !!row)) {
            continue;
        }
        equal(`events page: event ${event.id} message`, row.message, event.message);
        equal(`events page: event ${event.id} exact time on hover`, row.timeTitle, event.time);
        equal(`events page: event ${event.id} local time`, row.time,
            await page.evaluate(t => new Date(t).toLocaleString(), event.time));
        if (event.kind !== 'session-failed') {
            continue;
        }
        equal(`events page: event ${event.id} verdict`, row.verdict, event.verdict);
        equal(`events page: event ${event.id} password column`, row.credentials, labels[event.credentials]);
        equal(`events page: event ${event.id} server`, row.server, `${event.server_name}:${event.server_port}`);
        equal(`events page: event ${event.id} client link`, row.href,
            `/ui/mailpulse/explain/?ip=${encodeURIComponent(event.client)}`);
        equal(`events page: event ${event.id} advice`, row.advice, event.advice ?? '');
        const colour = event.credentials === 'rejected' ? danger : warning;
        equal(`events page: event ${event.id} verdict colour (${event.credentials})`, row.verdictColour, colour);
        equal(`events page: event ${event.id} password colour (${event.credentials})`, row.credentialsColour, colour);
    }
    const rejected = rows.find(r => r.verdict === 'auth-rejected');
    const notAtFault = rows.find(r => r.verdict === 'upstream-unreachable');
    check('events page: shows an auth-rejected session', !!rejected);
    check('events page: shows an upstream-unreachable session', !!notAtFault);
    if (rejected && notAtFault) {
        check('events page: password-at-fault colour differs from not-at-fault colour',
            rejected.verdictColour !== notAtFault.verdictColour,
            `${rejected.verdictColour} vs ${notAtFault.verdictColour}`);
    }
    equal('events page: no JavaScript errors', errors.join(' | '), '');
    await page.screenshot({path: join(SHOTS, 'events.png'), fullPage: true});
}

async function main() {
    for (const name of ['MAILPULSE', 'MAILPULSE_SOCKET']) {
        if (!process.env[name]) {
            console.log(`missing prerequisite: environment variable ${name} (run through live-daemon.sh)`);
            failed += 1;
            finish(1);
        }
    }
    mkdirSync(SHOTS, {recursive: true});
    const server = await startServer();
    const profile = mkdtempSync(join(tmpdir(), 'mpb-chromium.'));
    let context = null;
    try {
        context = await chromium.launchPersistentContext(profile, {
            executablePath: CHROMIUM,
            headless: true,
            args: CHROMIUM_ARGS,
            viewport: {width: 1280, height: 800},
            deviceScaleFactor: 1
        });
        const widgetPage = await context.newPage();
        await widgetPage.setViewportSize({width: 700, height: 700});
        await widgetChecks(widgetPage, server.url);
        await stoppedChecks(await context.newPage());
        const eventsPage = await context.newPage();
        await eventsPage.setViewportSize({width: 1280, height: 400});
        await eventsChecks(eventsPage, server.url);
    } catch (e) {
        check('browser run completed', false, e && e.stack ? e.stack : String(e));
    } finally {
        if (context) {
            await context.close();
        }
        server.child.kill();
        rmSync(profile, {recursive: true, force: true});
    }
    finish();
}

main();
