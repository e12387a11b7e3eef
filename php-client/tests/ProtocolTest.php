<?php

declare(strict_types=1);

namespace Phpsessd\Tests;

use Phpsessd\Protocol;
use Phpsessd\ProtocolException;

final class ProtocolTest extends TestCase
{
    public function testRequestIsLengthOpIdThenSizedFields(): void
    {
        $frame = Protocol::encodeRequest(Protocol::OP_READ, 0x01020304, ['ab', '']);

        $this->assertSame(
            "\x00\x00\x00\x0f" . "\x02" . "\x01\x02\x03\x04" . "\x00\x00\x00\x02ab" . "\x00\x00\x00\x00",
            $frame,
        );
    }

    /** @return array<string, array{string}> */
    public static function binaryFields(): array
    {
        return [
            'empty' => [''],
            'NUL bytes' => ["a\0b\0\0c"],
            'invalid UTF-8' => ["\xff\xfe\xc3\x28\x80"],
            'serialized private property' => ["O:1:\"A\":1:{s:4:\"\0A\0x\";i:1;}"],
            '1 MiB of random bytes' => [random_bytes(1 << 20)],
        ];
    }

    /** @dataProvider binaryFields */
    public function testReplyFieldsRoundTripAnyBytes(string $field): void
    {
        $payload = pack('nN', Protocol::OK, 7) . pack('N', strlen($field)) . $field . pack('N', 1) . 'x';

        [$status, $id, $fields] = Protocol::decodeReply($payload);

        $this->assertSame(Protocol::OK, $status);
        $this->assertSame(7, $id);
        $this->assertSame([$field, 'x'], $fields);
    }

    public function testReplyWithoutFieldsDecodesToNoFields(): void
    {
        $this->assertSame([Protocol::LOCK_TIMEOUT, 0xFFFFFFFF, []], Protocol::decodeReply(pack('nN', 8, 0xFFFFFFFF)));
    }

    public function testReplyShorterThanItsHeaderIsRejected(): void
    {
        $this->expectException(ProtocolException::class);
        Protocol::decodeReply("\x00\x00\x00\x00\x01");
    }

    public function testFieldOverrunningThePayloadIsRejected(): void
    {
        $this->expectException(ProtocolException::class);
        Protocol::decodeReply(pack('nNN', 0, 1, 10) . 'short');
    }

    public function testTruncatedFieldSizeIsRejected(): void
    {
        $this->expectException(ProtocolException::class);
        Protocol::decodeReply(pack('nN', 0, 1) . "\x00\x00");
    }

    public function testDaemonClosesTheConnectionAfterTheDocumentedStatuses(): void
    {
        $closing = array_filter(range(0, 100), static fn (int $s): bool => Protocol::closesConnection($s));

        $this->assertSame([1, 2, 4, 5, 6, 12, 14], array_values($closing));
    }

    public function testNamesFollowProtocolMd(): void
    {
        $this->assertSame('UPDATE_TIMESTAMP', Protocol::opName(Protocol::OP_UPDATE_TIMESTAMP));
        $this->assertSame('LOCK_TIMEOUT', Protocol::statusName(Protocol::LOCK_TIMEOUT));
        $this->assertSame('TOO_MANY_CLIENTS', Protocol::statusName(Protocol::TOO_MANY_CLIENTS));
        $this->assertSame('STATUS_42', Protocol::statusName(42));
    }

    /**
     * The status table of docs/PROTOCOL.md: code => name.
     *
     * @return array<int, string>
     */
    private static function documentedStatuses(): array
    {
        $doc = dirname(__DIR__, 2) . '/docs/PROTOCOL.md';
        $text = (string) file_get_contents($doc);
        $section = strstr($text, "## Status codes\n");
        self::assertIsString($section, 'docs/PROTOCOL.md has no "## Status codes" section');
        preg_match_all('/^\| *(\d+) *\| *`([A-Z_]+)` *\|/m', $section, $rows, PREG_SET_ORDER);
        $statuses = [];
        foreach ($rows as [, $code, $name]) {
            $statuses[(int) $code] = $name;
        }
        return $statuses;
    }

    public function testEveryDocumentedStatusHasItsNameAndConstant(): void
    {
        $documented = self::documentedStatuses();
        $this->assertGreaterThanOrEqual(16, count($documented), 'the status table of docs/PROTOCOL.md was not parsed');
        $this->assertSame('LOCK_LOST', $documented[13] ?? null);
        $this->assertSame('TOO_MANY_CLIENTS', $documented[14] ?? null);

        foreach ($documented as $code => $name) {
            $this->assertSame($name, Protocol::statusName($code), "status $code");
            $this->assertSame($code, constant(Protocol::class . '::' . $name), "Protocol::$name");
        }
        $known = array_filter(
            range(0, 0xFFFF),
            static fn (int $s): bool => !str_starts_with(Protocol::statusName($s), 'STATUS_'),
        );
        $this->assertSame(array_keys($documented), array_values($known), 'statuses Protocol.php knows that PROTOCOL.md does not');
    }
}
