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

    /**
     * The reply decoder under mutation, as a fuzzer would drive it: from valid replies of
     * random fields, bytes flipped, inserted and removed, and lengths cut, it either
     * returns what encodes back to exactly the payload or throws ProtocolException —
     * never another error, a warning, or fields it did not read. Seeded, so a failure
     * repeats; PHPSESSD_FUZZ_SEED picks another seed.
     */
    public function testReplyDecoderUnderMutationDecodesExactlyOrThrowsProtocolException(): void
    {
        $seed = (int) (getenv('PHPSESSD_FUZZ_SEED') ?: 20261203);
        mt_srand($seed);
        $rounds = 20000;
        $decoded = 0;
        for ($round = 0; $round < $rounds; $round++) {
            $payload = pack('nN', mt_rand(0, 0xFFFF), mt_rand(0, 0x7FFFFFFF));
            for ($n = mt_rand(0, 6); $n > 0; $n--) {
                $field = $this->randomBytes(mt_rand(0, 3) === 0 ? mt_rand(0, 300) : mt_rand(0, 8));
                $payload .= pack('N', strlen($field)) . $field;
            }
            for ($m = mt_rand(0, 3); $m > 0; $m--) {
                $at = mt_rand(0, strlen($payload));
                $payload = match (mt_rand(0, 3)) {
                    0 => substr($payload, 0, $at) . chr(mt_rand(0, 255)) . substr($payload, $at + 1),
                    1 => substr($payload, 0, $at) . $this->randomBytes(mt_rand(1, 4)) . substr($payload, $at),
                    2 => substr($payload, 0, $at) . substr($payload, $at + mt_rand(1, 4)),
                    3 => substr($payload, 0, $at),
                };
            }
            try {
                [$status, $id, $fields] = Protocol::decodeReply($payload);
            } catch (ProtocolException) {
                continue;
            }
            $again = pack('nN', $status, $id);
            foreach ($fields as $field) {
                $again .= pack('N', strlen($field)) . $field;
            }
            $this->assertSame(bin2hex($payload), bin2hex($again), sprintf('seed %d, round %d', $seed, $round));
            $decoded++;
        }
        // Both outcomes were exercised, not only one.
        $this->assertGreaterThan($rounds / 10, $decoded);
        $this->assertLessThan($rounds, $decoded);
    }

    private function randomBytes(int $n): string
    {
        $bytes = '';
        for ($i = 0; $i < $n; $i++) {
            $bytes .= chr(mt_rand(0, 255));
        }
        return $bytes;
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
