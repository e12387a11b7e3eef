<?php
// auto_prepend_file of make bench's "symfony" pool: Symfony HttpFoundation's
// PdoSessionHandler (Debian's php-symfony-http-foundation) on a persistent PDO
// connection, with its default lock mode (LOCK_TRANSACTIONAL: SELECT ... FOR UPDATE in
// a transaction from read to write). The pool's php.ini gives the connection:
//
//     phpsessd_bench.symfony_dsn = "pgsql:host=127.0.0.1;port=5432;dbname=symfony_session"
//     phpsessd_bench.symfony_user = postgres
//     phpsessd_bench.symfony_password =
//
// The table is created once before the run by symfony_setup.php.

declare(strict_types=1);

require_once '/usr/share/php/Symfony/Component/HttpFoundation/autoload.php';

(static function (): void {
    $dsn = (string) get_cfg_var('phpsessd_bench.symfony_dsn');
    $pdo = new PDO($dsn, (string) get_cfg_var('phpsessd_bench.symfony_user'), (string) get_cfg_var('phpsessd_bench.symfony_password'), [
        PDO::ATTR_PERSISTENT => true,
        PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION,
    ]);
    $handler = new Symfony\Component\HttpFoundation\Session\Storage\Handler\PdoSessionHandler($pdo);
    session_set_save_handler($handler, true);
})();
