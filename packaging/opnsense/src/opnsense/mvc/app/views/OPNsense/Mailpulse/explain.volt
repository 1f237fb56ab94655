{#
 # Copyright (C) 2026 The mailpulse authors
 # All rights reserved. Redistribution and use in source and binary forms, with or without
 # modification, are permitted under the BSD 2-clause license.
 #}

<script>
$(document).ready(function() {
    function escapeHtml(text) {
        return $('<div/>').text(text == null ? '' : String(text)).html();
    }

    /* The explain answer is shown as lines of text; objects inside it as key: value pairs. */
    function render(value) {
        if (value === null || value === undefined) {
            return '';
        }
        if (Array.isArray(value)) {
            return '<ul>' + value.map(function(item) { return '<li>' + render(item) + '</li>'; }).join('') + '</ul>';
        }
        if (typeof value === 'object') {
            return '<dl class="dl-horizontal">' + Object.keys(value).map(function(key) {
                return '<dt>' + escapeHtml(key) + '</dt><dd>' + render(value[key]) + '</dd>';
            }).join('') + '</dl>';
        }
        return escapeHtml(value);
    }

    function explain() {
        const ip = $('#explain-ip').val().trim();
        if (ip === '') {
            return;
        }
        $('#explain-result').html('<i class="fa fa-spinner fa-pulse"></i>');
        ajaxGet('/api/mailpulse/explain/client/' + encodeURIComponent(ip), {}, function(answer) {
            if (!answer || answer.status !== 'ok') {
                const message = answer && answer.message ? answer.message : '{{ lang._("No answer from mailpulse.") }}';
                $('#explain-result').html('<div class="alert alert-warning">' + escapeHtml(message) + '</div>');
                return;
            }
            $('#explain-result').html(render(answer.data));
        });
    }

    $('#explain-act').click(explain);
    $('#explain-ip').keypress(function(e) { if (e.which === 13) { explain(); } });
    if ($('#explain-ip').val() !== '') {
        explain();
    }
});
</script>

<div class="content-box" style="padding: 1em;">
    <div class="form-inline">
        <label for="explain-ip">{{ lang._('Client IP address') }}</label>
        <input id="explain-ip" type="text" class="form-control" value="{{ client_ip|e }}" placeholder="192.168.1.23"/>
        <button id="explain-act" class="btn btn-primary" type="button">{{ lang._('Explain') }}</button>
    </div>
    <div id="explain-result" style="margin-top: 1em;"></div>
</div>
