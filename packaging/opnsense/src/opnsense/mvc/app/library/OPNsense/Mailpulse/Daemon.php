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

namespace OPNsense\Mailpulse;

use OPNsense\Core\Backend;

/**
 * Asks the mailpulse daemon a question through configd (`configctl mailpulse <action>`) and
 * wraps the answer for the web UI: ['status' => 'ok', 'data' => ...] when the CLI printed
 * JSON, otherwise ['status' => 'unavailable', 'message' => what it printed instead].
 */
class Daemon
{
    public static function query($action, array $params = [])
    {
        $backend = new Backend();
        if (empty($params)) {
            $raw = $backend->configdRun('mailpulse ' . $action);
        } else {
            $raw = $backend->configdpRun('mailpulse ' . $action, $params);
        }
        $text = trim((string)$raw);
        $data = json_decode($text, true);
        if (!is_array($data)) {
            return [
                'status' => 'unavailable',
                'message' => $text !== '' ? $text : gettext('mailpulse did not answer. Is the service running?'),
            ];
        }
        return ['status' => 'ok', 'data' => $data];
    }
}
