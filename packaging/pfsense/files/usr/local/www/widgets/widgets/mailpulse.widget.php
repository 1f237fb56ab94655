<?php
/*
 * mailpulse.widget.php
 *
 * Copyright (C) 2026 The mailpulse authors
 * Licensed under the BSD 2-clause license.
 */

/*
 * Dashboard widget: the WAN and probe state (`mailpulse status --json`) and the last failed
 * sessions with their verdict and whether the password was at fault
 * (`mailpulse events --json --failures --limit 10`). Refreshed through register_ajax.
 */

require_once("guiconfig.inc");
require_once("/usr/local/pkg/mailpulse.inc");

function mailpulse_widget_rows()
{
    $html = '';
    $status = mailpulse_query(['status']);
    if (!$status['ok']) {
        return '<tr><td colspan="4" class="text-warning">' . htmlspecialchars($status['message']) . '</td></tr>';
    }
    $engine = $status['data']['engine'] ?? $status['data'];
    $wan = $engine['wan']['state'] ?? 'unknown';
    $css = $wan === 'up' ? 'text-success' : ($wan === 'down' ? 'text-danger' : 'text-muted');
    $html .= '<tr><th>' . gettext('WAN') . '</th><td colspan="3" class="' . $css . '">' .
        '<i class="fa fa-circle"></i> ' . htmlspecialchars($wan) . '</td></tr>';
    foreach (($engine['probes'] ?? []) as $probe) {
        $state = $probe['state'] ?? 'pending';
        $css = ['ok' => 'text-success', 'slow' => 'text-warning', 'failed' => 'text-danger'][$state] ?? 'text-muted';
        $html .= '<tr><th>' . htmlspecialchars($probe['target'] ?? '') . '</th><td colspan="3" class="' . $css .
            '"><i class="fa fa-circle"></i> ' . htmlspecialchars($state) . '</td></tr>';
    }

    $failures = mailpulse_query(['events', '--failures', '--limit', '10']);
    $sessions = [];
    if ($failures['ok']) {
        foreach (array_reverse($failures['data']) as $event) {
            if (is_array($event) && ($event['kind'] ?? '') === 'session-failed') {
                $sessions[] = $event;
            }
        }
    }
    $html .= '<tr><th>' . gettext('Client') . '</th><th>' . gettext('Server') . '</th><th>' .
        gettext('Verdict') . '</th><th>' . gettext('Password') . '</th></tr>';
    if (empty($sessions)) {
        $html .= '<tr><td colspan="4">' . gettext('No failed mail sessions.') . '</td></tr>';
    }
    foreach ($sessions as $event) {
        $credentials = $event['credentials'] ?? '';
        $css = mailpulse_credentials_class($credentials);
        $html .= '<tr><td><a href="/mailpulse_status.php?client=' . urlencode($event['client'] ?? '') . '">' .
            htmlspecialchars($event['client'] ?? '') . '</a></td>' .
            '<td>' . htmlspecialchars(mailpulse_event_server($event)) . '</td>' .
            '<td class="' . $css . '">' . htmlspecialchars($event['verdict'] ?? '') . '</td>' .
            '<td class="' . $css . '">' . htmlspecialchars(mailpulse_credentials_text($credentials)) . '</td></tr>';
    }
    return $html;
}

if (!empty($_REQUEST['ajax'])) {
    print(mailpulse_widget_rows());
    exit;
}

$widgetkey = $widgetkey ?? 'mailpulse-0';
?>
<div class="table-responsive">
	<table class="table table-condensed table-hover">
		<tbody id="<?=htmlspecialchars($widgetkey)?>-mailpulse">
			<?=mailpulse_widget_rows()?>
		</tbody>
	</table>
</div>

<script type="text/javascript">
//<![CDATA[
events.push(function() {
	function mailpulse_callback(s) {
		$(<?=json_encode('#' . $widgetkey . '-mailpulse')?>).html(s);
	}
	var mailpulseObject = new Object();
	mailpulseObject.name = "MailPulse";
	mailpulseObject.url = "/widgets/widgets/mailpulse.widget.php";
	mailpulseObject.callback = mailpulse_callback;
	mailpulseObject.parms = {ajax: "ajax", widgetkey: <?=json_encode($widgetkey)?>};
	mailpulseObject.freq = 15;
	register_ajax(mailpulseObject);
});
//]]>
</script>
