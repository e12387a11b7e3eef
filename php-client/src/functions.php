<?php

/**
 * The session_pgsql extension's module functions, as plain PHP functions with
 * the same names, over the current Phpsessd\SessionHandler (the one
 * bootstrap.php registered, or the last one opened). Each is defined only if
 * no function of that name exists, so the real extension wins if loaded.
 *
 * "Active session" below means: the handler read a session (session_start()
 * succeeded) and has not closed it yet (session_write_close(), the end of the
 * request). Return shapes are documented in README.md.
 */

declare(strict_types=1);

use Phpsessd\SessionHandler;

if (!function_exists('session_pgsql_status')) {
    /**
     * The daemon's status: ['server' => 'phpsessd/x.y.z', 'protocol' => 1,
     * 'address' => 'unix:/...', 'connected' => true, 'max_frame_size' => int]
     * followed by the keys of the daemon's STATUS object. Needs no active
     * session. False and an E_USER_WARNING when the daemon cannot be reached.
     *
     * @return array<string, mixed>|false
     */
    function session_pgsql_status(): array|false
    {
        return (SessionHandler::current() ?? new SessionHandler())->status();
    }
}

if (!function_exists('session_pgsql_reset')) {
    /**
     * Makes the daemon close and reopen its database connections. Needs no
     * active session. False and an E_USER_WARNING on failure.
     */
    function session_pgsql_reset(): bool
    {
        return (SessionHandler::current() ?? new SessionHandler())->reset();
    }
}

if (!function_exists('session_pgsql_info')) {
    /**
     * The active session's row: id, name, data_size, created, modified,
     * expire, addr_created, addr_modified, counter, error, warning, notice,
     * err_message, custom (numbers as ints). False when no session is active
     * or the session has no row yet (it is new and not written yet); false
     * and an E_USER_WARNING on failure.
     *
     * @return array<string, mixed>|false
     */
    function session_pgsql_info(): array|false
    {
        return SessionHandler::current()?->info() ?? false;
    }
}

if (!function_exists('session_pgsql_set_field')) {
    /**
     * Sets the active session's custom field (sess_custom), saved when the
     * session is written. False, with no effect, when no session is active.
     */
    function session_pgsql_set_field(string $value): bool
    {
        return SessionHandler::current()?->setField($value) ?? false;
    }
}

if (!function_exists('session_pgsql_get_field')) {
    /**
     * The active session's custom field as read, or as set in this request.
     * False when no session is active.
     */
    function session_pgsql_get_field(): string|false
    {
        return SessionHandler::current()?->getField() ?? false;
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
        return SessionHandler::current()?->addError($error_level, $error_message) ?? false;
    }
}

if (!function_exists('session_pgsql_get_error')) {
    /**
     * The active session's counters: ['error' => int, 'warning' => int,
     * 'notice' => int], plus 'err_message' => string when
     * $with_error_message is true. False when no session is active.
     *
     * @return array<string, int|string>|false
     */
    function session_pgsql_get_error(bool $with_error_message = false): array|false
    {
        return SessionHandler::current()?->getError($with_error_message) ?? false;
    }
}
