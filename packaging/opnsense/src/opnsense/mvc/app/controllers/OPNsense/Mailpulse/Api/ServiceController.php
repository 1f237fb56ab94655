<?php

/*
 * Copyright (C) 2026 The mailpulse authors
 * All rights reserved.
 *
 * Redistribution and use in source and binary forms, with or without
 * modification, are permitted provided that the following conditions are met:
 *
 * 1. Redistributions of source code must retain the above copyright notice,
 *    this list of conditions and the following disclaimer.
 *
 * 2. Redistributions in binary form must reproduce the above copyright
 *    notice, this list of conditions and the following disclaimer in the
 *    documentation and/or other materials provided with the distribution.
 *
 * THIS SOFTWARE IS PROVIDED ``AS IS'' AND ANY EXPRESS OR IMPLIED WARRANTIES,
 * INCLUDING, BUT NOT LIMITED TO, THE IMPLIED WARRANTIES OF MERCHANTABILITY
 * AND FITNESS FOR A PARTICULAR PURPOSE ARE DISCLAIMED.
 */

namespace OPNsense\Mailpulse\Api;

use OPNsense\Base\ApiMutableServiceControllerBase;
use OPNsense\Base\UserException;
use OPNsense\Core\Backend;
use OPNsense\Mailpulse\Mailpulse;

/** /api/mailpulse/service/{start,stop,restart,reconfigure,status} */
class ServiceController extends ApiMutableServiceControllerBase
{
    protected static $internalServiceClass = '\OPNsense\Mailpulse\Mailpulse';
    protected static $internalServiceTemplate = 'OPNsense/Mailpulse';
    protected static $internalServiceEnabled = 'general.enabled';
    protected static $internalServiceName = 'mailpulse';

    /**
     * Apply: write the configuration, then have the daemon apply it and say what it applied.
     *
     * `configctl mailpulse reload` (apply.sh) runs `mailpulse reload`, which answers after the
     * running daemon has applied the file, or refuses an invalid one and keeps its old
     * configuration; a stopped daemon is started instead. The answer's first line is "ok" or
     * "failed N", the rest the sentence for the user. A failure is returned as the status, so
     * the Apply button's own error dialog shows the reason on every release.
     */
    public function reconfigureAction()
    {
        if (!$this->request->isPost()) {
            return ['status' => 'failed'];
        }
        $this->sessionClose();
        $backend = new Backend();
        $enabled = (string)(new Mailpulse())->general->enabled === '1';

        if (!$enabled) {
            $backend->configdRun('mailpulse stop');
        }
        if (trim((string)$backend->configdpRun('template reload', ['OPNsense/Mailpulse'])) !== 'OK') {
            throw new UserException(gettext('Template generation failed, see the general log.'));
        }
        if (!$enabled) {
            return ['status' => 'ok', 'message' => gettext('MailPulse is disabled and stopped.')];
        }
        return self::applyAnswer((string)$backend->configdRun('mailpulse reload'));
    }

    /** Turns apply.sh's answer into the API reply: status "ok" with the sentence, or the reason. */
    public static function applyAnswer($answer)
    {
        $lines = explode("\n", trim($answer));
        $verdict = trim(array_shift($lines));
        $text = trim(implode("\n", $lines));
        if ($verdict === 'ok') {
            return ['status' => 'ok', 'message' => $text];
        }
        if ($verdict === '' || strpos($verdict, 'failed') !== 0) {
            $text = gettext('mailpulse did not answer the reload request; see the MailPulse log.');
        }
        return ['status' => $text, 'message' => $text];
    }
}
