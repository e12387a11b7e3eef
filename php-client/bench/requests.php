<?php

/**
 * Measures the CPU time the client spends per PHP request against the test
 * fake daemon (tests/fake_daemon.php): this process's own getrusage() user
 * and system time, not wall-clock time. That still moves with the machine's
 * state (other load, the kernel's socket work), so compare versions in runs
 * that alternate between them.
 *
 * Usage: php php-client/bench/requests.php [N]    (N requests, default 20000)
 *
 * Each request is what PHP-FPM does with bootstrap.php: a new handler, then
 * open(), read() (HELLO and READ pipelined, two replies), write() (one
 * reply) and close() (no exchange after WRITE), on the process's persistent
 * socket. The fake daemon runs in its own process and is not measured; it
 * alternates with this one, so the two do not compete for a CPU.
 *
 * For an instruction count, which does not depend on load at all, run it
 * under callgrind with two values of N and divide the difference:
 *
 *     valgrind --tool=callgrind --callgrind-out-file=/dev/null php php-client/bench/requests.php 0
 *     valgrind --tool=callgrind --callgrind-out-file=/dev/null php php-client/bench/requests.php 2000
 *
 * ("Collected" in the summary is the instruction count: (Ir(2000) - Ir(0)) / 2000.)
 */

declare(strict_types=1);

use Phpsessd\SessionHandler;
use Phpsessd\Tests\FakeDaemon;

require __DIR__ . '/../tests/bootstrap.php';

$n = (int) ($argv[1] ?? 20000);
$daemon = new FakeDaemon();
$options = ['address' => $daemon->address, 'timeout' => 5.0, 'lock_timeout' => 5.0, 'persistent' => true];
$id = 'benchABCDEF0123456789,-abcdefghij';
$data = 'user|a:3:{s:2:"id";i:42;s:4:"name";s:5:"alice";s:5:"roles";a:2:{i:0;s:5:"admin";i:1;s:6:"editor";}}'
    . 'cart|a:0:{}csrf|s:32:"' . str_repeat('0123456789abcdef', 2) . '";';

$request = static function () use ($options, $id, $data): void {
    $handler = new SessionHandler($options);
    if ($handler->open('', 'PHPSESSID') !== true
        || $handler->read($id) === false
        || $handler->write($id, $data) !== true
        || $handler->close() !== true) {
        throw new RuntimeException('a request failed');
    }
};

// Warm up, whatever N: the persistent socket, the fake daemon's row, PHP's
// caches. So a run with N = 0 measures everything but the N requests.
for ($i = 0; $i < 100; $i++) {
    $request();
}

$before = getrusage();
$start = hrtime(true);
for ($i = 0; $i < $n; $i++) {
    $request();
}
$wall = (hrtime(true) - $start) / 1e3;
$after = getrusage();
$daemon->stop();

$micros = static fn (array $r, string $kind): int => $r["ru_{$kind}time.tv_sec"] * 1000000 + $r["ru_{$kind}time.tv_usec"];
$user = $micros($after, 'u') - $micros($before, 'u');
$system = $micros($after, 's') - $micros($before, 's');
if ($n > 0) {
    printf(
        "%d requests: user %.1f µs + system %.1f µs = %.1f µs CPU per request (wall %.1f µs)\n",
        $n,
        $user / $n,
        $system / $n,
        ($user + $system) / $n,
        $wall / $n,
    );
}
