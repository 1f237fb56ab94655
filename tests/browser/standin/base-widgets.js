/*
 * Stand-in for OPNsense's dashboard base classes (src/opnsense/www/js/widgets/BaseWidget.js and
 * BaseTableWidget.js in opnsense/core), reduced to what the mailpulse widget uses: the
 * constructor and its fields, translations, ajaxCall, dataChanged, createTable and updateTable.
 * Written to behave like the real classes, including their quirks:
 *  - ajaxCall is $.ajax with dataType json, a 1 s timeout retried up to 3 times, and rejects
 *    with {xhr, textStatus, errorThrown} on any other error;
 *  - updateTable on a 'top' (grid) table does not remove the rows already there (only
 *    flextable rows, i.e. 'left'/'none' tables, are replaced), and it inserts each new row right
 *    after the header, so the last row given ends up first.
 * OPNsense's dashboard loads these as globals before importing a widget module, so plugin
 * widgets extend BaseTableWidget without an import; this file does the same.
 */
class BaseWidget {
    constructor(config) {
        this.config = config;
        this.id = null;
        this.translations = {};
        this.tickTimeout = 10; // seconds
        this.cachedData = {};
        this.timeoutPeriod = 1000;
        this.retryLimit = 3;
        this.configurable = false;
    }

    setId(id) { this.id = id; }
    setTranslations(translations) { this.translations = translations; }
    getGridOptions() { return {}; }
    getMarkup() { return $(''); }
    async onMarkupRendered() { return null; }
    onWidgetResize(elem, width, height) { return false; }
    async onWidgetTick() { return null; }
    onWidgetClose() { return null; }

    ajaxCall(url, data = {}, method = 'GET') {
        const settings = {
            type: method,
            url: url,
            dataType: 'json',
            contentType: 'application/json',
            data: data,
            timeout: this.timeoutPeriod
        };
        const retryLimit = this.retryLimit;
        return new Promise((resolve, reject) => {
            let tries = 0;
            const attempt = () => {
                $.ajax(settings).then(resolve, (xhr, textStatus, errorThrown) => {
                    if (textStatus === 'timeout' && ++tries <= retryLimit) {
                        attempt();
                        return;
                    }
                    reject({xhr, textStatus, errorThrown});
                });
            };
            attempt();
        });
    }

    // True (and remembered) when `data` differs from what was last seen under `id`.
    dataChanged(id, data) {
        const text = JSON.stringify(data);
        if (id in this.cachedData && JSON.stringify(this.cachedData[id]) === text) {
            return false;
        }
        this.cachedData[id] = data;
        return true;
    }

    sanitizeSelector(selector) {
        return selector.replace(/[:/.]/g, '__');
    }
}

class BaseTableWidget extends BaseWidget {
    constructor(config) {
        super(config);
        this.tables = {};
    }

    createTable(id, options) {
        const opts = {headerPosition: 'top', rotation: false, sortIndex: null, sortOrder: 'desc', ...options};
        let $table;
        let $header = null;
        if (opts.headerPosition === 'top') {
            $table = $('<div class="grid-table" role="table"></div>').attr('id', id);
            $header = $('<div class="grid-header-container"></div>').attr('id', `header_${id}`);
            for (const h of opts.headers) {
                $header.append($('<div class="grid-item grid-header"></div>').html(h));
            }
            $table.append($header);
        } else {
            $table = $('<div class="flextable-container" role="table"></div>').attr('id', id);
        }
        this.tables[id] = {table: $table, options: opts, headerContainer: $header, data: []};
        return $table;
    }

    updateTable(id, data = [], rowIdentifier = null) {
        const $table = $(`#${id}`);
        const opts = this.tables[id].options;
        if (!opts.rotation && rowIdentifier === null) {
            // As in OPNsense: only flextable rows are cleared, grid rows stay.
            $table.children('.flextable-row').remove();
            this.tables[id].data = data;
        }
        for (const row of data) {
            const $row = opts.headerPosition === 'top'
                ? $('<div class="grid-row"></div>')
                : $('<div class="flextable-row"></div>');
            this.populateRow($row, row, opts);
            if (opts.headerPosition === 'top') {
                $(`#header_${id}`).after($row);
            } else {
                $table.append($row);
            }
        }
    }

    populateRow($row, row, opts) {
        if (opts.headerPosition === 'top' || opts.headerPosition === 'none') {
            const cls = opts.headerPosition === 'top' ? 'grid-item' : 'flex-cell';
            for (const item of row) {
                $row.append(`<div class="${cls}">${item}</div>`);
            }
            return;
        }
        if (row.length !== 2) {
            return;
        }
        const [h, c] = row;
        if (Array.isArray(c)) {
            $row.append(`<div class="flex-cell rowspan first"><b>${h}</b></div>`);
            const $column = $('<div class="column"></div>');
            for (const item of c) {
                $column.append(`<div class="flex-cell"><div class="flex-subcell">${item}</div></div>`);
            }
            $row.append($column);
        } else {
            $row.append(`<div class="flex-cell first"><b>${h}</b></div><div class="flex-cell">${c}</div>`);
        }
    }
}

window.BaseWidget = BaseWidget;
window.BaseTableWidget = BaseTableWidget;
