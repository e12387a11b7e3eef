<?php

/**
 * The session_pgsql extension's module functions, as plain PHP functions with
 * the same names, over the current Phpsessd\SessionHandler (the one
 * bootstrap.php registered, or the last one opened). Each is defined only if
 * no function of that name exists, so the real extension wins if loaded.
 *
 * "Active session" below means: the handler read a session (session_start()
 * succeeded) and has not closed it yet (session_write_close(), the end of the
 * request). The arrays hold the extension's keys first, then phpsessd's own;
 * README.md lists both.
 *
 * With session_pgsql.disable = on in php.ini, every function raises an
 * E_USER_WARNING "session_pgsql is disabled" and returns false, as the
 * extension's functions did.
 */

declare(strict_types=1);

use Phpsessd\SessionHandler;

if (!function_exists('session_pgsql_status')) {
    /**
     * The save handler's status: the extension's keys ('Servers', 'Number of
     * Servers', 'Failover Mode', 'Short Circuit', 'Keep Expired', 'Server
     * String #i', 'Server Status #i'), then phpsessd's ('server' =>
     * 'phpsessd/x.y.z', 'protocol', 'address', 'connected', 'max_frame_size'
     * and the keys of the daemon's STATUS object). Connection strings have
     * their passwords redacted. Needs no active session (the extension's
     * returned false before a session was read). False and an E_USER_WARNING
     * when the daemon cannot be reached.
     *
     * @return array<string, mixed>|false
     */
    function session_pgsql_status(): array|false
    {
        return SessionHandler::forFunctions(true)?->status() ?? false;
    }
}

if (!function_exists('session_pgsql_reset')) {
    /**
     * Makes the daemon close and reopen its database connections. Needs no
     * active session. False and an E_USER_WARNING on failure.
     */
    function session_pgsql_reset(): bool
    {
        return SessionHandler::forFunctions(true)?->reset() ?? false;
    }
}

if (!function_exists('session_pgsql_info')) {
    /**
     * The active session: the extension's keys ('Session ID', 'Server ID',
     * 'Connection', 'Accesses', 'Errors', 'Warnings', 'Notices', 'Created',
     * 'Modified', 'Expires', 'Address Created', 'Address Modified',
     * 'Custom'), then, once the session has a row, the row as stored (id,
     * name, data_size, created, modified, expire, addr_created, addr_modified,
     * counter, error, warning, notice, err_message, custom). Numbers as ints.
     * False when no session is active; false and an E_USER_WARNING on failure.
     *
     * @return array<string, mixed>|false
     */
    function session_pgsql_info(): array|false
    {
        return SessionHandler::forFunctions(false)?->info() ?? false;
    }
}

if (!function_exists('session_pgsql_start_read_only')) {
    /**
     * Starts the session read-only, without its lock: session_start() with
     * read_and_close (plus $options), reading the session as last written
     * without taking or waiting for its lock, so a page that only reads
     * $_SESSION never waits behind a request that holds it (a slow page, a
     * parallel AJAX call). $_SESSION is filled and the session is closed at
     * once; it is never written: changes to $_SESSION are lost, and an explicit
     * write attempt warns. Safe for pages that only read; a page that may
     * change the session must use session_start(). Returns what session_start()
     * returns; false with an E_USER_WARNING when a session is already active
     * or phpsessd's handler is not the one in use (bootstrap.php).
     *
     * phpsessd's own function (the extension had none). It needs a daemon that
     * knows READ_UNLOCKED (docs/PROTOCOL.md); an older one answers UNKNOWN_OP,
     * and session_start() fails with a warning.
     *
     * @param array<string, mixed> $options session_start()'s options
     */
    function session_pgsql_start_read_only(array $options = []): bool
    {
        $handler = SessionHandler::forFunctions(false);
        if ($handler === null) {
            if (!\Phpsessd\Options::disabled()) {
                trigger_error('session_pgsql_start_read_only(): phpsessd\'s session handler is not registered (auto_prepend_file = bootstrap.php)', E_USER_WARNING);
            }
            return false;
        }
        if (session_status() === PHP_SESSION_ACTIVE) {
            trigger_error('session_pgsql_start_read_only(): a session is already active', E_USER_WARNING);
            return false;
        }
        $handler->readOnly();
        $started = session_start(['read_and_close' => true] + $options);
        $handler->close(); // ends read-only mode also when session_start() failed before reading
        return $started;
    }
}

if (!function_exists('session_pgsql_end_sessions')) {
    /**
     * Ends (deletes) every live session whose data holds $value at $path,
     * except the session this request has open: an application's "log out
     * my other devices" (session_pgsql_end_sessions('user.id', $userId)) or an
     * administrator's "log this user out everywhere". $path is dotted
     * ("user.id" is $_SESSION['user']['id'], array keys and object properties
     * alike); values compare as PHP 8's == compares scalars (42 matches 42 and
     * "42"). Each session is ended under its lock, so a request that holds it
     * finishes first and the session does not come back. Returns how many
     * sessions were ended; sessions that stayed locked for lock_timeout are
     * left, with an E_USER_WARNING. False and an E_USER_WARNING on failure.
     * phpsessd's own function (the extension had none); needs no active
     * session.
     */
    function session_pgsql_end_sessions(string $path, int|float|string|bool|null $value): int|false
    {
        return SessionHandler::forFunctions(true)?->endSessions($path, $value) ?? false;
    }
}

if (!function_exists('session_pgsql_set_field')) {
    /**
     * Sets the active session's custom field (sess_custom), saved when the
     * session is written. False, with no effect, when no session is active.
     */
    function session_pgsql_set_field(string $value): bool
    {
        return SessionHandler::forFunctions(false)?->setField($value) ?? false;
    }
}

if (!function_exists('session_pgsql_get_field')) {
    /**
     * The active session's custom field as read, or as set in this request.
     * False when no session is active.
     */
    function session_pgsql_get_field(): string|false
    {
        return SessionHandler::forFunctions(false)?->getField() ?? false;
    }
}

if (!function_exists('session_pgsql_add_error')) {
    /**
     * Counts an error in the active session, saved when it is written:
     * E_ERROR, E_CORE_ERROR, E_COMPILE_ERROR, E_USER_ERROR and
     * E_RECOVERABLE_ERROR increment 'error'; E_WARNING, E_CORE_WARNING,
     * E_COMPILE_WARNING and E_USER_WARNING increment 'warning'; E_NOTICE,
     * E_USER_NOTICE, E_DEPRECATED and E_USER_DEPRECATED increment 'notice'.
     * A non-empty message becomes the last error message. False for any other
     * level or when no session is active.
     */
    function session_pgsql_add_error(int $error_level, string $error_message = ''): bool
    {
        return SessionHandler::forFunctions(false)?->addError($error_level, $error_message) ?? false;
    }
}

if (!function_exists('session_pgsql_get_error')) {
    /**
     * The active session's counters: ['Errors' => int, 'Warnings' => int,
     * 'Notices' => int] (the extension's keys) and the same as 'error',
     * 'warning', 'notice'; with $with_error_message also 'Error Message' and
     * 'err_message' => string. False when no session is active.
     *
     * @return array<string, int|string>|false
     */
    function session_pgsql_get_error(bool $with_error_message = false): array|false
    {
        return SessionHandler::forFunctions(false)?->getError($with_error_message) ?? false;
    }
}
