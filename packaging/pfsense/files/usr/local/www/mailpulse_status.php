<?php
/*
 * mailpulse_status.php
 *
 * Copyright (C) 2026 The mailpulse authors
 * Licensed under the BSD 2-clause license.
 */

##|+PRIV
##|*IDENT=page-services-mailpulse
##|*NAME=Services: MailPulse
##|*DESCR=Allow access to the MailPulse events page.
##|*MATCH=mailpulse_status.php*
##|-PRIV

require_once("guiconfig.inc");
require_once("/usr/local/pkg/mailpulse.inc");

$pgtitle = [gettext("Status"), gettext("MailPulse")];
$pglinks = ["", "@self"];
include("head.inc");

$tab_array = [];
$tab_array[] = [gettext("Settings"), false, "/pkg_edit.php?xml=mailpulse.xml"];
$tab_array[] = [gettext("Events"), true, "/mailpulse_status.php"];
display_top_tabs($tab_array);

$failures_only = !empty($_GET['failures']);
$args = ['events', '--limit', '200'];
if ($failures_only) {
    $args[] = '--failures';
}
$client = trim((string)($_GET['client'] ?? ''));
if ($client !== '' && filter_var($client, FILTER_VALIDATE_IP) !== false) {
    $args[] = '--client';
    $args[] = $client;
} else {
    $client = '';
}
$events = mailpulse_query($args);
$status = mailpulse_query(['status']);
?>

<div class="panel panel-default">
	<div class="panel-heading"><h2 class="panel-title"><?=gettext("WAN and probe targets")?></h2></div>
	<div class="panel-body">
<?php if (!$status['ok']): ?>
		<div class="alert alert-warning"><?=htmlspecialchars($status['message'])?></div>
<?php else:
	$engine = $status['data']['engine'] ?? $status['data'];
	$wan_state = $engine['wan']['state'] ?? 'unknown';
?>
		<table class="table table-condensed">
			<tr>
				<th><?=gettext("WAN")?></th>
				<td class="<?=$wan_state === 'up' ? 'text-success' : ($wan_state === 'down' ? 'text-danger' : 'text-muted')?>"><?=htmlspecialchars($wan_state)?></td>
			</tr>
<?php foreach (($engine['probes'] ?? []) as $probe):
	$state = $probe['state'] ?? 'pending';
	$css = ['ok' => 'text-success', 'slow' => 'text-warning', 'failed' => 'text-danger'][$state] ?? 'text-muted';
	$error = $probe['last']['failure']['error'] ?? '';
?>
			<tr>
				<th><?=htmlspecialchars($probe['target'] ?? '')?></th>
				<td class="<?=$css?>"><?=htmlspecialchars($state . ($error !== '' ? ": {$error}" : ''))?></td>
			</tr>
<?php endforeach; ?>
		</table>
<?php endif; ?>
	</div>
</div>

<div class="panel panel-default">
	<div class="panel-heading">
		<h2 class="panel-title">
			<?=$client !== '' ? sprintf(gettext("Events of %s"), htmlspecialchars($client)) : gettext("Recent events")?>
			(<a href="?<?=$failures_only ? '' : 'failures=1'?>"><?=$failures_only ? gettext("show all") : gettext("failures only")?></a>)
		</h2>
	</div>
	<div class="panel-body">
<?php if (!$events['ok']): ?>
		<div class="alert alert-warning"><?=htmlspecialchars($events['message'])?></div>
<?php else: ?>
		<div class="table-responsive">
		<table class="table table-striped table-hover table-condensed">
			<thead>
				<tr>
					<th><?=gettext("Time")?></th>
					<th><?=gettext("Verdict")?></th>
					<th><?=gettext("Password")?></th>
					<th><?=gettext("Client")?></th>
					<th><?=gettext("Server")?></th>
					<th><?=gettext("Message")?></th>
					<th><?=gettext("Advice")?></th>
				</tr>
			</thead>
			<tbody>
<?php foreach (array_reverse($events['data']) as $event):
	if (!is_array($event)) {
		continue;
	}
	$credentials = $event['credentials'] ?? '';
?>
				<tr>
					<td><?=htmlspecialchars($event['time'] ?? '')?></td>
					<td class="<?=mailpulse_credentials_class($credentials)?>"><?=htmlspecialchars($event['verdict'] ?? $event['kind'] ?? '')?></td>
					<td class="<?=mailpulse_credentials_class($credentials)?>"><?=htmlspecialchars(mailpulse_credentials_text($credentials))?></td>
					<td>
<?php if (!empty($event['client'])): ?>
						<a href="?client=<?=urlencode($event['client'])?>"><?=htmlspecialchars($event['client'])?></a>
<?php endif; ?>
					</td>
					<td><?=htmlspecialchars(mailpulse_event_server($event))?></td>
					<td><?=htmlspecialchars($event['message'] ?? '')?></td>
					<td><?=htmlspecialchars($event['advice'] ?? '')?></td>
				</tr>
<?php endforeach; ?>
			</tbody>
		</table>
		</div>
<?php endif; ?>
	</div>
</div>

<?php include("foot.inc"); ?>
