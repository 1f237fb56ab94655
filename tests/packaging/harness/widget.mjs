// Runs an OPNsense dashboard widget outside the browser: a stand-in BaseTableWidget records
// the tables, ajaxCall answers from a fixture file keyed by URL, and a minimal `$` provides
// the jQuery calls the widget uses for escaping. Prints {calls, tables} as JSON.
// Usage: node widget.mjs WIDGET.js FIXTURES.json TRANSLATIONS.json
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { pathToFileURL } from 'node:url';

const [widgetPath, fixturesPath, translationsPath] = process.argv.slice(2);
const fixtures = JSON.parse(readFileSync(fixturesPath, 'utf8'));
const calls = [];
const tables = {};

function escapeHtml(text) {
    return String(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

globalThis.$ = function (markup) {
    const node = { markup, textValue: '', kids: [] };
    node.text = (value) => { node.textValue = value; return node; };
    node.html = () => escapeHtml(node.textValue);
    node.append = (child) => { node.kids.push(child); return node; };
    node.children = () => ({ remove: () => {} });
    return node;
};

globalThis.BaseTableWidget = class {
    constructor() { this.translations = JSON.parse(readFileSync(translationsPath, 'utf8')); }
    createTable(id, options) { tables[id] = { options, rows: [] }; return $('<table>'); }
    // As displayed: OPNsense puts each row of a 'top' table right under the header.
    updateTable(id, rows) { tables[id].rows = tables[id].options.headerPosition === 'top' ? [...rows].reverse() : rows; }
    dataChanged() { return true; }
    async ajaxCall(url) {
        calls.push(url);
        return fixtures[url];
    }
};

// The widget is an ES module without imports; copy it to a .mjs so node loads it as one.
const dir = mkdtempSync(join(tmpdir(), 'widget-'));
const copy = join(dir, 'widget.mjs');
writeFileSync(copy, readFileSync(widgetPath, 'utf8'));
const Widget = (await import(pathToFileURL(copy))).default;
const widget = new Widget();
widget.getMarkup();
await widget.onWidgetTick();
console.log(JSON.stringify({ calls, tables }));
