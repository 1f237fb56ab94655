{#
 # Copyright (C) 2026 The mailpulse authors
 # All rights reserved. Redistribution and use in source and binary forms, with or without
 # modification, are permitted under the BSD 2-clause license.
 #}

<script>
$(document).ready(function() {
    /* Verdicts where the password was not the problem are amber, a rejected login red. */
    const credentialClass = {'rejected': 'text-danger', 'not-at-fault': 'text-warning', 'ok': 'text-success'};

    function escapeHtml(text) {
        return $('<div/>').text(text == null ? '' : String(text)).html();
    }

    $("#grid-events").UIBootgrid({
        search: '/api/mailpulse/events/search',
        options: {
            rowCount: [25, 50, 100, -1],
            formatters: {
                verdict: function(column, row) {
                    const css = credentialClass[row.credentials] || '';
                    return '<span class="' + css + '">' + escapeHtml(row.verdict) + '</span>';
                },
                credentials: function(column, row) {
                    const label = {
                        'rejected': '{{ lang._("Password rejected") }}',
                        'not-at-fault': '{{ lang._("Not the password") }}',
                        'ok': '{{ lang._("Accepted") }}'
                    }[row.credentials] || escapeHtml(row.credentials);
                    return '<span class="' + (credentialClass[row.credentials] || '') + '">' + label + '</span>';
                },
                client: function(column, row) {
                    if (!row.client) {
                        return '';
                    }
                    return '<a href="/ui/mailpulse/explain/?ip=' + encodeURIComponent(row.client) + '">' +
                        escapeHtml(row.client) + '</a>';
                },
                text: function(column, row) {
                    return escapeHtml(row[column.id]);
                },
                /* The daemon sends RFC 3339 UTC; show the browser's local time, the exact value on hover. */
                localtime: function(column, row) {
                    const when = new Date(row[column.id]);
                    if (!row[column.id] || isNaN(when.getTime())) {
                        return escapeHtml(row[column.id]);
                    }
                    return '<span title="' + escapeHtml(row[column.id]) + '">' +
                        escapeHtml(when.toLocaleString()) + '</span>';
                }
            }
        }
    });
});
</script>

<div class="content-box">
    <table id="grid-events" class="table table-condensed table-hover table-striped">
        <thead>
            <tr>
                <th data-column-id="id" data-type="numeric" data-identifier="true" data-visible="false">{{ lang._('ID') }}</th>
                <th data-column-id="time" data-formatter="localtime" data-width="11em">{{ lang._('Time') }}</th>
                <th data-column-id="kind" data-visible="false">{{ lang._('Kind') }}</th>
                <th data-column-id="verdict" data-formatter="verdict" data-width="12em">{{ lang._('Verdict') }}</th>
                <th data-column-id="credentials" data-formatter="credentials" data-width="10em">{{ lang._('Password') }}</th>
                <th data-column-id="client" data-formatter="client" data-width="10em">{{ lang._('Client') }}</th>
                <th data-column-id="server" data-formatter="text">{{ lang._('Server') }}</th>
                <th data-column-id="message" data-formatter="text">{{ lang._('Message') }}</th>
                <th data-column-id="advice" data-formatter="text">{{ lang._('Advice') }}</th>
            </tr>
        </thead>
        <tbody></tbody>
    </table>
</div>
