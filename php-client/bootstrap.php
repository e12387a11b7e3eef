<?php

/**
 * Registers phpsessd as PHP's session save handler; meant for
 * auto_prepend_file:
 *
 *     auto_prepend_file = /path/to/php-client/bootstrap.php
 *
 * Loads the classes and the session_pgsql_* functions without Composer (or
 * from Composer's autoloader when that already has them; without it, an
 * autoloader of its own loads the exception classes when one is needed),
 * creates a SessionHandler with no options (address, secret and timeouts come from the
 * environment and php.ini) and registers it with session_set_save_handler(),
 * including the shutdown function that writes and closes the session.
 *
 * It never connects (that happens at session_start()) and never prints. It
 * registers nothing when session_pgsql.disable is on, when PHP has no session
 * extension, when output was already sent (it is included too late), or when
 * a session is already active — as with session.auto_start = 1, which starts
 * the session with session.save_handler before this file runs; turn
 * auto_start off to use phpsessd. Including it twice is harmless.
 *
 * It does register when session_status() is PHP_SESSION_DISABLED: PHP
 * reports that when session.save_handler names a module it does not have, as
 * the extension's `session.save_handler = pgsql` does without the extension,
 * and session_set_save_handler() makes sessions work again from there (PHP
 * keeps reporting PHP_SESSION_DISABLED until session_start()).
 */

declare(strict_types=1);

(static function (): void {
    // class_exists() asks a registered autoloader (Composer's) first, so the
    // files are only required when nothing else provides the classes. Every
    // request loads the four classes it uses; the exceptions, which only a
    // failure needs, are loaded when one is thrown, through the autoloader
    // registered here (each file costs every request that requires it).
    if (!class_exists('Phpsessd\\SessionHandler')) {
        spl_autoload_register(static function (string $class): void {
            if (str_starts_with($class, 'Phpsessd\\') && strpbrk($name = substr($class, 9), '\\/.') === false
                && is_file($file = __DIR__ . '/src/' . $name . '.php')) {
                require $file;
            }
        });
        foreach (['Protocol', 'Options', 'Connection', 'SessionHandler'] as $name) {
            if (!class_exists('Phpsessd\\' . $name, false)) {
                require __DIR__ . '/src/' . $name . '.php';
            }
        }
    }
    // Each function in it is guarded by function_exists(); once preloaded
    // (preload.php), they all exist, and the file need not be opened again.
    if (!function_exists('session_pgsql_start_read_only')) {
        require_once __DIR__ . '/src/functions.php';
    }

    if (\Phpsessd\Options::disabled()) {
        return;
    }
    // session_set_save_handler() would only warn in these cases.
    if (!function_exists('session_set_save_handler') || session_status() === PHP_SESSION_ACTIVE || headers_sent()) {
        return;
    }
    $handler = new \Phpsessd\SessionHandler();
    if (session_set_save_handler($handler, true)) {
        \Phpsessd\SessionHandler::setCurrent($handler);
    }
})();
