<?php

declare(strict_types=1);

namespace Phpsessd;

// Imported rather than resolved at run time, so that PHP compiles them to
// opcodes of their own: they are on the path of every exchange.
use function count;
use function is_int;
use function is_resource;
use function is_string;
use function strlen;

/**
 * PHP's session save handler for phpsessd: every method is one exchange with
 * the daemon over the socket protocol of docs/PROTOCOL.md.
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
    /** Which counter session_pgsql_add_error() increments for each error level. */
    private const ERROR_COUNTERS = [
        E_ERROR => 'error',
        E_CORE_ERROR => 'error',
        E_COMPILE_ERROR => 'error',
        E_USER_ERROR => 'error',
        E_RECOVERABLE_ERROR => 'error',
        E_WARNING => 'warning',
        E_CORE_WARNING => 'warning',
        E_COMPILE_WARNING => 'warning',
        E_USER_WARNING => 'warning',
        E_NOTICE => 'notice',
        E_USER_NOTICE => 'notice',
        E_DEPRECATED => 'notice',
        E_USER_DEPRECATED => 'notice',
    ];

    /** Largest single fread(), so a bogus length never allocates a huge buffer. */
    private const READ_CHUNK = 1 << 20;

    /** Slack above max_frame_size accepted in a reply before it counts as garbage. */
    private const REPLY_SLACK = 65536;

    private const MAX_REQUEST_ID = 0xFFFFFFFF;

    private static ?self $current = null;

    private Options $options;

    /** @var resource|null the connection; null when closed */
    private $socket = null;

    /** Whether HELLO succeeded on $socket during this object's life. */
    private bool $authenticated = false;

    private int $nextRequestId;

    /** From the last HELLO reply. */
    private string $server = '';
    private int $protocolVersion = 0;
    private int $maxFrameSize = Protocol::DEFAULT_MAX_FRAME_SIZE;

    /** Session name given to open(), sent in HELLO. */
    private ?string $sessionName = null;

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

    /**
     * Whether $socket carried exchanges before: ours, or an earlier request's
     * (a persistent socket whose position is not 0). Only such a socket may be
     * dead or hold a stale reply without the daemon being at fault.
     */
    private bool $socketUsed = false;

    /** Whether a request was sent and its reply not fully read yet. */
    private bool $inFlight = false;

    /** The last PHP error a stream function raised under captureIoErrors(). */
    private static ?string $ioError = null;

    /** @var (\Closure(int, string): bool)|null the error handler of captureIoErrors() */
    private static ?\Closure $ioErrorHandler = null;

    /**
     * @param array<string, mixed> $options address, secret, timeout,
     *                                      lock_timeout, persistent (see the class comment)
     * @throws \InvalidArgumentException for an unknown option or a value of the wrong type
     */
    public function __construct(array $options = [])
    {
        $this->options = Options::resolve($options);
        // A random start makes a reply left on a persistent socket by an
        // earlier request all but certain to carry an id we never sent.
        $this->nextRequestId = random_int(1, 0x7FFFFFFF);
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
        $this->sessionName = $name;
        $this->authenticated = false;
        $this->reportProblems();
        $this->registerShutdown();

        try {
            $this->connect();
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
        $held = $this->lockHeld;
        $this->lockHeld = false;
        if (!$held || !$this->authenticated || !is_resource($this->socket)) {
            return true;
        }
        try {
            $this->exchange(Protocol::OP_CLOSE, []);
            return true;
        } catch (\Throwable $e) {
            return $this->failed('close', $e);
        }
    }

    /**
     * Reads the session, waiting for its lock up to lock_timeout. Returns its
     * data, "" for a missing or expired session, or false on failure. Keeps
     * the custom field and error counters for the session_pgsql_* functions.
     */
    public function read(string $id): string|false
    {
        $this->forgetSession();

        try {
            $this->lockHeld = true; // until a reply says otherwise: CLOSE is then safe
            $fields = $this->exchangeInSession(Protocol::OP_READ, [$id], $this->options->lockTimeout);
            [$data, $custom, $error, $warning, $notice, $message] = $this->expectFields($fields, 6, 'READ');
            $this->counters = [
                'error' => $this->parseInt($error, 'error'),
                'warning' => $this->parseInt($warning, 'warning'),
                'notice' => $this->parseInt($notice, 'notice'),
            ];
            $this->custom = $custom;
            $this->errMessage = $message;
            $this->sessionId = $id;
            return $data;
        } catch (\Throwable $e) {
            return $this->failed('read', $e);
        }
    }

    /** Stores the data with the current custom field and error counters. */
    public function write(string $id, string $data): bool
    {
        try {
            $this->exchangeInSession(Protocol::OP_WRITE, [
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
        if ($this->extensionChanged) {
            return $this->write($id, $data);
        }
        try {
            $this->exchangeInSession(Protocol::OP_UPDATE_TIMESTAMP, [$id]);
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
            $this->exchangeInSession(Protocol::OP_DESTROY, [$id]);
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
            [$deleted] = $this->expectFields($this->exchangeInSession(Protocol::OP_GC, [(string) $max_lifetime]), 1, 'GC');
            return $this->parseInt($deleted, 'deleted');
        } catch (\Throwable $e) {
            return $this->failed('gc', $e);
        }
    }

    /** Whether a live session with this id exists (use_strict_mode); false also on failure. */
    public function validateId(string $id): bool
    {
        try {
            [$exists] = $this->expectFields($this->exchangeInSession(Protocol::OP_VALIDATE_ID, [$id]), 1, 'VALIDATE_ID');
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
     * warning on failure. Works without an active session.
     *
     * @return array<string, mixed>|false
     */
    public function status(): array|false
    {
        try {
            [$json] = $this->expectFields($this->exchangeInSession(Protocol::OP_STATUS, []), 1, 'STATUS');
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
                'server' => $this->server,
                'protocol' => $this->protocolVersion,
                'address' => $this->options->address,
                'connected' => true,
                'max_frame_size' => $this->maxFrameSize,
            ] + $daemon;
        } catch (\Throwable $e) {
            return $this->failed('status', $e);
        }
    }

    /** session_pgsql_reset(): makes the daemon reopen its database connections. */
    public function reset(): bool
    {
        try {
            $this->exchangeInSession(Protocol::OP_RESET, []);
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
            $fields = $this->expectFields($this->exchangeInSession(Protocol::OP_INFO, [$id]), 1, 'INFO');
            $row = $this->decodeJsonObject($fields[0], 'INFO', true);
            // A daemon older than these fields knew only one server.
            $serverId = isset($fields[1]) ? $this->parseInt($fields[1], 'server_id') : 0;
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
     * counter for $level (see ERROR_COUNTERS) and, when $message is not
     * empty, sets the last error message. False for another level or without
     * an active session.
     */
    public function addError(int $level, string $message = ''): bool
    {
        $counter = self::ERROR_COUNTERS[$level] ?? null;
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
            $this->disconnect();
            $reason = get_class($e) . ': ' . $e->getMessage();
        }
        $this->warn($what . ' failed', $reason);
        return false;
    }

    private function warn(string $what, string $reason): void
    {
        trigger_error(sprintf('phpsessd: %s (%s): %s', $what, $this->options->address, $reason), E_USER_WARNING);
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
        if ($this->inFlight) {
            $this->disconnect();
            return;
        }
        $moduleActive = function_exists('session_status') && session_status() === PHP_SESSION_ACTIVE;
        if ($this->sessionId !== null && !$moduleActive) {
            $this->close();
        }
    }

    /**
     * Sends one request of this PHP request's session and returns its reply's
     * fields. The first one after open() goes out together with HELLO, in one
     * write: a socket used before (a persistent one from an earlier request, or
     * ours) may be dead because the daemon restarted, or hold a stale reply;
     * then the pair is sent once more on a new connection. A timeout, or an
     * error reply the daemon sent to our own frames, is not retried.
     *
     * @param list<string> $fields
     * @return list<string>
     */
    private function exchangeInSession(int $op, array $fields, float $extraWait = 0.0): array
    {
        if ($this->authenticated && is_resource($this->socket)) {
            return $this->exchange($op, $fields, $extraWait);
        }
        $this->connect();
        $reused = $this->socketUsed;
        try {
            return $this->helloAnd($op, $fields, $extraWait);
        } catch (TimeoutException $e) {
            throw $e;
        } catch (StaleReplyException $e) {
            // Retried below.
        } catch (ErrorReplyException $e) {
            // Request id 0: the daemon could not even read our frame, i.e. it
            // choked on what an earlier request left half-sent.
            if (!$reused || $e->requestId !== 0) {
                throw $e;
            }
        } catch (ProtocolException $e) {
            if (!$reused) {
                throw $e;
            }
        }
        $this->disconnect();
        $this->connect();
        return $this->helloAnd($op, $fields, $extraWait);
    }

    /**
     * Sends HELLO and the request in one write and reads both replies.
     *
     * @param list<string> $fields
     * @return list<string> the request's reply fields
     */
    private function helloAnd(int $op, array $fields, float $extraWait): array
    {
        $name = $this->sessionName ?? (function_exists('session_name') ? (string) session_name() : '');
        $remoteAddr = $_SERVER['REMOTE_ADDR'] ?? '';
        $hello = [
            (string) Protocol::VERSION,
            $this->options->secret,
            $name,
            is_string($remoteAddr) ? $remoteAddr : '',
        ];
        return $this->exchangeAll([[Protocol::OP_HELLO, $hello], [$op, $fields]], $extraWait, true)[1];
    }

    /**
     * Takes in the fields of a HELLO reply: the daemon's server string,
     * protocol version and max_frame_size; marks the socket authenticated.
     *
     * @param list<string> $fields
     * @throws ProtocolException for a malformed reply
     */
    private function acceptHello(array $fields): void
    {
        [$server, $version, $maxFrameSize] = $this->expectFields($fields, 3, 'HELLO');
        $maxFrameSize = $this->parseInt($maxFrameSize, 'max_frame_size');
        if ($maxFrameSize < Protocol::REQUEST_HEADER_SIZE) {
            throw new ProtocolException(sprintf('malformed HELLO reply: max_frame_size %d', $maxFrameSize));
        }
        $this->server = $server;
        $this->protocolVersion = $this->parseInt($version, 'version');
        $this->maxFrameSize = $maxFrameSize;
        $this->authenticated = true;
    }

    /**
     * Opens the socket unless it is open. Returns whether the socket was in
     * use before: ours from an earlier exchange, or a persistent one that an
     * earlier request of this process wrote to (its position is not 0).
     *
     * @throws ConnectException
     */
    private function connect(): bool
    {
        if (is_resource($this->socket)) {
            return true;
        }
        $this->socket = null;
        $this->authenticated = false;
        $target = $this->options->streamAddress();
        if ($target === null) {
            throw new ConnectException('invalid address (allowed: unix:/path/to/socket or tcp:host:port)');
        }
        $flags = STREAM_CLIENT_CONNECT | ($this->options->persistent ? STREAM_CLIENT_PERSISTENT : 0);
        $context = stream_context_create($this->options->isTcp() ? ['socket' => ['tcp_nodelay' => true]] : []);
        $errno = 0;
        $errstr = '';
        self::captureIoErrors();
        try {
            $socket = stream_socket_client($target, $errno, $errstr, $this->options->timeout, $flags, $context);
        } finally {
            restore_error_handler();
        }
        if (!is_resource($socket)) {
            $reason = $errstr !== '' ? $errstr : (self::$ioError ?? 'unknown error');
            throw new ConnectException('cannot connect: ' . $reason);
        }
        $this->socket = $socket;
        $position = ftell($socket);
        $this->socketUsed = is_int($position) && $position > 0;
        return $this->socketUsed;
    }

    /** Closes the socket (fclose() also ends a persistent one). */
    private function disconnect(): void
    {
        $this->inFlight = false;
        if (is_resource($this->socket)) {
            self::captureIoErrors();
            try {
                fclose($this->socket);
            } finally {
                restore_error_handler();
            }
        }
        $this->socket = null;
        $this->authenticated = false;
    }

    /**
     * Sends one request and reads its reply.
     *
     * @param list<string> $fields
     * @param float        $extraWait seconds the reply may take beyond the timeout
     * @return list<string> the fields of an OK reply
     * @throws ErrorReplyException for an error reply (the socket is closed if the daemon closes it)
     * @throws StaleReplyException when the reply's id is not the one sent (the socket is closed)
     * @throws ProtocolException   for any other failure (the socket is closed, except
     *                             when the request was too large to send)
     */
    private function exchange(int $op, array $fields, float $extraWait = 0.0): array
    {
        return $this->exchangeAll([[$op, $fields]], $extraWait)[0];
    }

    /**
     * Sends requests in one write and reads their replies in order, as exchange()
     * does for one. With $hello, the first request is HELLO and its reply is
     * taken in (acceptHello()) before the next is read, so that a refused or
     * malformed HELLO is reported as such.
     *
     * The whole exchange, writing included, must end by timeout + $extraWait:
     * every call that can wait gets the time left as its timeout. PHP warnings
     * of the stream functions are kept from the user's error handler
     * (captureIoErrors()) for the length of the exchange.
     *
     * @param list<array{int, list<string>}> $requests
     * @return list<list<string>> the fields of each reply
     */
    private function exchangeAll(array $requests, float $extraWait = 0.0, bool $hello = false): array
    {
        if (!is_resource($this->socket)) {
            $this->disconnect();
            throw new ProtocolException('not connected');
        }
        $frames = '';
        $ids = [];
        foreach ($requests as [$op, $fields]) {
            $id = $this->nextRequestId();
            $frame = Protocol::encodeRequest($op, $id, $fields);
            $size = strlen($frame) - 4;
            if ($size > $this->maxFrameSize) {
                throw new ProtocolException(sprintf(
                    '%s request of %d bytes exceeds the daemon\'s max_frame_size of %d bytes',
                    Protocol::opName($op),
                    $size,
                    $this->maxFrameSize,
                ));
            }
            $frames .= $frame;
            $ids[] = $id;
        }
        $last = count($ids) - 1;
        $limit = $this->replyLimit();
        $seconds = $this->options->timeout + $extraWait;
        $deadline = microtime(true) + $seconds;
        $this->inFlight = true;
        self::captureIoErrors();
        try {
            try {
                $this->writeAll($frames, $deadline);
            } catch (TimeoutException $e) {
                $this->disconnect();
                throw $e;
            } catch (ProtocolException $e) {
                // The daemon may have closed the connection after an error reply
                // of its own (TOO_MANY_CLIENTS, when it refuses it): that says
                // more than the broken pipe.
                $closing = $this->closingReply($limit);
                $this->disconnect();
                throw $closing ?? $e;
            }
            $replies = [];
            foreach ($ids as $i => $id) {
                try {
                    [$status, $replyId, $reply] = Protocol::decodeReply($this->readFrame($deadline, $limit));
                    $this->inFlight = $i < $last;
                } catch (TimeoutException $e) {
                    $this->disconnect();
                    throw new TimeoutException(sprintf('%s after %s s', $e->getMessage(), round($seconds, 3)), 0, $e);
                } catch (ProtocolException $e) {
                    $this->disconnect();
                    throw $e;
                }
                if ($replyId !== $id) {
                    $this->disconnect();
                    if ($replyId === 0 && $status !== Protocol::OK) {
                        throw new ErrorReplyException($status, $reply[0] ?? '', 0);
                    }
                    throw new StaleReplyException(sprintf(
                        'stale reply: the %s reply carries request id %d instead of %d',
                        Protocol::opName($requests[$i][0]),
                        $replyId,
                        $id,
                    ));
                }
                if ($status !== Protocol::OK) {
                    // Replies still due would be stale for the next exchange.
                    if ($i < $last || Protocol::closesConnection($status)) {
                        $this->disconnect();
                    }
                    throw new ErrorReplyException($status, $reply[0] ?? '', $replyId);
                }
                if ($i === 0 && $hello) {
                    try {
                        $this->acceptHello($reply);
                    } catch (ProtocolException $e) {
                        $this->disconnect();
                        throw $e;
                    }
                }
                $replies[] = $reply;
            }
        } finally {
            restore_error_handler();
        }
        $this->socketUsed = true;
        return $replies;
    }

    /**
     * The error reply the daemon left on a connection it closed before it read
     * our request (whose write failed), or null. Waits for nothing.
     */
    private function closingReply(int $limit): ?ErrorReplyException
    {
        try {
            [$status, $replyId, $reply] = Protocol::decodeReply($this->readFrame(microtime(true) + 0.001, $limit));
        } catch (ProtocolException) {
            return null;
        }
        return $status !== Protocol::OK && $replyId === 0 ? new ErrorReplyException($status, $reply[0] ?? '', 0) : null;
    }

    /** The next request id: consecutive, wrapping from 0xFFFFFFFF to 1 (0 means "unknown" in replies). */
    private function nextRequestId(): int
    {
        $id = $this->nextRequestId;
        $this->nextRequestId = $id >= self::MAX_REQUEST_ID ? 1 : $id + 1;
        return $id;
    }

    private function replyLimit(): int
    {
        return max($this->maxFrameSize, Protocol::DEFAULT_MAX_FRAME_SIZE) + self::REPLY_SLACK;
    }

    /**
     * Writes all of $data, coping with short writes, until $deadline.
     * Call with captureIoErrors() in effect.
     *
     * @throws TimeoutException at the deadline, ProtocolException when the connection fails
     */
    private function writeAll(string $data, float $deadline): void
    {
        $total = strlen($data);
        $written = 0;
        do {
            $this->setTimeout($deadline, 'sending the request');
            $count = fwrite($this->socket, $written === 0 ? $data : substr($data, $written));
            if ($count === false || $count === 0) {
                if (stream_get_meta_data($this->socket)['timed_out']) {
                    throw new TimeoutException('timed out sending the request');
                }
                throw new ProtocolException('cannot send the request: ' . (self::$ioError ?? 'connection closed'));
            }
            $written += $count;
        } while ($written < $total);
    }

    /**
     * Reads one reply frame until $deadline and returns its payload (the
     * bytes after the length prefix). Usually that takes two fread() calls
     * and no more: PHP's socket stream reads up to 8 KiB at a time into its
     * buffer, so once the length is read the payload is mostly there already;
     * short reads go to readRest(). Call with captureIoErrors() in effect.
     *
     * @throws ProtocolException for a length below a reply header or above $limit,
     *                           on EOF or a read error; TimeoutException at the deadline
     */
    private function readFrame(float $deadline, int $limit): string
    {
        $this->setTimeout($deadline, 'waiting for the reply');
        $header = fread($this->socket, 4);
        if (!is_string($header) || strlen($header) !== 4) {
            $header = $this->readRest($header, 4, $deadline, true);
        }
        $length = unpack('N', $header)[1];
        if ($length < Protocol::REPLY_HEADER_SIZE || $length > $limit) {
            throw new ProtocolException(sprintf('malformed reply: frame length %d', $length));
        }
        $this->setTimeout($deadline, 'waiting for the reply');
        $payload = fread($this->socket, $length < self::READ_CHUNK ? $length : self::READ_CHUNK);
        if (!is_string($payload) || strlen($payload) !== $length) {
            $payload = $this->readRest($payload, $length, $deadline, false);
        }
        return $payload;
    }

    /**
     * Completes a read of $n bytes that fread() answered with $first (short,
     * empty or false), reading on until $deadline.
     *
     * @param string|false $first
     * @param bool         $frameStart whether these are a frame's first bytes (for the error message)
     * @throws ProtocolException on EOF or a read error, TimeoutException at the deadline
     */
    private function readRest(string|false $first, int $n, float $deadline, bool $frameStart): string
    {
        $chunk = $first;
        $buffer = '';
        while (true) {
            if ($chunk === false || $chunk === '') {
                $meta = stream_get_meta_data($this->socket);
                if ($meta['timed_out']) {
                    throw new TimeoutException('timed out waiting for the reply');
                }
                if ($meta['eof'] || $chunk === false) {
                    throw new ProtocolException(sprintf(
                        'the daemon closed the connection%s%s',
                        $frameStart && $buffer === '' ? '' : ' in the middle of a reply',
                        self::$ioError !== null ? ' (' . self::$ioError . ')' : '',
                    ));
                }
            } else {
                $buffer .= $chunk;
            }
            $missing = $n - strlen($buffer);
            if ($missing === 0) {
                return $buffer;
            }
            $this->setTimeout($deadline, 'waiting for the reply');
            $chunk = fread($this->socket, $missing < self::READ_CHUNK ? $missing : self::READ_CHUNK);
        }
    }

    /**
     * Sets the socket's timeout to the time left until $deadline, so that the
     * next stream call waits no longer.
     *
     * @throws TimeoutException when no time is left
     */
    private function setTimeout(float $deadline, string $doing): void
    {
        $left = $deadline - microtime(true);
        if ($left <= 0) {
            throw new TimeoutException('timed out ' . $doing);
        }
        $seconds = (int) $left;
        $microseconds = (int) (($left - $seconds) * 1e6);
        stream_set_timeout(
            $this->socket,
            $seconds,
            $microseconds < 1 ? 1 : ($microseconds > 999999 ? 999999 : $microseconds),
        );
    }

    /**
     * Installs the error handler that keeps the PHP warnings and notices of
     * stream functions (connection refused, broken pipe, reset by peer) from
     * the user's error handler, recording the last one in self::$ioError.
     * Every call is paired with restore_error_handler() in a `finally`.
     */
    private static function captureIoErrors(): void
    {
        self::$ioError = null;
        // One closure per process; static, so that it holds no handler alive.
        set_error_handler(self::$ioErrorHandler ??= static function (int $level, string $message): bool {
            self::$ioError = (string) preg_replace('/^\w+\(\): /', '', $message);
            return true;
        });
    }

    /**
     * @param list<string> $fields
     * @return list<string> $fields, to destructure: its first $count are the
     *                      fields expected, any more are newer fields, ignored
     * @throws ProtocolException when the reply has fewer
     */
    private function expectFields(array $fields, int $count, string $op): array
    {
        if (count($fields) < $count) {
            throw new ProtocolException(sprintf(
                'malformed %s reply: %d field(s) instead of %d',
                $op,
                count($fields),
                $count,
            ));
        }
        return $fields;
    }

    /** @throws ProtocolException unless $value is a decimal integer */
    private function parseInt(string $value, string $name): int
    {
        if (strlen($value) <= 18 && (string) (int) $value === $value) {
            return (int) $value; // the usual, canonical form, without the regular expression
        }
        if (preg_match('/^-?[0-9]{1,18}$/D', $value) !== 1) {
            throw new ProtocolException(sprintf('malformed reply: %s is not a number', $name));
        }
        return (int) $value;
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
