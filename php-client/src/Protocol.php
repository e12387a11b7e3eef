<?php

declare(strict_types=1);

namespace Phpsessd;

// Imported rather than resolved at run time, so that PHP compiles them to
// opcodes of their own.
use function count;
use function strlen;

/**
 * The phpsessd socket protocol, version 1 (docs/PROTOCOL.md): operation and
 * status codes, and the pure encoding and decoding of frames.
 *
 * Nothing here touches a socket; Connection does the I/O. All integers on
 * the wire are unsigned big-endian; fields are byte strings prefixed with
 * their u32 size, so any byte (NUL, invalid UTF-8) passes unchanged.
 */
final class Protocol
{
    /** The protocol version this client speaks, sent in HELLO. */
    public const VERSION = 1;

    /** The daemon's default maximum frame size, used until HELLO reports the real one. */
    public const DEFAULT_MAX_FRAME_SIZE = 4 << 20;

    public const OP_HELLO = 1;
    public const OP_READ = 2;
    public const OP_WRITE = 3;
    public const OP_UPDATE_TIMESTAMP = 4;
    public const OP_CLOSE = 5;
    public const OP_DESTROY = 6;
    public const OP_GC = 7;
    public const OP_VALIDATE_ID = 8;
    public const OP_STATUS = 9;
    public const OP_RESET = 10;
    public const OP_INFO = 11;
    public const OP_READ_UNLOCKED = 12;
    public const OP_END_SESSIONS = 13;

    public const OK = 0;
    public const BAD_FRAME = 1;
    public const FRAME_TOO_LARGE = 2;
    public const UNKNOWN_OP = 3;
    public const BAD_VERSION = 4;
    public const AUTH_FAILED = 5;
    public const NOT_AUTHENTICATED = 6;
    public const INVALID_ID = 7;
    public const LOCK_TIMEOUT = 8;
    public const DB_UNAVAILABLE = 9;
    public const CANCELLED = 10;
    public const BAD_REQUEST = 11;
    public const SHUTTING_DOWN = 12;
    public const LOCK_LOST = 13;
    public const TOO_MANY_CLIENTS = 14;
    public const INTERNAL = 99;

    /** Length of a request header: op:u8 request_id:u32. */
    public const REQUEST_HEADER_SIZE = 5;

    /** Length of a reply header: status:u16 request_id:u32. */
    public const REPLY_HEADER_SIZE = 6;

    // The keys of these three tables are the codes above written out: a constant
    // expression referring to other constants would be evaluated again in every
    // PHP request that uses the class.
    private const OP_NAMES = [
        1 => 'HELLO',
        2 => 'READ',
        3 => 'WRITE',
        4 => 'UPDATE_TIMESTAMP',
        5 => 'CLOSE',
        6 => 'DESTROY',
        7 => 'GC',
        8 => 'VALIDATE_ID',
        9 => 'STATUS',
        10 => 'RESET',
        11 => 'INFO',
        12 => 'READ_UNLOCKED',
        13 => 'END_SESSIONS',
    ];

    private const STATUS_NAMES = [
        0 => 'OK',
        1 => 'BAD_FRAME',
        2 => 'FRAME_TOO_LARGE',
        3 => 'UNKNOWN_OP',
        4 => 'BAD_VERSION',
        5 => 'AUTH_FAILED',
        6 => 'NOT_AUTHENTICATED',
        7 => 'INVALID_ID',
        8 => 'LOCK_TIMEOUT',
        9 => 'DB_UNAVAILABLE',
        10 => 'CANCELLED',
        11 => 'BAD_REQUEST',
        12 => 'SHUTTING_DOWN',
        13 => 'LOCK_LOST',
        14 => 'TOO_MANY_CLIENTS',
        99 => 'INTERNAL',
    ];

    /** Statuses after which the daemon closes the connection. */
    private const CLOSING_STATUSES = [
        1 => true, // BAD_FRAME
        2 => true, // FRAME_TOO_LARGE
        4 => true, // BAD_VERSION
        5 => true, // AUTH_FAILED
        6 => true, // NOT_AUTHENTICATED
        12 => true, // SHUTTING_DOWN
        14 => true, // TOO_MANY_CLIENTS
    ];

    private function __construct()
    {
    }

    /** The name of an operation code as PROTOCOL.md spells it, or "OP_<n>". */
    public static function opName(int $op): string
    {
        return self::OP_NAMES[$op] ?? 'OP_' . $op;
    }

    /** The name of a status code as PROTOCOL.md spells it, or "STATUS_<n>". */
    public static function statusName(int $status): string
    {
        return self::STATUS_NAMES[$status] ?? 'STATUS_' . $status;
    }

    /** Whether the daemon closes the connection after an error reply with this status. */
    public static function closesConnection(int $status): bool
    {
        return isset(self::CLOSING_STATUSES[$status]);
    }

    /**
     * Encodes one request as a complete frame, length prefix included.
     *
     * @param int           $op     operation code (OP_*)
     * @param int           $id     request id, 0 to 0xFFFFFFFF
     * @param list<string>  $fields the operation's fields, in order
     */
    public static function encodeRequest(int $op, int $id, array $fields): string
    {
        $length = self::REQUEST_HEADER_SIZE;
        $sizedFields = [];
        foreach ($fields as $field) {
            $size = strlen($field);
            $length += 4 + $size;
            $sizedFields[] = $size;
            $sizedFields[] = $field;
        }
        // One pack() for the frame: length, op, id, then each field's size and bytes.
        return pack('NCN' . str_repeat('Na*', count($fields)), $length, $op, $id, ...$sizedFields);
    }

    /**
     * Decodes a reply payload (the bytes after the frame's length prefix).
     *
     * @return array{0: int, 1: int, 2: list<string>} status, request id, fields
     * @throws ProtocolException when the payload is shorter than the header or a
     *                           field's size overruns the payload
     */
    public static function decodeReply(string $payload): array
    {
        $length = strlen($payload);
        if ($length < self::REPLY_HEADER_SIZE) {
            throw new ProtocolException(sprintf(
                'malformed reply: %d-byte payload is shorter than its header',
                $length,
            ));
        }
        ['s' => $status, 'i' => $id] = unpack('ns/Ni', $payload);
        return [$status, $id, self::decodeFields($payload, self::REPLY_HEADER_SIZE, $length)];
    }

    /**
     * Decodes the fields of a reply that lie in $bytes from $offset (just after
     * the reply header) to $end (the end of its payload), without copying the
     * payload out first.
     *
     * @return list<string>
     * @throws ProtocolException when a field's size overruns the payload
     */
    public static function decodeFields(string $bytes, int $offset, int $end): array
    {
        $fields = [];
        while ($offset < $end) {
            if ($end - $offset < 4) {
                throw new ProtocolException('malformed reply: truncated field size');
            }
            $size = unpack('N', $bytes, $offset)[1];
            $offset += 4;
            if ($size > $end - $offset) {
                throw new ProtocolException(sprintf('malformed reply: field of %d bytes overruns the payload', $size));
            }
            $fields[] = $size === 0 ? '' : substr($bytes, $offset, $size);
            $offset += $size;
        }
        return $fields;
    }

    /**
     * @param list<string> $fields
     * @return list<string> $fields, to destructure: its first $count are the
     *                      fields expected, any more are newer fields, ignored
     * @throws ProtocolException when the reply has fewer
     */
    public static function expectFields(array $fields, int $count, string $op): array
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
    public static function parseInt(string $value, string $name): int
    {
        if (strlen($value) <= 18 && (string) (int) $value === $value) {
            return (int) $value; // the usual, canonical form, without the regular expression
        }
        if (preg_match('/^-?[0-9]{1,18}$/D', $value) !== 1) {
            throw new ProtocolException(sprintf('malformed reply: %s is not a number', $name));
        }
        return (int) $value;
    }
}
