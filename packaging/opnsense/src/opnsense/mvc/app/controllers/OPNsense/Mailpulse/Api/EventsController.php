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

use OPNsense\Base\ApiControllerBase;
use OPNsense\Mailpulse\Daemon;

/** /api/mailpulse/events/{search,failures}: the daemon's events via configd. */
class EventsController extends ApiControllerBase
{
    /** How many events the events page loads from the daemon. */
    private const PAGE_LIMIT = 500;

    /**
     * Flattens an event to the columns of the events page.
     */
    private static function row(array $event)
    {
        $server = $event['server_name'] ?? null;
        if (empty($server)) {
            $server = $event['server'] ?? '';
        }
        if (!empty($event['server_port'])) {
            $server .= ':' . $event['server_port'];
        }
        return [
            'id' => $event['id'] ?? '',
            'time' => $event['time'] ?? '',
            'kind' => $event['kind'] ?? '',
            'severity' => $event['severity'] ?? '',
            'verdict' => $event['verdict'] ?? '',
            'credentials' => $event['credentials'] ?? '',
            'client' => $event['client'] ?? '',
            'server' => $server,
            'protocol' => $event['protocol'] ?? '',
            'message' => $event['message'] ?? '',
            'advice' => $event['advice'] ?? '',
        ];
    }

    /** Bootgrid search over the newest events, newest first. */
    public function searchAction()
    {
        $answer = Daemon::query('events', [(string)self::PAGE_LIMIT]);
        $rows = [];
        if ($answer['status'] === 'ok' && is_array($answer['data'])) {
            foreach (array_reverse($answer['data']) as $event) {
                if (is_array($event)) {
                    $rows[] = self::row($event);
                }
            }
        }
        return $this->searchRecordsetBase($rows);
    }

    /** The last failures (default 10, at most 100), oldest first, as the daemon sends them. */
    public function failuresAction()
    {
        $limit = (int)$this->request->get('limit', 'int', 10);
        $limit = max(1, min(100, $limit));
        return Daemon::query('failures', [(string)$limit]);
    }
}
