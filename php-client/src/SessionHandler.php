<?php

declare(strict_types=1);

namespace Phpsessd;

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

    /** The last PHP error raised by a stream function inside io(). */
    private ?string $ioError = null;

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

        return $this->guard('open', function (): bool {
            $this->connect();
            return true;
        });
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
        return $this->guard('close', function (): bool {
            $this->exchange(Protocol::OP_CLOSE, []);
            return true;
        });
    }

    /**
     * Reads the session, waiting for its lock up to lock_timeout. Returns its
     * data, "" for a missing or expired session, or false on failure. Keeps
     * the custom field and error counters for the session_pgsql_* functions.
     */
    public function read(string $id): string|false
    {
        $this->forgetSession();

        return $this->guard('read', function () use ($id): string {
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
        });
    }

    /** Stores the data with the current custom field and error counters. */
    public function write(string $id, string $data): bool
    {
        return $this->guard('write', function () use ($id, $data): bool {
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
        });
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
        return $this->guard('updateTimestamp', function () use ($id): bool {
            $this->exchangeInSession(Protocol::OP_UPDATE_TIMESTAMP, [$id]);
            $this->lockHeld = false; // so does an UPDATE_TIMESTAMP
            return true;
        });
    }

    /** Deletes the session; a missing session is not an error. */
    public function destroy(string $id): bool
    {
        return $this->guard('destroy', function () use ($id): bool {
            $this->exchangeInSession(Protocol::OP_DESTROY, [$id]);
            if ($id === $this->sessionId) {
                $this->clearExtensionFields();
            }
            return true;
        });
    }

    /** Deletes expired sessions; returns how many, or false on failure. */
    public function gc(int $max_lifetime): int|false
    {
        return $this->guard('gc', function () use ($max_lifetime): int {
            [$deleted] = $this->expectFields($this->exchangeInSession(Protocol::OP_GC, [(string) $max_lifetime]), 1, 'GC');
            return $this->parseInt($deleted, 'deleted');
        });
    }

    /** Whether a live session with this id exists (use_strict_mode); false also on failure. */
    public function validateId(string $id): bool
    {
        return $this->guard('validateId', function () use ($id): bool {
            [$exists] = $this->expectFields($this->exchangeInSession(Protocol::OP_VALIDATE_ID, [$id]), 1, 'VALIDATE_ID');
            return $exists === '1';
        });
    }

    /**
     * session_pgsql_status(): the client's view (server, protocol, address,
     * connected, max_frame_size) followed by the keys of the daemon's STATUS
     * object; false and a warning on failure. Works without an active session.
     *
     * @return array<string, mixed>|false
     */
    public function status(): array|false
    {
        return $this->guard('status', function (): array {
            [$json] = $this->expectFields($this->exchangeInSession(Protocol::OP_STATUS, []), 1, 'STATUS');
            $daemon = $this->decodeJsonObject($json, 'STATUS', false);
            return [
                'server' => $this->server,
                'protocol' => $this->protocolVersion,
                'address' => $this->options->address,
                'connected' => true,
                'max_frame_size' => $this->maxFrameSize,
            ] + $daemon;
        });
    }

    /** session_pgsql_reset(): makes the daemon reopen its database connections. */
    public function reset(): bool
    {
        return $this->guard('reset', function (): bool {
            $this->exchangeInSession(Protocol::OP_RESET, []);
            return true;
        });
    }

    /**
     * session_pgsql_info(): the active session's row metadata as the daemon
     * reports it (id, name, data_size, created, modified, expire, addr_created,
     * addr_modified, counter, error, warning, notice, err_message, custom).
     * False without a warning when no session is active or it has no row yet;
     * false with a warning on failure.
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

        return $this->guard('info', function () use ($id): array|false {
            [$json] = $this->expectFields($this->exchangeInSession(Protocol::OP_INFO, [$id]), 1, 'INFO');
            return $this->decodeJsonObject($json, 'INFO', true) ?? false;
        });
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
     * session_pgsql_get_error(): ['error' => int, 'warning' => int,
     * 'notice' => int], plus 'err_message' => string when asked; false
     * without an active session.
     *
     * @return array<string, int|string>|false
     */
    public function getError(bool $withMessage = false): array|false
    {
        if ($this->sessionId === null) {
            return false;
        }
        $result = $this->counters;
        if ($withMessage) {
            $result['err_message'] = $this->errMessage;
        }
        return $result;
    }

    /**
     * Runs one public operation: its exceptions become a warning and false.
     *
     * @template T
     * @param callable(): T $operation
     * @return T|false
     */
    private function guard(string $what, callable $operation): mixed
    {
        try {
            return $operation();
        } catch (ProtocolException $e) {
            $reason = $e->getMessage();
        } catch (\Throwable $e) {
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
        [$helloFields, $replyFields] = $this->exchangeAll([[Protocol::OP_HELLO, $hello], [$op, $fields]], $extraWait, function (array $helloFields): void {
            [$server, $version, $maxFrameSize] = $this->expectFields($helloFields, 3, 'HELLO');
            $maxFrameSize = $this->parseInt($maxFrameSize, 'max_frame_size');
            if ($maxFrameSize < Protocol::REQUEST_HEADER_SIZE) {
                throw new ProtocolException(sprintf('malformed HELLO reply: max_frame_size %d', $maxFrameSize));
            }
            $this->server = $server;
            $this->protocolVersion = $this->parseInt($version, 'version');
            $this->maxFrameSize = $maxFrameSize;
            $this->authenticated = true;
        });
        return $replyFields;
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
        $socket = $this->io(function () use ($target, $flags, $context, &$errno, &$errstr) {
            return stream_socket_client($target, $errno, $errstr, $this->options->timeout, $flags, $context);
        });
        if (!is_resource($socket)) {
            $reason = $errstr !== '' ? $errstr : ($this->ioError ?? 'unknown error');
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
            $socket = $this->socket;
            $this->io(static fn () => fclose($socket));
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
     * does for one. $first, when given, checks the first reply before the next
     * is read (HELLO's, so that a refused HELLO is reported as such).
     *
     * @param list<array{int, list<string>}> $requests
     * @param (callable(list<string>): void)|null $first
     * @return list<list<string>> the fields of each reply
     */
    private function exchangeAll(array $requests, float $extraWait = 0.0, ?callable $first = null): array
    {
        if (!is_resource($this->socket)) {
            $this->disconnect();
            throw new ProtocolException('not connected');
        }
        $frames = '';
        $sent = [];
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
            $sent[] = [$op, $id];
        }
        $seconds = $this->options->timeout + $extraWait;
        $deadline = microtime(true) + $seconds;
        $this->inFlight = true;
        try {
            $this->writeAll($frames, $deadline);
        } catch (ProtocolException $e) {
            $this->disconnect();
            throw $e;
        }
        $replies = [];
        foreach ($sent as $i => [$op, $id]) {
            $pending = $i < count($sent) - 1;
            try {
                $length = unpack('N', $this->readExactly(4, $deadline))[1];
                if ($length < Protocol::REPLY_HEADER_SIZE || $length > $this->replyLimit()) {
                    throw new ProtocolException(sprintf('malformed reply: frame length %d', $length));
                }
                [$status, $replyId, $reply] = Protocol::decodeReply($this->readExactly($length, $deadline));
                $this->inFlight = $pending;
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
                    Protocol::opName($op),
                    $replyId,
                    $id,
                ));
            }
            if ($status !== Protocol::OK) {
                // Replies still due would be stale for the next exchange.
                if ($pending || Protocol::closesConnection($status)) {
                    $this->disconnect();
                }
                throw new ErrorReplyException($status, $reply[0] ?? '', $replyId);
            }
            if ($i === 0 && $first !== null) {
                try {
                    $first($reply);
                } catch (ProtocolException $e) {
                    $this->disconnect();
                    throw $e;
                }
            }
            $replies[] = $reply;
        }
        $this->socketUsed = true;
        return $replies;
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

    /** @throws ProtocolException */
    private function writeAll(string $data, float $deadline): void
    {
        $total = strlen($data);
        $written = 0;
        while ($written < $total) {
            $this->setTimeout($deadline, 'sending the request');
            $chunk = $written === 0 ? $data : substr($data, $written);
            $count = $this->io(fn () => fwrite($this->socket, $chunk));
            if ($count === false || $count === 0) {
                if (stream_get_meta_data($this->socket)['timed_out']) {
                    throw new TimeoutException('timed out sending the request');
                }
                throw new ProtocolException('cannot send the request: ' . ($this->ioError ?? 'connection closed'));
            }
            $written += $count;
        }
    }

    /**
     * Reads exactly $n bytes, coping with short reads, until $deadline.
     *
     * @throws ProtocolException on EOF or a read error, TimeoutException at the deadline
     */
    private function readExactly(int $n, float $deadline): string
    {
        $buffer = '';
        while (($missing = $n - strlen($buffer)) > 0) {
            $this->setTimeout($deadline, 'waiting for the reply');
            $chunk = $this->io(fn () => fread($this->socket, min($missing, self::READ_CHUNK)));
            if ($chunk === false || $chunk === '') {
                $meta = stream_get_meta_data($this->socket);
                if ($meta['timed_out']) {
                    throw new TimeoutException('timed out waiting for the reply');
                }
                if ($meta['eof'] || $chunk === false) {
                    throw new ProtocolException(sprintf(
                        'the daemon closed the connection%s%s',
                        $buffer === '' && $n === 4 ? '' : ' in the middle of a reply',
                        $this->ioError !== null ? ' (' . $this->ioError . ')' : '',
                    ));
                }
                continue;
            }
            $buffer .= $chunk;
        }
        return $buffer;
    }

    /** Sets the socket's timeout to the time left until $deadline. */
    private function setTimeout(float $deadline, string $doing): void
    {
        $left = $deadline - microtime(true);
        if ($left <= 0) {
            throw new TimeoutException('timed out ' . $doing);
        }
        $seconds = (int) $left;
        $microseconds = max(1, min(999999, (int) (($left - $seconds) * 1e6)));
        stream_set_timeout($this->socket, $seconds, $microseconds);
    }

    /**
     * Calls a stream function, capturing the PHP warning or notice it may raise
     * (connection refused, broken pipe, reset by peer) in $ioError instead of
     * letting it reach the user's error handler.
     *
     * @template T
     * @param callable(): T $call
     * @return T
     */
    private function io(callable $call): mixed
    {
        $this->ioError = null;
        set_error_handler(function (int $level, string $message): bool {
            $this->ioError = (string) preg_replace('/^\w+\(\): /', '', $message);
            return true;
        });
        try {
            return $call();
        } finally {
            restore_error_handler();
        }
    }

    /**
     * @param list<string> $fields
     * @return list<string> the first $count fields
     * @throws ProtocolException when the reply has fewer (more are newer fields, ignored)
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
        return array_slice($fields, 0, $count);
    }

    /** @throws ProtocolException unless $value is a decimal integer */
    private function parseInt(string $value, string $name): int
    {
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
