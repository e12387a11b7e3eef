<?php
// Creates PdoSessionHandler's table for make bench's "symfony" pool, once before the
// run (the CLI, not the pool): php symfony_setup.php DSN USER [PASSWORD]

declare(strict_types=1);

require_once '/usr/share/php/Symfony/Component/HttpFoundation/autoload.php';

if ($argc < 3) {
    fwrite(STDERR, "usage: php symfony_setup.php DSN USER [PASSWORD]\n");
    exit(2);
}
$pdo = new PDO($argv[1], $argv[2], $argv[3] ?? '', [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION]);
(new Symfony\Component\HttpFoundation\Session\Storage\Handler\PdoSessionHandler($pdo))->createTable();
echo "created the sessions table\n";
