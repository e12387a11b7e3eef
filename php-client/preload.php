<?php

/**
 * An opcache.preload script for the PHP client: loads its classes and the
 * session_pgsql_* functions once, when PHP-FPM starts, so that no request
 * loads them again (bootstrap.php then finds them loaded):
 *
 *     opcache.preload = /path/to/php-client/preload.php
 *     opcache.preload_user = www-data
 *
 * Optional: bootstrap.php works the same without it, each request loading the
 * files it needs from opcache. PHP-FPM must be restarted (not reloaded) for a
 * new version of the client to take effect, as for every preloaded file.
 */

declare(strict_types=1);

foreach (['ProtocolException', 'ConnectException', 'TimeoutException', 'StaleReplyException', 'ErrorReplyException',
    'Protocol', 'Options', 'Connection', 'SessionHandler'] as $name) {
    require_once __DIR__ . '/src/' . $name . '.php';
}
require_once __DIR__ . '/src/functions.php';
