<?php

declare(strict_types=1);

namespace Phpsessd;

use function count;
use function is_string;

/**
 * PHP's session save handler for phpsessd: every method is one exchange with
 * the daemon over the socket protocol of docs/PROTOCOL.md, through a
 * Connection.
 *
 * Register it with `session_set_save_handler($handler, true)` (bootstrap.php
 * does that). Options, all optional (see Options for the environment and
 * php.ini fallbacks):
 *
 * - `address` (string): `unix:/path/to/socket` or `tcp:host:port`;
 *   default `unix:/run/phpsessd/phpsessd.sock`.
 * - `secret` (string): shared secret sent in HELLO; default "".
 * - `timeout` (float, seconds): connect timeout, and the time a request may
 *   take to be sent and answered; default 5.0.
 * - `lock_timeout` (float, seconds): how much longer a READ may wait, since the
 *   daemon waits up to its lock_timeout for the session's lock; default 30.0.
 *   A READ therefore fails after at most `lock_timeout + timeout`.
 * - `persistent` (bool): keep one socket per PHP process (FPM worker) across
 *   requests; default true.
 *
 * Error contract: no handler method throws or blocks beyond its timeout. Any failure
 * (daemon unreachable, timeout, broken connection, malformed or stale reply,
 * error reply) raises an E_USER_WARNING
 * "phpsessd: <method> failed (<address>): <reason>" and the method returns
 * false; PHP then fails session_start() or the write with its own warning.
 * After a failure in mid-exchange the socket is closed, so the next exchange
 * starts on a clean connection.
 *
 * The extension fields of session_pgsql (custom field, error counters, last
 * error message) are held here between read() and close(): READ fills them,
 * setField()/addError() change them, and write() — or updateTimestamp(),
 * which then sends WRITE instead of UPDATE_TIMESTAMP — saves them.
 *
 * Locking: read() takes the session's lock in the daemon, close() releases
 * it. A session read but not closed by the end of the request (the handler
 * was driven directly, or the session module does not own it) is closed by
 * a shutdown function, so a persistent socket never carries a held lock past
 * its request; HELLO at the next open() is the backstop for requests that
 * could not run it.
 *
 * Handlers with the same address share one persistent socket within a
 * process; use one handler per process (bootstrap.php's).
 */
final class SessionHandler implements \SessionHandlerInterface, \SessionUpdateTimestampHandlerInterface
{
    private static ?self $current = null;

    private Options $options;

    private Connection $connection;

    /** The id read() succeeded for, until close(); null when no session is active. */
    private ?string $sessionId = null;

    private string $custom = '';

    /** @var array{error: int, warning: int, notice: int} */
    private array $counters = ['error' => 0, 'warning' => 0, 'notice' => 0];

    private string $errMessage = '';

    /** Whether the custom field or error counters changed since read() or write(). */
    private bool $extensionChanged = false;

    private bool $problemsReported = false;

    private bool $shutdownRegistered = false;

    /** Whether this request's READ may hold the daemon's lock, so close() must send CLOSE. */
    private bool $lockHeld = false;

    /** Whether open() was called and close() not since: a session is in progress. */
    private bool $opened = false;

    /** Whether the next read() takes no lock and the session cannot be written (readOnly()). */
    private bool $readOnly = false;

    /**
     * @param array<string, mixed> $options address, secret, timeout,
     *                                      lock_timeout, persistent (see the class comment)
     * @throws \InvalidArgumentException for an unknown option or a value of the wrong type
     */
    public function __construct(array $options = [])
    {
        $this->options = Options::resolve($options);
        $this->connection = new Connection($this->options);
    }

    /**
     * The handler the session_pgsql_* functions use: the one bootstrap.php
     * registered, or the last one whose open() was called; null if none.
     */
    public static function current(): ?self
    {
        return self::$current;
    }

    /**
     * The handler a session_pgsql_* function works on: current(), or with
     * $orNew a new handler when there is none. Null when there is none, and
     * when session_pgsql.disable is on (Options::disabled()), which first
     * raises the extension's warning "session_pgsql is disabled" as an
     * E_USER_WARNING.
     */
    public static function forFunctions(bool $orNew): ?self
    {
        if (Options::disabled()) {
            trigger_error('session_pgsql is disabled', E_USER_WARNING);
            return null;
        }
        return self::$current ?? ($orNew ? new self() : null);
    }

    /** Makes $handler the one current() returns (bootstrap.php calls this). */
    public static function setCurrent(?self $handler): void
    {
        self::$current = $handler;
    }

    /** The daemon's address as configured, e.g. "unix:/run/phpsessd/phpsessd.sock". */
    public function getAddress(): string
    {
        return $this->options->address;
    }

    /**
     * Connects (reusing the process's persistent socket). HELLO, which also makes
     * the daemon drop whatever a previous request left on that socket (a held
     * lock, state), goes out with this request's first operation, in the same
     * write (usually READ), to save a round trip; on a reused socket that turns
     * out to be dead or to hold a stale reply, that exchange is retried once on
     * a new connection.
     */
    public function open(string $path, string $name): bool
    {
        self::$current = $this;
        $this->forgetSession();
        $this->opened = true;
        $this->connection->begin($name);
        $this->reportProblems();
        $this->registerShutdown();

        try {
            $this->connection->connect();
            return true;
        } catch (\Throwable $e) {
            return $this->failed('open', $e);
        }
    }

    /**
     * Releases the session's lock. True without an exchange when no lock is
     * held: none was taken, a successful write or updateTimestamp released it,
     * or there is no connection (the daemon releases a lock when its
     * connection closes).
     */
    public function close(): bool
    {
        $this->forgetSession();
        $this->opened = false;
        $this->readOnly = false;
        $held = $this->lockHeld;
        $this->lockHeld = false;
        if (!$held || !$this->connection->isAuthenticated()) {
            return true;
        }
        try {
            $this->connection->request(Protocol::OP_CLOSE, []);
            return true;
        } catch (\Throwable $e) {
            return $this->failed('close', $e);
        }
    }

    /**
     * Reads the session, waiting for its lock up to lock_timeout (after
     * readOnly(): without the lock). Returns its data, "" for a missing or
     * expired session, or false on failure. Keeps
     * the custom field and error counters for the session_pgsql_* functions.
     */
    public function read(string $id): string|false
    {
        $this->forgetSession();

        try {
            if ($this->readOnly) {
                // READ_UNLOCKED waits for no lock. Sent with HELLO (the usual case), a
                // CLOSE follows in the same write and ends the daemon's request;
                // otherwise close() sends it.
                $withHello = !$this->connection->isAuthenticated();
                $this->lockHeld = !$withHello;
                $fields = $this->connection->request(Protocol::OP_READ_UNLOCKED, [$id], alone: $withHello);
            } else {
                $this->lockHeld = true; // until a reply says otherwise: CLOSE is then safe
                $fields = $this->connection->request(Protocol::OP_READ, [$id], $this->options->lockTimeout);
            }
            [$data, $custom, $error, $warning, $notice, $message] = Protocol::expectFields($fields, 6, 'READ');
            $this->counters = [
                'error' => Protocol::parseInt($error, 'error'),
                'warning' => Protocol::parseInt($warning, 'warning'),
                'notice' => Protocol::parseInt($notice, 'notice'),
            ];
            $this->custom = $custom;
            $this->errMessage = $message;
            $this->sessionId = $id;
            return $data;
        } catch (\Throwable $e) {
            return $this->failed('read', $e);
        }
    }

    /**
     * Makes the next session this handler reads read-only: read() takes and waits
     * for no lock (READ_UNLOCKED), and write() and updateTimestamp() refuse it with
     * a warning, since writing back what was read without the lock could undo
     * what a request holding the lock wrote. It lasts until close().
     * session_pgsql_start_read_only() calls it before session_start().
     */
    public function readOnly(): void
    {
        $this->readOnly = true;
    }

    /** Stores the data with the current custom field and error counters. */
    public function write(string $id, string $data): bool
    {
        if ($this->readOnly) {
            return $this->refuseReadOnly('write');
        }
        try {
            $this->connection->request(Protocol::OP_WRITE, [
                $id,
                $data,
                $this->custom,
                (string) $this->counters['error'],
                (string) $this->counters['warning'],
                (string) $this->counters['notice'],
                $this->errMessage,
            ]);
            $this->extensionChanged = false;
            $this->lockHeld = false; // a WRITE ends the lock
            return true;
        } catch (\Throwable $e) {
            return $this->failed('write', $e);
        }
    }

    /**
     * PHP's lazy_write path, for unchanged data: UPDATE_TIMESTAMP, or WRITE
     * when the custom field or error counters changed in this request, since
     * those must be saved.
     */
    public function updateTimestamp(string $id, string $data): bool
    {
        if ($this->readOnly) {
            return $this->refuseReadOnly('updateTimestamp');
        }
        if ($this->extensionChanged) {
            return $this->write($id, $data);
        }
        try {
            $this->connection->request(Protocol::OP_UPDATE_TIMESTAMP, [$id]);
            $this->lockHeld = false; // so does an UPDATE_TIMESTAMP
            return true;
        } catch (\Throwable $e) {
            return $this->failed('updateTimestamp', $e);
        }
    }

    /** Deletes the session; a missing session is not an error. */
    public function destroy(string $id): bool
    {
        try {
            $this->connection->request(Protocol::OP_DESTROY, [$id]);
            if ($id === $this->sessionId) {
                $this->clearExtensionFields();
            }
            return true;
        } catch (\Throwable $e) {
            return $this->failed('destroy', $e);
        }
    }

    /** Deletes expired sessions; returns how many, or false on failure. */
    public function gc(int $max_lifetime): int|false
    {
        try {
            [$deleted] = Protocol::expectFields($this->connection->request(Protocol::OP_GC, [(string) $max_lifetime]), 1, 'GC');
            return Protocol::parseInt($deleted, 'deleted');
        } catch (\Throwable $e) {
            return $this->failed('gc', $e);
        }
    }

    /** Whether a live session with this id exists (use_strict_mode); false also on failure. */
    public function validateId(string $id): bool
    {
        try {
            [$exists] = Protocol::expectFields($this->connection->request(Protocol::OP_VALIDATE_ID, [$id]), 1, 'VALIDATE_ID');
            return $exists === '1';
        } catch (\Throwable $e) {
            return $this->failed('validateId', $e);
        }
    }

    /**
     * session_pgsql_status(): the extension's keys (Servers, Number of
     * Servers, Failover Mode, Short Circuit, Keep Expired, and per server i
     * from 0 Server String #i and Server Status #i, all ints but the strings),
     * then the client's view (server, protocol, address, connected,
     * max_frame_size), then the keys of the daemon's STATUS object. Connection
     * strings come from the daemon with their passwords redacted. False and a
     * warning on failure. Works without an active session; outside a session
     * (no open()), a CLOSE in the same write tells the daemon that the
     * request is over (Connection::request()'s $alone).
     *
     * @return array<string, mixed>|false
     */
    public function status(): array|false
    {
        try {
            [$json] = Protocol::expectFields($this->connection->request(Protocol::OP_STATUS, [], alone: !$this->opened), 1, 'STATUS');
            $daemon = $this->decodeJsonObject($json, 'STATUS', false);
            $servers = is_array($daemon['servers'] ?? null) ? array_values($daemon['servers']) : [];
            $extension = [
                'Servers' => is_string($daemon['db'] ?? null) ? $daemon['db'] : '',
                'Number of Servers' => count($servers),
                'Failover Mode' => empty($daemon['failover_mode']) ? 0 : 1,
                'Short Circuit' => empty($daemon['short_circuit']) ? 0 : 1,
                'Keep Expired' => empty($daemon['keep_expired']) ? 0 : 1,
            ];
            foreach ($servers as $i => $server) {
                $connection = is_array($server) ? ($server['connection'] ?? null) : null;
                $extension['Server String #' . $i] = is_string($connection) ? $connection : '';
                $extension['Server Status #' . $i] = is_array($server) && !empty($server['up']) ? 1 : 0;
            }
            return $extension + [
                'server' => $this->connection->server(),
                'protocol' => $this->connection->protocolVersion(),
                'address' => $this->options->address,
                'connected' => true,
                'max_frame_size' => $this->connection->maxFrameSize(),
            ] + $daemon;
        } catch (\Throwable $e) {
            return $this->failed('status', $e);
        }
    }

    /**
     * session_pgsql_end_sessions(): ends every live session whose decoded data
     * holds $value at $path ("user.id": $_SESSION['user']['id']), but the one
     * this request has open, each under its lock (END_SESSIONS). Returns how
     * many it ended; sessions locked by a request for lock_timeout are left,
     * with an E_USER_WARNING saying how many. False and a warning on failure.
     * Outside a session, with a CLOSE in the same write, as status().
     */
    public function endSessions(string $path, int|float|string|bool|null $value): int|false
    {
        try {
            $filter = json_encode(['path' => $path, 'value' => $value], JSON_THROW_ON_ERROR | JSON_PRESERVE_ZERO_FRACTION);
            // Each session may wait for its lock.
            $fields = $this->connection->request(Protocol::OP_END_SESSIONS, [$filter], $this->options->lockTimeout, alone: !$this->opened);
            [$ended, $busy] = Protocol::expectFields($fields, 2, 'END_SESSIONS');
            $busy = Protocol::parseInt($busy, 'busy');
            if ($busy > 0) {
                $this->warn('endSessions', sprintf('%d matching sessions stayed locked by a request for session_pgsql.lock_timeout and were not ended', $busy));
            }
            return Protocol::parseInt($ended, 'ended');
        } catch (\Throwable $e) {
            return $this->failed('endSessions', $e);
        }
    }

    /**
     * session_pgsql_reset(): makes the daemon reopen its database connections.
     * Outside a session, with a CLOSE in the same write, as status().
     */
    public function reset(): bool
    {
        try {
            $this->connection->request(Protocol::OP_RESET, [], alone: !$this->opened);
            return true;
        } catch (\Throwable $e) {
            return $this->failed('reset', $e);
        }
    }

    /**
     * session_pgsql_info(): the extension's keys, describing the session as
     * this request sees it, as the extension did: Session ID, Server ID (the
     * index of the session's server), Connection (that server's connection
     * string, password redacted), Accesses (the stored counter + 1, counting
     * this request, which the write saves; 1 for a session without a row
     * yet), Errors, Warnings, Notices and Custom (as read, with this request's
     * changes), Created, Modified, Expires, Address Created and Address
     * Modified (as stored; 0 and "" without a row). Then, when the session has
     * a row, the row as stored, under the daemon's names (id, name, data_size,
     * created, modified, expire, addr_created, addr_modified, counter, error,
     * warning, notice, err_message, custom). Ints where the extension gave
     * ints. False without a warning when no session is active; false with a
     * warning on failure.
     *
     * @return array<string, mixed>|false
     */
    public function info(): array|false
    {
        if ($this->sessionId === null) {
            return false;
        }
        $id = function_exists('session_id') ? session_id() : '';
        $id = is_string($id) && $id !== '' ? $id : $this->sessionId;

        try {
            $fields = Protocol::expectFields($this->connection->request(Protocol::OP_INFO, [$id]), 1, 'INFO');
            $row = $this->decodeJsonObject($fields[0], 'INFO', true);
            // A daemon older than these fields knew only one server.
            $serverId = isset($fields[1]) ? Protocol::parseInt($fields[1], 'server_id') : 0;
            return [
                'Session ID' => $id,
                'Server ID' => $serverId,
                'Connection' => $fields[2] ?? '',
                'Accesses' => $row === null ? 1 : (int) ($row['counter'] ?? 0) + 1,
                'Errors' => $this->counters['error'],
                'Warnings' => $this->counters['warning'],
                'Notices' => $this->counters['notice'],
                'Created' => (int) ($row['created'] ?? 0),
                'Modified' => (int) ($row['modified'] ?? 0),
                'Expires' => (int) ($row['expire'] ?? 0),
                'Address Created' => (string) ($row['addr_created'] ?? ''),
                'Address Modified' => (string) ($row['addr_modified'] ?? ''),
                'Custom' => $this->custom,
            ] + ($row ?? []);
        } catch (\Throwable $e) {
            return $this->failed('info', $e);
        }
    }

    /** Whether a session is active: read() succeeded and close() was not called since. */
    public function isActive(): bool
    {
        return $this->sessionId !== null;
    }

    /** session_pgsql_get_field(): the custom field as read or set; false without an active session. */
    public function getField(): string|false
    {
        return $this->sessionId === null ? false : $this->custom;
    }

    /** session_pgsql_set_field(): sets the custom field, saved at write; false without an active session. */
    public function setField(string $value): bool
    {
        if ($this->sessionId === null) {
            return false;
        }
        $this->custom = $value;
        $this->extensionChanged = true;
        return true;
    }

    /**
     * session_pgsql_add_error(): increments the error, warning or notice
     * counter for $level (errors, warnings, notices, as session_pgsql_add_error()
     * says) and, when $message is not
     * empty, sets the last error message. False for another level or without
     * an active session.
     */
    public function addError(int $level, string $message = ''): bool
    {
        // A match rather than a constant table keyed by E_*: such a table
        // would be evaluated again in every PHP request.
        $counter = match ($level) {
            E_ERROR, E_CORE_ERROR, E_COMPILE_ERROR, E_USER_ERROR, E_RECOVERABLE_ERROR => 'error',
            E_WARNING, E_CORE_WARNING, E_COMPILE_WARNING, E_USER_WARNING => 'warning',
            E_NOTICE, E_USER_NOTICE, E_DEPRECATED, E_USER_DEPRECATED => 'notice',
            default => null,
        };
        if ($this->sessionId === null || $counter === null) {
            return false;
        }
        $this->counters[$counter]++;
        if ($message !== '') {
            $this->errMessage = $message;
        }
        $this->extensionChanged = true;
        return true;
    }

    /**
     * session_pgsql_get_error(): the extension's keys ['Errors' => int,
     * 'Warnings' => int, 'Notices' => int], plus 'Error Message' => string
     * when asked, then the same under the daemon's names ('error', 'warning',
     * 'notice', 'err_message'): the counters as read, with this request's
     * session_pgsql_add_error() calls. False without an active session.
     *
     * @return array<string, int|string>|false
     */
    public function getError(bool $withMessage = false): array|false
    {
        if ($this->sessionId === null) {
            return false;
        }
        $result = [
            'Errors' => $this->counters['error'],
            'Warnings' => $this->counters['warning'],
            'Notices' => $this->counters['notice'],
        ];
        if ($withMessage) {
            $result['Error Message'] = $this->errMessage;
        }
        $result += $this->counters;
        if ($withMessage) {
            $result['err_message'] = $this->errMessage;
        }
        return $result;
    }

    /**
     * Ends a public operation that threw: every method catches \Throwable and
     * returns this, so that its exception becomes a warning and false.
     *
     * @return false
     */
    private function failed(string $what, \Throwable $e): bool
    {
        if ($e instanceof ProtocolException) {
            $reason = $e->getMessage();
        } else {
            // A bug of ours: still never let it escape into PHP's session code.
            $this->connection->disconnect();
            $reason = get_class($e) . ': ' . $e->getMessage();
        }
        $this->warn($what . ' failed', $reason);
        return false;
    }

    private function warn(string $what, string $reason): void
    {
        trigger_error(sprintf('phpsessd: %s (%s): %s', $what, $this->options->address, $reason), E_USER_WARNING);
    }

    /** A write of a read-only session: a warning, and nothing sent. */
    private function refuseReadOnly(string $what): bool
    {
        $this->warn($what, 'the session was started read-only (session_pgsql_start_read_only()), without its lock: it is not written');
        return false;
    }

    /** Reports skipped configuration values once per handler. */
    private function reportProblems(): void
    {
        if ($this->problemsReported) {
            return;
        }
        $this->problemsReported = true;
        foreach ($this->options->problems as $problem) {
            $this->warn('configuration', $problem);
        }
    }

    private function registerShutdown(): void
    {
        if ($this->shutdownRegistered) {
            return;
        }
        $this->shutdownRegistered = true;
        // Weak, so that registering does not keep a discarded handler alive.
        $handler = \WeakReference::create($this);
        register_shutdown_function(static function () use ($handler): void {
            $handler->get()?->releaseAtShutdown();
        });
    }

    /**
     * At the end of the request, releases what PHP's session module will not:
     * a session read through this handler but never closed (the handler was
     * driven directly, or the session module is not the one using it) keeps
     * the daemon's lock on a persistent socket until this worker's next
     * request, so it is closed now; and a socket left in mid-exchange is
     * dropped. A session the session module still has active is left to it
     * (it writes and closes after the shutdown functions).
     */
    private function releaseAtShutdown(): void
    {
        if ($this->connection->isInFlight()) {
            $this->connection->disconnect();
            return;
        }
        $moduleActive = function_exists('session_status') && session_status() === PHP_SESSION_ACTIVE;
        if ($this->sessionId !== null && !$moduleActive) {
            $this->close();
        }
    }


    /**
     * Decodes a JSON object into an array; JSON null gives null when $nullable.
     *
     * @return array<string, mixed>|null
     * @throws ProtocolException for anything else
     */
    private function decodeJsonObject(string $json, string $op, bool $nullable): ?array
    {
        try {
            $value = json_decode($json, false, 512, JSON_THROW_ON_ERROR | JSON_BIGINT_AS_STRING);
        } catch (\JsonException $e) {
            throw new ProtocolException(sprintf('malformed %s reply: %s', $op, $e->getMessage()));
        }
        if ($value === null && $nullable) {
            return null;
        }
        if (!$value instanceof \stdClass) {
            throw new ProtocolException(sprintf('malformed %s reply: not a JSON object', $op));
        }
        return json_decode($json, true, 512, JSON_BIGINT_AS_STRING);
    }

    private function forgetSession(): void
    {
        $this->sessionId = null;
        $this->clearExtensionFields();
    }

    private function clearExtensionFields(): void
    {
        $this->custom = '';
        $this->counters = ['error' => 0, 'warning' => 0, 'notice' => 0];
        $this->errMessage = '';
        $this->extensionChanged = false;
    }
}
