{#
 # Copyright (C) 2026 The mailpulse authors
 # All rights reserved. Redistribution and use in source and binary forms, with or without
 # modification, are permitted under the BSD 2-clause license.
 #}

<script>
$(document).ready(function() {
    mapDataToFormUI({'frm_settings': "/api/mailpulse/settings/get"}).done(function() {
        formatTokenizersUI();
        $('.selectpicker').selectpicker('refresh');
        updateServiceControlUI('mailpulse');
    });

    $("#reconfigureAct").SimpleActionButton({
        onPreAction: function() {
            const dfObj = $.Deferred();
            saveFormToEndpoint("/api/mailpulse/settings/set", 'frm_settings', dfObj.resolve, true, dfObj.reject);
            return dfObj;
        },
        /* What the daemon applied (or why it refused) in its own words; see ServiceController. */
        onAction: function(data, status) {
            const box = $('#mailpulse-apply-result');
            if (status !== 'success' || !data || !data.message) {
                box.addClass('hidden');
                return;
            }
            const ok = String(data.status).toLowerCase().trim() === 'ok';
            box.removeClass('hidden alert-success alert-danger')
               .addClass(ok ? 'alert-success' : 'alert-danger')
               .text(data.message);
        },
    });
});
</script>

<div id="mailpulse-apply-result" class="alert hidden" role="alert"></div>

<div class="content-box">
    {{ partial('layout_partials/base_form', ['fields': general, 'id': 'frm_settings']) }}
</div>

{{ partial('layout_partials/base_apply_button', {'data_endpoint': '/api/mailpulse/service/reconfigure', 'data_service_widget': 'mailpulse'}) }}
