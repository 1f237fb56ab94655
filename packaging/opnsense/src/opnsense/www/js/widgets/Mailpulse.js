/*
 * Copyright (C) 2026 The mailpulse authors
 * All rights reserved. Redistribution and use in source and binary forms, with or without
 * modification, are permitted under the BSD 2-clause license.
 */

// Dashboard widget (OPNsense 24.7+): WAN state, each probe target's latency and state, and the
// last failed sessions with their verdict and whether the password was at fault.
export default class Mailpulse extends BaseTableWidget {
    constructor() {
        super();
        this.tickTimeout = 15;
    }

    getGridOptions() {
        return {
            sizeToContent: 650
        };
    }

    getMarkup() {
        const $container = $('<div></div>');
        $container.append(this.createTable('mailpulse-health', {headerPosition: 'left'}));
        $container.append(this.createTable('mailpulse-failures', {
            headerPosition: 'top',
            headers: [
                this.translations.time,
                this.translations.client,
                this.translations.server,
                this.translations.verdict,
                this.translations.password
            ]
        }));
        return $container;
    }

    static escape(text) {
        return $('<div/>').text(text === null || text === undefined ? '' : String(text)).html();
    }

    static dot(css, text) {
        return `<i class="fa fa-circle ${css}"></i> ${Mailpulse.escape(text)}`;
    }

    // Phase durations are milliseconds (`duration_ms`); a {secs, nanos} object is also read.
    static durationMs(value) {
        if (typeof value === 'number') {
            return value;
        }
        if (value && typeof value === 'object' && 'secs' in value) {
            return value.secs * 1000 + (value.nanos || 0) / 1e6;
        }
        return null;
    }

    static probeLatency(probe) {
        const last = probe.last;
        if (!last || !Array.isArray(last.phases)) {
            return null;
        }
        let total = 0;
        for (const phase of last.phases) {
            const ms = Mailpulse.durationMs(phase.duration_ms ?? phase.duration);
            if (ms === null) {
                return null;
            }
            total += ms;
        }
        return total;
    }

    static stateClass(state) {
        return {up: 'text-success', ok: 'text-success', slow: 'text-warning', pending: 'text-muted',
                unknown: 'text-muted', down: 'text-danger', failed: 'text-danger'}[state] || 'text-muted';
    }

    // Whether the password was at fault, coloured: red rejected, amber not at fault.
    passwordCell(credentials) {
        switch (credentials) {
        case 'rejected':
            return `<span class="text-danger">${this.translations.rejected}</span>`;
        case 'not-at-fault':
            return `<span class="text-warning">${this.translations.notAtFault}</span>`;
        case 'ok':
            return `<span class="text-success">${this.translations.accepted}</span>`;
        default:
            return `<span class="text-muted">${this.translations.unknown}</span>`;
        }
    }

    // BaseTableWidget.updateTable replaces the rows of a 'left' table but only adds to a 'top'
    // (grid) table, each new row right under the header; so the old rows go first.
    clearGridRows(id) {
        $(`#${id}`).children('.grid-row').remove();
    }

    showMessage(message) {
        this.updateTable('mailpulse-health', [[this.translations.title, Mailpulse.escape(message)]]);
        this.clearGridRows('mailpulse-failures');
    }

    async onWidgetTick() {
        const service = await this.ajaxCall('/api/mailpulse/service/status');
        if (!service || service.status !== 'running') {
            this.showMessage(this.translations.notRunning);
            return;
        }

        const state = await this.ajaxCall('/api/mailpulse/status/state');
        const failures = await this.ajaxCall('/api/mailpulse/events/failures');
        if (!state || state.status !== 'ok') {
            this.showMessage(state && state.message ? state.message : this.translations.noData);
            return;
        }
        if (!this.dataChanged('mailpulse', {state: state, failures: failures})) {
            return;
        }
        this.updateHealth(state.data);
        this.updateFailures(failures && failures.status === 'ok' ? failures.data : []);
    }

    // `mailpulse status --json` nests the engine's picture (wan, probes) under `engine`.
    updateHealth(report) {
        const rows = [];
        const status = (report && report.engine) || report || {};
        const wan = status.wan || {};
        const wanState = wan.state || 'unknown';
        rows.push([this.translations.wan, Mailpulse.dot(Mailpulse.stateClass(wanState), wanState)]);

        for (const probe of status.probes || []) {
            const latency = Mailpulse.probeLatency(probe);
            let text = probe.state || 'pending';
            if (latency !== null && probe.state !== 'failed') {
                text += ` (${Math.round(latency)} ms)`;
            }
            if (probe.state === 'failed' && probe.last && probe.last.failure) {
                text += `: ${probe.last.failure.error}`;
            }
            rows.push([Mailpulse.escape(probe.target), Mailpulse.dot(Mailpulse.stateClass(probe.state), text)]);
        }
        this.updateTable('mailpulse-health', rows);
    }

    updateFailures(events) {
        const rows = [];
        // Oldest first: updateTable puts each row under the header, so the newest ends on top.
        const sessions = (events || []).filter(e => e.kind === 'session-failed').slice(-10);
        for (const event of sessions) {
            const time = event.time ? new Date(event.time).toLocaleTimeString() : '';
            const verdictCss = event.credentials === 'rejected' ? 'text-danger' : 'text-warning';
            rows.push([
                Mailpulse.escape(time),
                `<a href="/ui/mailpulse/explain/?ip=${encodeURIComponent(event.client || '')}">` +
                    `${Mailpulse.escape(event.client)}</a>`,
                Mailpulse.escape(event.server_name || event.server),
                `<span class="${verdictCss}">${Mailpulse.escape(event.verdict)}</span>`,
                this.passwordCell(event.credentials)
            ]);
        }
        if (rows.length === 0) {
            rows.push([this.translations.noFailures, '', '', '', '']);
        }
        this.clearGridRows('mailpulse-failures');
        this.updateTable('mailpulse-failures', rows);
    }
}
