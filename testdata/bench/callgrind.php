<?php
// make bench's count of the instructions PHP spends on one request's session, per
// handler (internal/cmd/benchrun runs it in PHP CLI with opcache on, under
// callgrind): N times what a request of the bench pools does, from the pool's
// auto_prepend_file to the write at its end, on 16 sessions that 16 warm-up requests
// created, so every counted request reads a session that exists. The same script
// with N = 0 is the baseline: (instructions(N) - instructions(0)) / N is one
// request's.
//
//     valgrind --tool=callgrind php -d opcache.enable_cli=1 -d ... callgrind.php HANDLER N
//
// HANDLER is files (with -d session.save_path=DIR), symfony (with the
// phpsessd_bench.symfony_* settings of symfony.php) or phpsessd (with
// -d session_pgsql.listen=unix:/path of a running daemon).

declare(strict_types=1);

if ($argc !== 3 || !ctype_digit($argv[2])) {
    fwrite(STDERR, "usage: php callgrind.php files|symfony|phpsessd N\n");
    exit(2);
}
$prepend = match ($argv[1]) {
    'files' => null,
    'symfony' => __DIR__ . '/symfony.php',
    'phpsessd' => dirname(__DIR__, 2) . '/php-client/bootstrap.php',
    default => null,
};
if ($prepend === null && $argv[1] !== 'files') {
    fwrite(STDERR, "callgrind.php: unknown handler {$argv[1]}\n");
    exit(2);
}
$n = (int) $argv[2];

// Any warning is a failed request: the count would be of something else.
set_error_handler(static function (int $level, string $message, string $file, int $line): never {
    throw new ErrorException($message, 0, $level, $file, $line);
});

$sessions = 16;
$prefix = 'cg' . bin2hex(random_bytes(6)) . '-';
$_GET = ['payload' => '1024'];
$request = static function (string $id) use ($prepend): void {
    if ($prepend !== null) {
        require $prepend;
    }
    session_id($id);
    ob_start();
    require __DIR__ . '/bench.php';
    $out = (string) ob_get_clean();
    // What PHP does at the end of the request.
    session_write_close();
    if (!ctype_digit($out)) {
        throw new RuntimeException("unexpected output of bench.php: $out");
    }
};
for ($i = 0; $i < $sessions; $i++) {
    $request($prefix . $i);
}
for ($i = 0; $i < $n; $i++) {
    $request($prefix . ($i % $sessions));
}
