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
 * The client side of one connection to phpsessd (docs/PROTOCOL.md): connects
 * (reusing the process's persistent socket), sends requests and reads their
 * replies, pipelined in one write; sends HELLO with the first request of each
 * PHP request; detects stale replies and retries once on a new connection when
 * a reused socket turns out dead; bounds every exchange by the timeout.
 *
 * Every method that talks to the daemon throws a ProtocolException (or one of
 * its subclasses) on failure; after a failure in mid-exchange the socket is
 * closed, so the next exchange starts on a clean connection. Warnings of the
 * stream functions never reach the user's error handler.
 *
 * Connections with the same address share one persistent socket within a
 * process.
 */
final class Connection
{
    /** Largest single fread(), so a bogus length never allocates a huge buffer. */
    private const READ_CHUNK = 1 << 20;

    /** Slack above max_frame_size accepted in a reply before it counts as garbage. */
    private const REPLY_SLACK = 65536;

    private const MAX_REQUEST_ID = 0xFFFFFFFF;

    /** @var resource|null the connection; null when closed */
    private $socket = null;

    /** Whether HELLO succeeded on $socket since the PHP request began (begin()). */
    private bool $authenticated = false;

    private int $nextRequestId;

    /** From the last HELLO reply. */
    private string $server = '';
    private int $protocolVersion = 0;
    private int $maxFrameSize;

    /** Session name sent in HELLO; null: session_name(). */
    private ?string $sessionName = null;

    /**
     * Whether $socket carried exchanges before: ours, or an earlier request's
     * (a persistent socket whose position is not 0). Only such a socket may be
     * dead or hold a stale reply without the daemon being at fault.
     */
    private bool $socketUsed = false;

    /** Bytes read from $socket; those from $bufferOffset on are not yet taken by readReply(). */
    private string $buffer = '';

    private int $bufferOffset = 0;

    /** Whether a request was sent and its reply not fully read yet. */
    private bool $inFlight = false;

    /** The last PHP error a stream function raised under captureIoErrors(). */
    private static ?string $ioError = null;

    /** @var (\Closure(int, string): bool)|null the error handler of captureIoErrors() */
    private static ?\Closure $ioErrorHandler = null;

    public function __construct(private readonly Options $options)
    {
        // A start that differs from request to request (the monotonic clock's
        // nanoseconds, which random_int()'s system call would cost far more than)
        // makes a reply left on a persistent socket by an earlier request all but
        // certain to carry an id we never sent.
        $this->nextRequestId = hrtime(true) % 0x7FFFFFFF + 1;
        // Set here, not as the property's default: a default naming another
        // class's constant is evaluated again in every PHP request.
        $this->maxFrameSize = Protocol::DEFAULT_MAX_FRAME_SIZE;
    }

    /**
     * Starts a PHP request's use of the connection: its next request goes out
     * with HELLO, carrying $sessionName (null: session_name()), which makes the
     * daemon drop whatever an earlier request left on a persistent socket.
     */
    public function begin(?string $sessionName): void
    {
        $this->sessionName = $sessionName;
        $this->authenticated = false;
    }

    /** Whether HELLO succeeded on the open socket since begin(). */
    public function isAuthenticated(): bool
    {
        return $this->authenticated && is_resource($this->socket);
    }

    /** Whether a request was sent and its reply not fully read (the socket is unusable). */
    public function isInFlight(): bool
    {
        return $this->inFlight;
    }

    /** The daemon's server string from the last HELLO reply, e.g. "phpsessd/1.0". */
    public function server(): string
    {
        return $this->server;
    }

    /** The protocol version from the last HELLO reply; 0 before one. */
    public function protocolVersion(): int
    {
        return $this->protocolVersion;
    }

    /** The daemon's max_frame_size from the last HELLO reply, or the default before one. */
    public function maxFrameSize(): int
    {
        return $this->maxFrameSize;
    }

    /**
     * Sends one request and returns its reply's fields, with the extra time
     * $extraWait for the reply beyond the timeout. The first one after begin()
     * (or after the socket was closed) goes out together with HELLO, in one
     * write: a socket used before (a persistent one from an earlier request, or
     * ours) may be dead because the daemon restarted, or hold a stale reply;
     * then the pair is sent once more on a new connection. A timeout, or an
     * error reply the daemon sent to our own frames, is not retried.
     *
     * $alone says that the request is not part of a session (no session was
     * opened: session_pgsql_status() or _reset() on their own). HELLO starts
     * a PHP request in the daemon, which only WRITE, UPDATE_TIMESTAMP or
     * CLOSE end, and a draining daemon waits for a connection within one; so
     * when such a request goes out with HELLO, a CLOSE follows in the same
     * write, and its reply is read with the others: no extra round trip.
     *
     * @param list<string> $fields
     * @return list<string>
     * @throws ProtocolException as exchangeAll() does; ConnectException when the
     *                           daemon cannot be reached
     */
    public function request(int $op, array $fields, float $extraWait = 0.0, bool $alone = false): array
    {
        if (is_resource($this->socket)) {
            if ($this->authenticated) {
                return $this->exchangeAll([[$op, $fields]], $extraWait)[0];
            }
        } else {
            $this->connect();
        }
        $reused = $this->socketUsed;
        try {
            return $this->helloAnd($op, $fields, $extraWait, $alone);
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
        return $this->helloAnd($op, $fields, $extraWait, $alone);
    }

    /**
     * Sends HELLO and the request (then CLOSE when $alone) in one write and
     * reads their replies.
     *
     * @param list<string> $fields
     * @return list<string> the request's reply fields
     */
    private function helloAnd(int $op, array $fields, float $extraWait, bool $alone): array
    {
        $name = $this->sessionName ?? (function_exists('session_name') ? (string) session_name() : '');
        $remoteAddr = self::remoteAddr();
        $hello = [
            (string) Protocol::VERSION,
            $this->options->secret,
            $name,
            $remoteAddr,
        ];
        $requests = [[Protocol::OP_HELLO, $hello], [$op, $fields]];
        if ($alone) {
            $requests[] = [Protocol::OP_CLOSE, []];
        }
        return $this->exchangeAll($requests, $extraWait, true)[1];
    }

    /**
     * The client's address: $_SERVER['REMOTE_ADDR'] when $_SERVER exists in
     * this request (the application may have set it, e.g. from a trusted
     * proxy's header), else getenv('REMOTE_ADDR'), which is where PHP takes
     * $_SERVER's value from (the FastCGI parameters under FPM, the
     * environment in the CLI). PHP creates $_SERVER on demand, from every
     * request parameter, the first time code that names it is loaded; naming
     * it here would make every request pay for that.
     */
    private static function remoteAddr(): string
    {
        $name = '_SERVER';
        $server = $GLOBALS[$name] ?? null;
        $addr = is_array($server) ? ($server['REMOTE_ADDR'] ?? '') : getenv('REMOTE_ADDR');
        return is_string($addr) ? $addr : '';
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
        [$server, $version, $maxFrameSize] = Protocol::expectFields($fields, 3, 'HELLO');
        $maxFrameSize = Protocol::parseInt($maxFrameSize, 'max_frame_size');
        if ($maxFrameSize < Protocol::REQUEST_HEADER_SIZE) {
            throw new ProtocolException(sprintf('malformed HELLO reply: max_frame_size %d', $maxFrameSize));
        }
        $this->server = $server;
        $this->protocolVersion = Protocol::parseInt($version, 'version');
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
    public function connect(): bool
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
        $context = $this->options->isTcp() ? stream_context_create(['socket' => ['tcp_nodelay' => true]]) : null;
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
        $this->buffer = '';
        $this->bufferOffset = 0;
        $position = ftell($socket);
        $this->socketUsed = is_int($position) && $position > 0;
        return $this->socketUsed;
    }

    /** Closes the socket (fclose() also ends a persistent one). */
    public function disconnect(): void
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
        $this->buffer = '';
        $this->bufferOffset = 0;
        $this->authenticated = false;
    }

    /**
     * Sends requests in one write and reads their replies in order. With
     * $hello, the first request is HELLO and its reply is taken in
     * (acceptHello()) before the next is read, so that a refused or malformed
     * HELLO is reported as such.
     *
     * The whole exchange, writing included, must end by timeout + $extraWait:
     * every call that can wait gets the time left as its timeout. PHP warnings
     * of the stream functions are kept from the user's error handler
     * (captureIoErrors()) for the length of the exchange.
     *
     * @param list<array{int, list<string>}> $requests
     * @return list<list<string>> the fields of each reply, all OK
     * @throws ErrorReplyException for an error reply (the socket is closed if the daemon closes it)
     * @throws StaleReplyException when a reply's id is not the one sent (the socket is closed)
     * @throws ProtocolException   for any other failure (the socket is closed, except
     *                             when a request was too large to send)
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
            // The next request id: consecutive, wrapping from 0xFFFFFFFF to 1
            // (0 means "unknown" in replies).
            $id = $this->nextRequestId;
            $this->nextRequestId = $id >= self::MAX_REQUEST_ID ? 1 : $id + 1;
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
                    [$status, $replyId, $reply] = $this->readReply($deadline, $limit);
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
            [$status, $replyId, $reply] = $this->readReply(microtime(true) + 0.001, $limit);
        } catch (ProtocolException) {
            return null;
        }
        return $status !== Protocol::OK && $replyId === 0 ? new ErrorReplyException($status, $reply[0] ?? '', 0) : null;
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
     * Reads one reply frame until $deadline and returns it decoded: status,
     * request id and fields. Reads whatever the socket has, at least 8 KiB at a
     * time, into $buffer, so that the replies of a pipelined exchange, which the
     * daemon writes together, usually take a single fread() between them; the
     * bytes beyond this frame stay in $buffer (from $bufferOffset) for the next
     * one. Call with captureIoErrors() in effect.
     *
     * @return array{0: int, 1: int, 2: list<string>}
     * @throws ProtocolException for a length below a reply header or above $limit,
     *                           a malformed payload, on EOF or a read error;
     *                           TimeoutException at the deadline
     */
    private function readReply(float $deadline, int $limit): array
    {
        $length = -1;
        while (true) {
            $have = strlen($this->buffer) - $this->bufferOffset;
            if ($length < 0 && $have >= 4) {
                $length = unpack('N', $this->buffer, $this->bufferOffset)[1];
                if ($length < Protocol::REPLY_HEADER_SIZE || $length > $limit) {
                    throw new ProtocolException(sprintf('malformed reply: frame length %d', $length));
                }
            }
            if ($length >= 0 && $have >= 4 + $length) {
                $start = $this->bufferOffset + 4;
                ['s' => $status, 'i' => $id] = unpack('ns/Ni', $this->buffer, $start);
                $fields = Protocol::decodeFields($this->buffer, $start + Protocol::REPLY_HEADER_SIZE, $start + $length);
                if ($have === 4 + $length) {
                    $this->buffer = '';
                    $this->bufferOffset = 0;
                } else {
                    $this->bufferOffset += 4 + $length;
                }
                return [$status, $id, $fields];
            }
            $missing = $length < 0 ? 4 - $have : 4 + $length - $have;
            $this->setTimeout($deadline, 'waiting for the reply');
            $chunk = fread($this->socket, $missing < 8192 ? 8192 : ($missing < self::READ_CHUNK ? $missing : self::READ_CHUNK));
            if ($chunk === false || $chunk === '') {
                $meta = stream_get_meta_data($this->socket);
                if ($meta['timed_out']) {
                    throw new TimeoutException('timed out waiting for the reply');
                }
                if ($meta['eof'] || $chunk === false) {
                    throw new ProtocolException(sprintf(
                        'the daemon closed the connection%s%s',
                        $have === 0 ? '' : ' in the middle of a reply',
                        self::$ioError !== null ? ' (' . self::$ioError . ')' : '',
                    ));
                }
                continue;
            }
            if ($this->bufferOffset > 0) {
                $this->buffer = substr($this->buffer, $this->bufferOffset);
                $this->bufferOffset = 0;
            }
            $this->buffer .= $chunk;
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
}
