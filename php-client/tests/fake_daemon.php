<?php

/**
 * A scripted stand-in for phpsessd, for the client's tests.
 *
 * Usage: php fake_daemon.php SOCKET_PATH SCRIPT_JSON LOG_JSONL
 *
 * Listens on a Unix socket, speaks the framing of docs/PROTOCOL.md, logs every
 * request it reads (one JSON object per line: conn, op, id, fields as base64)
 * and answers from the script's rules, consumed in order as requests arrive
 * on any connection; once they run out, or when a rule's "op" does not match
 * the request, it answers like a small in-memory daemon ("auto"). Prints
 * "ready" on stdout once listening and exits when stdin closes.
 *
 * Script keys: rules (list), secret (HELLO must carry it), max_frame_size,
 * gc_deleted (GC's answer), status (STATUS's object), connection (the
 * connection string INFO names after its JSON, with server id 0), refuse (a
 * status: every connection gets that error reply with request id 0 when
 * accepted, and is closed, as phpsessd refuses one over max_clients). Rule keys:
 *   action  auto | reply | error | stale | silent | close | half | raw | trickle
 *   op      only apply to this operation code (else answer auto, keep the rule)
 *   status, fields, fields_b64   for reply: the reply (default OK, no fields)
 *   id, id_delta                 for reply/error/stale: the reply's request id
 *   message                      for error: the message; the connection closes
 *                                for the codes that close it unless keep_open
 *   then    for stale: "auto" also sends the real reply; for half/raw: "close"
 *   bytes   for half: how many bytes of the auto reply frame to send; for
 *           trickle: the size of each piece (default 1)
 *   pause   for trickle: seconds between pieces (default 0.001)
 *   data_b64 for raw: the bytes to send
 * trickle sends the auto reply frame in pieces, a pause apart, so that the
 * client gets it in many short reads.
 */

declare(strict_types=1);

const CLOSING = [1, 2, 4, 5, 6, 12, 14];

[, $socketPath, $scriptFile, $logFile] = $argv;
$script = json_decode((string) file_get_contents($scriptFile), true, 512, JSON_THROW_ON_ERROR);
$rules = $script['rules'] ?? [];
$maxFrame = (int) ($script['max_frame_size'] ?? 4 << 20);

@unlink($socketPath);
$server = stream_socket_server('unix://' . $socketPath, $errno, $errstr);
if ($server === false) {
    fwrite(STDERR, "fake_daemon: cannot listen on $socketPath: $errstr\n");
    exit(1);
}

/** @var array<int, array{stream: resource, buf: string, auth: bool, no: int, name: string, addr: string}> $conns */
$conns = [];
$store = [];
$connCount = 0;

function logLine(array $entry): void
{
    global $logFile;
    file_put_contents($logFile, json_encode($entry, JSON_THROW_ON_ERROR) . "\n", FILE_APPEND | LOCK_EX);
}

function drop(int $key): void
{
    global $conns;
    if (isset($conns[$key])) {
        logLine(['event' => 'disconnect', 'conn' => $conns[$key]['no']]);
        @fclose($conns[$key]['stream']);
        unset($conns[$key]);
    }
}

function frame(int $status, int $id, array $fields): string
{
    $payload = pack('nN', $status, $id & 0xFFFFFFFF);
    foreach ($fields as $field) {
        $payload .= pack('N', strlen($field)) . $field;
    }
    return pack('N', strlen($payload)) . $payload;
}

function sendBytes(int $key, string $bytes): void
{
    global $conns;
    $stream = $conns[$key]['stream'];
    while ($bytes !== '') {
        $n = @fwrite($stream, $bytes);
        if ($n === false || $n === 0) {
            return;
        }
        $bytes = (string) substr($bytes, $n);
    }
}

function nextRule(int $op): array
{
    global $rules;
    if ($rules !== [] && (!isset($rules[0]['op']) || $rules[0]['op'] === $op)) {
        return array_shift($rules);
    }
    return ['action' => 'auto'];
}

/** The answer of a small in-memory daemon: [status, fields, close]. */
function auto(int $key, int $op, array $f): array
{
    global $conns, $store, $script, $maxFrame;
    $c = &$conns[$key];
    if ($op !== 1 && !$c['auth']) {
        return [6, ['HELLO first'], true];
    }
    $now = time();
    switch ($op) {
        case 1:
            if (count($f) !== 4) {
                return [11, ['HELLO takes 4 fields'], false];
            }
            if ($f[0] !== '1') {
                return [4, ['this daemon speaks protocol version 1'], true];
            }
            if (isset($script['secret']) && $f[1] !== $script['secret']) {
                return [5, ['wrong secret'], true];
            }
            $c['auth'] = true;
            $c['name'] = $f[2];
            $c['addr'] = $f[3];
            return [0, ['phpsessd/0.0.0-fake', '1', (string) $maxFrame], false];
        case 2:
            $row = $store[$f[0]] ?? null;
            if ($row === null) {
                return [0, ['', '', '0', '0', '0', ''], false];
            }
            return [0, [$row['data'], $row['custom'], (string) $row['error'], (string) $row['warning'],
                (string) $row['notice'], $row['err_message']], false];
        case 3:
            if (count($f) !== 7) {
                return [11, ['WRITE takes 7 fields'], false];
            }
            $row = $store[$f[0]] ?? ['created' => $now, 'addr_created' => $c['addr'], 'counter' => 0];
            $store[$f[0]] = [
                'name' => $c['name'], 'data' => $f[1], 'custom' => $f[2], 'error' => (int) $f[3],
                'warning' => (int) $f[4], 'notice' => (int) $f[5], 'err_message' => $f[6],
                'created' => $row['created'], 'modified' => $now, 'expire' => $now + 1440,
                'addr_created' => $row['addr_created'], 'addr_modified' => $c['addr'],
                'counter' => $row['counter'] + 1,
            ];
            return [0, [], false];
        case 4:
            if (isset($store[$f[0]])) {
                $store[$f[0]]['modified'] = $now;
                $store[$f[0]]['counter']++;
            }
            return [0, [], false];
        case 5:
        case 10:
            return [0, [], false];
        case 6:
            unset($store[$f[0]]);
            return [0, [], false];
        case 7:
            return [0, [(string) ($script['gc_deleted'] ?? 0)], false];
        case 8:
            return [0, [isset($store[$f[0]]) ? '1' : '0'], false];
        case 9:
            $status = $script['status'] ?? ['uptime' => 1, 'connections' => count($conns), 'sessions' => count($store)];
            return [0, [json_encode($status, JSON_THROW_ON_ERROR)], false];
        case 11:
            $row = $store[$f[0]] ?? null;
            $server = ['0', (string) ($script['connection'] ?? 'host=fake dbname=php_session')];
            if ($row === null) {
                return [0, ['null', ...$server], false];
            }
            $info = ['id' => $f[0], 'name' => $row['name'], 'data_size' => strlen($row['data']),
                'created' => $row['created'], 'modified' => $row['modified'], 'expire' => $row['expire'],
                'addr_created' => $row['addr_created'], 'addr_modified' => $row['addr_modified'],
                'counter' => $row['counter'], 'error' => $row['error'], 'warning' => $row['warning'],
                'notice' => $row['notice'], 'err_message' => $row['err_message'], 'custom' => $row['custom']];
            return [0, [json_encode($info, JSON_THROW_ON_ERROR | JSON_INVALID_UTF8_SUBSTITUTE), ...$server], false];
    }
    return [3, ["unknown operation $op"], false];
}

function handleFrame(int $key, string $payload): void
{
    global $conns;
    $no = $conns[$key]['no'];
    if (strlen($payload) < 5) {
        logLine(['conn' => $no, 'bad' => 'payload shorter than the header']);
        sendBytes($key, frame(1, 0, ['payload shorter than the header']));
        drop($key);
        return;
    }
    ['op' => $op, 'id' => $id] = unpack('Cop/Nid', $payload);
    $fields = [];
    for ($off = 5, $len = strlen($payload); $off < $len;) {
        $size = $len - $off >= 4 ? unpack('N', $payload, $off)[1] : PHP_INT_MAX;
        if ($size > $len - $off - 4) {
            logLine(['conn' => $no, 'op' => $op, 'id' => $id, 'bad' => 'field overruns the payload']);
            sendBytes($key, frame(1, $id, ['field overruns the payload']));
            drop($key);
            return;
        }
        $fields[] = (string) substr($payload, $off + 4, $size);
        $off += 4 + $size;
    }
    $rule = nextRule($op);
    $action = $rule['action'] ?? 'auto';
    $logged = array_map('base64_encode', $fields);
    logLine(['conn' => $no, 'op' => $op, 'id' => $id, 'fields' => $logged, 'action' => $action]);
    if (isset($rule['delay'])) {
        usleep((int) ($rule['delay'] * 1e6));
    }
    $replyId = isset($rule['id']) ? (int) $rule['id'] : $id + (int) ($rule['id_delta'] ?? 0);
    switch ($action) {
        case 'auto':
            [$status, $reply, $close] = auto($key, $op, $fields);
            sendBytes($key, frame($status, $id, $reply));
            if ($close) {
                drop($key);
            }
            return;
        case 'reply':
            $reply = isset($rule['fields_b64'])
                ? array_map('base64_decode', $rule['fields_b64'])
                : ($rule['fields'] ?? []);
            if ($op === 1) {
                $conns[$key]['auth'] = true;
            }
            sendBytes($key, frame((int) ($rule['status'] ?? 0), $replyId, $reply));
            return;
        case 'error':
            $status = (int) $rule['status'];
            sendBytes($key, frame($status, $replyId, [(string) ($rule['message'] ?? 'scripted error')]));
            if (in_array($status, CLOSING, true) && empty($rule['keep_open'])) {
                drop($key);
            }
            return;
        case 'stale':
            [$status, $reply, $close] = auto($key, $op, $fields);
            $staleId = isset($rule['id']) ? (int) $rule['id'] : $id + (int) ($rule['id_delta'] ?? 1);
            sendBytes($key, frame($status, $staleId, $reply));
            if (($rule['then'] ?? '') === 'auto') {
                sendBytes($key, frame($status, $id, $reply));
            }
            return;
        case 'silent':
            return;
        case 'close':
            drop($key);
            return;
        case 'trickle':
            [$status, $reply, $close] = auto($key, $op, $fields);
            $pause = (int) (($rule['pause'] ?? 0.001) * 1e6);
            foreach (str_split(frame($status, $id, $reply), max(1, (int) ($rule['bytes'] ?? 1))) as $i => $piece) {
                if ($i > 0) {
                    usleep($pause);
                }
                if (!isset($conns[$key]) || @fwrite($conns[$key]['stream'], $piece) !== strlen($piece)) {
                    return; // the client gave up
                }
            }
            if ($close) {
                drop($key);
            }
            return;
        case 'half':
        case 'raw':
            if ($action === 'half') {
                [$status, $reply] = auto($key, $op, $fields);
                $bytes = frame($status, $id, $reply);
                $bytes = substr($bytes, 0, (int) ($rule['bytes'] ?? intdiv(strlen($bytes), 2)));
            } else {
                $bytes = base64_decode((string) $rule['data_b64']);
            }
            sendBytes($key, $bytes);
            if (($rule['then'] ?? '') === 'close') {
                drop($key);
            }
            return;
    }
    fwrite(STDERR, "fake_daemon: unknown action $action\n");
}

echo "ready\n";
while (true) {
    $read = [$server, STDIN];
    foreach ($conns as $conn) {
        $read[] = $conn['stream'];
    }
    $write = $except = null;
    if (@stream_select($read, $write, $except, 1) === false) {
        continue;
    }
    foreach ($read as $stream) {
        if ($stream === STDIN) {
            if ((string) fread(STDIN, 8192) === '' && feof(STDIN)) {
                exit(0);
            }
            continue;
        }
        if ($stream === $server) {
            $client = @stream_socket_accept($server, 0);
            if ($client !== false && isset($script['refuse'])) {
                $connCount++;
                @fwrite($client, frame((int) $script['refuse'], 0, ['refused by script']));
                @fclose($client);
                logLine(['event' => 'refused', 'conn' => $connCount]);
            } elseif ($client !== false) {
                $connCount++;
                $conns[(int) $client] = ['stream' => $client, 'buf' => '', 'auth' => false, 'no' => $connCount,
                    'name' => '', 'addr' => ''];
                logLine(['event' => 'connect', 'conn' => $connCount]);
            }
            continue;
        }
        $key = (int) $stream;
        if (!isset($conns[$key])) {
            continue;
        }
        $data = @fread($stream, 1 << 16);
        if ($data === false || $data === '') {
            if ($data === false || feof($stream)) {
                drop($key);
            }
            continue;
        }
        $conns[$key]['buf'] .= $data;
        while (isset($conns[$key]) && strlen($conns[$key]['buf']) >= 4) {
            $length = unpack('N', $conns[$key]['buf'])[1];
            if ($length > $maxFrame) {
                logLine(['conn' => $conns[$key]['no'], 'bad' => "frame of $length bytes"]);
                sendBytes($key, frame(2, 0, ["frame of $length bytes exceeds max_frame_size"]));
                drop($key);
                break;
            }
            if (strlen($conns[$key]['buf']) < 4 + $length) {
                break;
            }
            $payload = substr($conns[$key]['buf'], 4, $length);
            $conns[$key]['buf'] = (string) substr($conns[$key]['buf'], 4 + $length);
            handleFrame($key, $payload);
        }
    }
}
