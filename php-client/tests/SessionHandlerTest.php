<?php

declare(strict_types=1);

namespace Phpsessd\Tests;

use Phpsessd\Protocol;
use Phpsessd\SessionHandler;

/**
 * The handler against tests/fake_daemon.php: framing, HELLO, errors, stale
 * replies, timeouts and the extension fields.
 */
final class SessionHandlerTest extends TestCase
{
    private const ID = 'abcdefABCDEF0123456789,-';

    /** @var array<string, mixed> */
    private array $savedServer;

    protected function setUp(): void
    {
        parent::setUp();
        $this->savedServer = $_SERVER;
        unset($_SERVER['REMOTE_ADDR']);
    }

    protected function tearDown(): void
    {
        $_SERVER = $this->savedServer;
        SessionHandler::setCurrent(null);
        parent::tearDown();
    }

    /** @param array<string, mixed> $options */
    private function handler(FakeDaemon $daemon, array $options = []): SessionHandler
    {
        return new SessionHandler($options + ['address' => $daemon->address, 'timeout' => 2.0, 'lock_timeout' => 0.0]);
    }

    /** @return array<string, array{string}> */
    public static function sessionData(): array
    {
        return [
            'empty' => [''],
            'NUL bytes' => ["a|s:3:\"\0b\0\";"],
            'invalid UTF-8' => ["\xff\xfe\xc3\x28 \x80"],
            '1 MiB of random bytes' => [random_bytes(1 << 20)],
        ];
    }

    /** @dataProvider sessionData */
    public function testSessionDataRoundTripsByteForByte(string $data): void
    {
        $daemon = $this->daemon();
        $handler = $this->handler($daemon);

        $this->assertQuiet(true, fn () => $handler->open('', 'PHPSESSID'));
        $this->assertQuiet('', fn () => $handler->read(self::ID));
        $this->assertQuiet(true, fn () => $handler->write(self::ID, $data));
        $this->assertQuiet(true, fn () => $handler->close());
        $this->assertQuiet(true, fn () => $handler->open('', 'PHPSESSID'));
        $this->assertQuiet($data, fn () => $handler->read(self::ID));

        $write = $daemon->requests()[2];
        $this->assertSame(Protocol::OP_WRITE, $write['op']);
        $this->assertSame([self::ID, $data, '', '0', '0', '0', ''], $write['fields']);
    }

    public function testHelloCarriesVersionSecretSessionNameAndRemoteAddress(): void
    {
        $daemon = $this->daemon(['secret' => "s3cret\0!"]);
        $_SERVER['REMOTE_ADDR'] = '192.0.2.7';

        $handler = $this->handler($daemon, ['secret' => "s3cret\0!"]);

        $this->assertQuiet(true, fn () => $handler->open('/ignored', 'MYSESS'));
        $this->assertQuiet('', fn () => $handler->read(self::ID));

        $hello = $daemon->requests()[0];
        $this->assertSame(Protocol::OP_HELLO, $hello['op']);
        $this->assertSame(['1', "s3cret\0!", 'MYSESS', '192.0.2.7'], $hello['fields']);
    }

    public function testHelloGoesWithTheFirstOperationAfterEachOpen(): void
    {
        $daemon = $this->daemon();
        $handler = $this->handler($daemon);

        foreach ([1, 2] as $ignored) {
            $this->assertQuiet(true, fn () => $handler->open('', 'PHPSESSID'));
            $this->assertQuiet('', fn () => $handler->read(self::ID));
            $this->assertQuiet(true, fn () => $handler->close());
        }

        $this->assertSame(['HELLO@1', 'READ@1', 'CLOSE@1', 'HELLO@1', 'READ@1', 'CLOSE@1'], $daemon->trace());
    }

    public function testRequestIdsAreConsecutive(): void
    {
        $daemon = $this->daemon();
        $handler = $this->handler($daemon);

        $this->assertQuiet(true, fn () => $handler->open('', 'PHPSESSID'));
        $this->assertQuiet('', fn () => $handler->read(self::ID));
        $this->assertQuiet(true, fn () => $handler->close());

        $ids = array_column($daemon->requests(), 'id');
        $this->assertGreaterThan(0, $ids[0]);
        $this->assertSame([$ids[0], $ids[0] + 1, $ids[0] + 2], $ids);
    }

    public function testErrorReplyWarnsWithAddressAndDaemonMessageAndKeepsTheConnection(): void
    {
        $daemon = $this->daemon(['rules' => [
            ['op' => Protocol::OP_READ, 'action' => 'error', 'status' => Protocol::LOCK_TIMEOUT,
                'message' => 'session stayed locked for 30 s'],
        ]]);
        $handler = $this->handler($daemon);
        $this->assertQuiet(true, fn () => $handler->open('', 'PHPSESSID'));

        $warning = $this->assertFailsWithWarning(
            fn () => $handler->read(self::ID),
            ['phpsessd: read failed', '(' . $daemon->address . ')', 'LOCK_TIMEOUT', 'session stayed locked for 30 s'],
        );
        $this->assertStringStartsWith('phpsessd: read failed (' . $daemon->address . '): ', $warning);
        $this->assertFalse($handler->isActive());

        $this->assertQuiet(true, fn () => $handler->close());
        $this->assertSame(['HELLO@1', 'READ@1', 'CLOSE@1'], $daemon->trace());
    }

    public function testLockLostWarningNamesTheStatus(): void
    {
        $daemon = $this->daemon(['rules' => [
            ['op' => Protocol::OP_WRITE, 'action' => 'error', 'status' => Protocol::LOCK_LOST,
                'message' => 'the session\'s lock ended before this WRITE; nothing was written'],
        ]]);
        $handler = $this->handler($daemon);
        $this->assertQuiet(true, fn () => $handler->open('', 'PHPSESSID'));
        $this->assertQuiet('', fn () => $handler->read(self::ID));

        $warning = $this->assertFailsWithWarning(
            fn () => $handler->write(self::ID, 'a|i:1;'),
            ['phpsessd: write failed', 'LOCK_LOST (13)', 'nothing was written'],
        );
        $this->assertStringNotContainsString('STATUS_13', $warning);
    }

    public function testErrorReplyAfterWhichTheDaemonClosesMakesTheNextOpenReconnect(): void
    {
        $daemon = $this->daemon(['rules' => [
            ['action' => 'error', 'status' => Protocol::SHUTTING_DOWN, 'message' => 'draining'],
        ]]);
        $handler = $this->handler($daemon);

        $this->assertQuiet(true, fn () => $handler->open('', 'PHPSESSID'));
        $this->assertFailsWithWarning(fn () => $handler->read(self::ID), ['SHUTTING_DOWN', 'draining']);
        $this->assertQuiet(true, fn () => $handler->open('', 'PHPSESSID'));
        $this->assertQuiet('', fn () => $handler->read(self::ID));

        // The daemon closed after refusing HELLO: the READ sent with it was never read.
        $this->assertSame(['HELLO@1', 'HELLO@2', 'READ@2'], $daemon->trace());
    }

    public function testWrongSecretFailsTheFirstOperationWithAuthFailed(): void
    {
        $daemon = $this->daemon(['secret' => 'right']);
        $handler = $this->handler($daemon, ['secret' => 'wrong']);
        $this->assertQuiet(true, fn () => $handler->open('', 'PHPSESSID'));

        $this->assertFailsWithWarning(
            fn () => $handler->read(self::ID),
            ['phpsessd: read failed (' . $daemon->address . ')', 'AUTH_FAILED', 'wrong secret'],
        );
    }

    public function testMissingUnixSocketWarnsWithTheAddressAndReturnsFalse(): void
    {
        $address = 'unix:' . sys_get_temp_dir() . '/phpsessd-test-missing/none.sock';
        $handler = new SessionHandler(['address' => $address, 'timeout' => 0.5]);

        $this->assertFailsWithWarning(
            fn () => $handler->open('', 'PHPSESSID'),
            ['phpsessd: open failed (' . $address . ')', 'cannot connect'],
        );
    }

    public function testRefusedTcpConnectionWarnsWithTheAddressAndReturnsFalse(): void
    {
        $server = stream_socket_server('tcp://127.0.0.1:0');
        $this->assertIsResource($server);
        $address = 'tcp:' . stream_socket_get_name($server, false);
        fclose($server);
        $handler = new SessionHandler(['address' => $address, 'timeout' => 0.5]);

        $this->assertFailsWithWarning(
            fn () => $handler->open('', 'PHPSESSID'),
            ['phpsessd: open failed (' . $address . ')', 'cannot connect'],
        );
    }

    public function testInvalidAddressWarnsAndReturnsFalse(): void
    {
        $handler = new SessionHandler(['address' => 'localhost:9300', 'timeout' => 0.5]);

        $this->assertFailsWithWarning(
            fn () => $handler->open('', 'PHPSESSID'),
            ['(localhost:9300)', 'invalid address'],
        );
    }

    public function testStaleReplyToHelloReplacesTheSocketAndRetriesOnce(): void
    {
        $daemon = $this->daemon(['rules' => [['op' => Protocol::OP_HELLO, 'action' => 'stale']]]);
        $handler = $this->handler($daemon);
        $this->assertQuiet(true, fn () => $handler->open('', 'PHPSESSID'));

        $this->assertQuiet('', fn () => $handler->read(self::ID));

        $this->assertSame(['HELLO@2', 'READ@2'], array_values(array_filter(
            $daemon->trace(),
            static fn (string $t): bool => str_ends_with($t, '@2'),
        )));
        $this->assertSame('HELLO@1', $daemon->trace()[0]);
    }

    public function testStaleReplyAfterTheRetryFailsTheOperation(): void
    {
        $daemon = $this->daemon(['rules' => [
            ['op' => Protocol::OP_HELLO, 'action' => 'stale'],
            ['op' => Protocol::OP_READ, 'action' => 'auto'],
            ['op' => Protocol::OP_HELLO, 'action' => 'stale'],
        ]]);
        $handler = $this->handler($daemon);
        $this->assertQuiet(true, fn () => $handler->open('', 'PHPSESSID'));

        $this->assertFailsWithWarning(fn () => $handler->read(self::ID), ['phpsessd: read failed', 'stale reply']);
    }

    public function testStaleReplyToReadFailsAndTheNextOperationStartsOnANewConnection(): void
    {
        $daemon = $this->daemon(['rules' => [
            ['op' => Protocol::OP_READ, 'action' => 'auto'],
            ['op' => Protocol::OP_READ, 'action' => 'stale', 'then' => 'auto'],
        ]]);
        $handler = $this->handler($daemon);
        $this->assertQuiet(true, fn () => $handler->open('', 'PHPSESSID'));
        $this->assertQuiet('', fn () => $handler->read(self::ID));

        $this->assertFailsWithWarning(fn () => $handler->read(self::ID), ['phpsessd: read failed', 'stale reply']);
        $this->assertQuiet(true, fn () => $handler->destroy(self::ID));

        $this->assertSame(['HELLO@1', 'READ@1', 'READ@1', 'HELLO@2', 'DESTROY@2'], $daemon->trace());
    }

    public function testReusedSocketThatTheDaemonClosedIsReplacedOnce(): void
    {
        // A second handler in this process gets the first one's persistent
        // socket, as the next request of an FPM worker would.
        $daemon = $this->daemon(['rules' => [
            ['op' => Protocol::OP_HELLO, 'action' => 'auto'],
            ['op' => Protocol::OP_READ, 'action' => 'auto'],
            ['action' => 'close'],
        ]]);
        $first = $this->handler($daemon);
        $this->assertQuiet(true, fn () => $first->open('', 'PHPSESSID'));
        $this->assertQuiet('', fn () => $first->read(self::ID));

        $second = $this->handler($daemon);
        $this->assertQuiet(true, fn () => $second->open('', 'PHPSESSID'));
        $this->assertQuiet('', fn () => $second->read(self::ID));

        $this->assertSame(['HELLO@1', 'READ@1', 'HELLO@1', 'HELLO@2', 'READ@2'], $daemon->trace());
    }

    public function testFreshSocketThatTheDaemonClosesDuringHelloIsNotRetried(): void
    {
        $daemon = $this->daemon(['rules' => [['action' => 'close']]]);
        $handler = $this->handler($daemon);
        $this->assertQuiet(true, fn () => $handler->open('', 'PHPSESSID'));

        $this->assertFailsWithWarning(
            fn () => $handler->read(self::ID),
            ['phpsessd: read failed', 'closed the connection'],
        );

        $this->assertSame(['HELLO@1'], $daemon->trace());
    }

    public function testRefusedConnectionFailsWithTheDaemonsReplyNotABrokenPipe(): void
    {
        $daemon = $this->daemon(['refuse' => Protocol::TOO_MANY_CLIENTS]);
        $handler = $this->handler($daemon);
        $this->assertQuiet(true, fn () => $handler->open('', 'PHPSESSID'));
        // The daemon refuses and closes before the client writes.
        for ($i = 0; $i < 500 && !in_array('refused', array_column($daemon->log(), 'event'), true); $i++) {
            usleep(10000);
        }

        $this->assertFailsWithWarning(
            fn () => $handler->read(self::ID),
            ['phpsessd: read failed', 'TOO_MANY_CLIENTS (14)', 'refused by script'],
        );
    }

    public function testHelloThatIsNeverAnsweredFailsAfterTheTimeout(): void
    {
        $daemon = $this->daemon(['rules' => [['action' => 'silent'], ['action' => 'silent']]]);
        $handler = $this->handler($daemon, ['timeout' => 0.3, 'lock_timeout' => 0.1]);
        $this->assertQuiet(true, fn () => $handler->open('', 'PHPSESSID'));

        $this->assertFailsWithWarning(
            fn () => $handler->read(self::ID),
            ['phpsessd: read failed', 'timed out'],
        );
    }

    public function testReadThatIsNeverAnsweredFailsAfterTheTimeoutAndDropsTheSocket(): void
    {
        $daemon = $this->daemon(['rules' => [['op' => Protocol::OP_READ, 'action' => 'silent']]]);
        $handler = $this->handler($daemon, ['timeout' => 0.3, 'lock_timeout' => 0.2]);
        $this->assertQuiet(true, fn () => $handler->open('', 'PHPSESSID'));

        $this->assertFailsWithWarning(fn () => $handler->read(self::ID), ['phpsessd: read failed', 'timed out']);
        $this->assertQuiet(0, fn () => $handler->gc(1440));

        $this->assertSame(['HELLO@1', 'READ@1', 'HELLO@2', 'GC@2'], $daemon->trace());
    }

    public function testHalfAReplyThenSilenceTimesOut(): void
    {
        $daemon = $this->daemon(['rules' => [['op' => Protocol::OP_READ, 'action' => 'half']]]);
        $handler = $this->handler($daemon, ['timeout' => 0.3]);
        $this->assertQuiet(true, fn () => $handler->open('', 'PHPSESSID'));

        $this->assertFailsWithWarning(fn () => $handler->read(self::ID), ['timed out waiting for the reply']);
    }

    public function testHalfAReplyThenCloseFails(): void
    {
        $daemon = $this->daemon(['rules' => [['op' => Protocol::OP_READ, 'action' => 'half', 'then' => 'close']]]);
        $handler = $this->handler($daemon);
        $this->assertQuiet(true, fn () => $handler->open('', 'PHPSESSID'));

        $this->assertFailsWithWarning(
            fn () => $handler->read(self::ID),
            ['closed the connection in the middle of a reply'],
        );
    }

    public function testRepliesArrivingAByteAtATimeArePutTogether(): void
    {
        $daemon = $this->daemon(['rules' => [
            ['op' => Protocol::OP_HELLO, 'action' => 'trickle'],
            ['op' => Protocol::OP_WRITE, 'action' => 'trickle'],
            ['op' => Protocol::OP_HELLO, 'action' => 'trickle', 'bytes' => 3],
            ['op' => Protocol::OP_READ, 'action' => 'trickle', 'bytes' => 3],
        ]]);
        $handler = $this->handler($daemon);
        $data = "a|s:40:\"" . str_repeat("\0\xff", 20) . "\";";

        $this->assertQuiet(true, fn () => $handler->open('', 'PHPSESSID'));
        $this->assertQuiet(true, fn () => $handler->write(self::ID, $data));
        $this->assertQuiet(true, fn () => $handler->close());
        $this->assertQuiet(true, fn () => $handler->open('', 'PHPSESSID'));
        $this->assertQuiet($data, fn () => $handler->read(self::ID));
        $this->assertQuiet(true, fn () => $handler->close());

        $this->assertSame(['HELLO@1', 'WRITE@1', 'HELLO@1', 'READ@1', 'CLOSE@1'], $daemon->trace());
    }

    public function testReplyTricklingPastTheTimeoutFailsAtTheDeadline(): void
    {
        // 34 bytes 0.05 s apart: each read is short, the whole reply would take 1.65 s.
        $daemon = $this->daemon(['rules' => [['op' => Protocol::OP_READ, 'action' => 'trickle', 'pause' => 0.05]]]);
        $handler = $this->handler($daemon, ['timeout' => 0.3]);
        $this->assertQuiet(true, fn () => $handler->open('', 'PHPSESSID'));

        $start = microtime(true);
        $this->assertFailsWithWarning(fn () => $handler->read(self::ID), ['timed out waiting for the reply after 0.3 s']);

        $this->assertLessThan(1.0, microtime(true) - $start);
    }

    /** @return array<string, array{string, string}> */
    public static function badFrameLengths(): array
    {
        return [
            'garbage' => ["\xff\xff\xff\xf0garbage", 'malformed reply: frame length'],
            // Four bytes of length and two of payload: less than a reply header,
            // refused as it arrives rather than waited on.
            'below the reply header' => ["\x00\x00\x00\x02ab", 'malformed reply: frame length 2'],
        ];
    }

    /** @dataProvider badFrameLengths */
    public function testBadFrameLengthIsAProtocolError(string $raw, string $warning): void
    {
        $daemon = $this->daemon(['rules' => [
            ['op' => Protocol::OP_READ, 'action' => 'raw', 'data_b64' => base64_encode($raw)],
        ]]);
        $handler = $this->handler($daemon);
        $this->assertQuiet(true, fn () => $handler->open('', 'PHPSESSID'));

        $this->assertFailsWithWarning(fn () => $handler->read(self::ID), [$warning]);
    }

    public function testReplyWithTooFewFieldsIsAProtocolError(): void
    {
        $daemon = $this->daemon(['rules' => [['op' => Protocol::OP_READ, 'action' => 'reply', 'fields' => ['data']]]]);
        $handler = $this->handler($daemon);
        $this->assertQuiet(true, fn () => $handler->open('', 'PHPSESSID'));

        $this->assertFailsWithWarning(fn () => $handler->read(self::ID), ['malformed READ reply']);
    }

    public function testUnknownTrailingReplyFieldsAreIgnored(): void
    {
        $daemon = $this->daemon(['rules' => [['op' => Protocol::OP_READ, 'action' => 'reply',
            'fields' => ['data', 'custom', '1', '2', '3', 'msg', 'a field of a newer daemon']]]]);
        $handler = $this->handler($daemon);
        $this->assertQuiet(true, fn () => $handler->open('', 'PHPSESSID'));

        $this->assertQuiet('data', fn () => $handler->read(self::ID));
        $this->assertSame('custom', $handler->getField());
        $this->assertSame(
            ['Errors' => 1, 'Warnings' => 2, 'Notices' => 3, 'Error Message' => 'msg',
                'error' => 1, 'warning' => 2, 'notice' => 3, 'err_message' => 'msg'],
            $handler->getError(true),
        );
    }

    public function testUpdateTimestampIsSentWhenNothingChanged(): void
    {
        $daemon = $this->daemon();
        $handler = $this->handler($daemon);
        $this->assertQuiet(true, fn () => $handler->open('', 'PHPSESSID'));
        $this->assertQuiet('', fn () => $handler->read(self::ID));

        $this->assertQuiet(true, fn () => $handler->updateTimestamp(self::ID, ''));

        $this->assertSame(['HELLO@1', 'READ@1', 'UPDATE_TIMESTAMP@1'], $daemon->trace());
        $this->assertSame([self::ID], $daemon->requests()[2]['fields']);
    }

    public function testUpdateTimestampSendsWriteWhenTheCustomFieldChanged(): void
    {
        $daemon = $this->daemon();
        $handler = $this->handler($daemon);
        $this->assertQuiet(true, fn () => $handler->open('', 'PHPSESSID'));
        $this->assertQuiet('', fn () => $handler->read(self::ID));
        $this->assertTrue($handler->setField('user=42'));

        $this->assertQuiet(true, fn () => $handler->updateTimestamp(self::ID, 'a|i:1;'));

        $this->assertSame(['HELLO@1', 'READ@1', 'WRITE@1'], $daemon->trace());
        $this->assertSame([self::ID, 'a|i:1;', 'user=42', '0', '0', '0', ''], $daemon->requests()[2]['fields']);
    }

    public function testUpdateTimestampSendsWriteWhenAnErrorWasAdded(): void
    {
        $daemon = $this->daemon();
        $handler = $this->handler($daemon);
        $this->assertQuiet(true, fn () => $handler->open('', 'PHPSESSID'));
        $this->assertQuiet('', fn () => $handler->read(self::ID));
        $this->assertTrue($handler->addError(E_USER_WARNING, 'disk full'));

        $this->assertQuiet(true, fn () => $handler->updateTimestamp(self::ID, ''));

        $this->assertSame([self::ID, '', '', '0', '1', '0', 'disk full'], $daemon->requests()[2]['fields']);
        $this->assertSame('WRITE@1', $daemon->trace()[2]);
    }

    public function testErrorLevelsIncrementTheirCounters(): void
    {
        $daemon = $this->daemon();
        $handler = $this->handler($daemon);
        $this->assertQuiet(true, fn () => $handler->open('', 'PHPSESSID'));
        $this->assertQuiet('', fn () => $handler->read(self::ID));

        $levels = [E_ERROR, E_CORE_ERROR, E_COMPILE_ERROR, E_USER_ERROR, E_RECOVERABLE_ERROR,
            E_WARNING, E_CORE_WARNING, E_COMPILE_WARNING, E_USER_WARNING,
            E_NOTICE, E_USER_NOTICE, E_DEPRECATED, E_USER_DEPRECATED];
        foreach ($levels as $level) {
            $this->assertTrue($handler->addError($level), "level $level");
        }
        $this->assertFalse($handler->addError(E_PARSE, 'not counted'));
        $this->assertFalse($handler->addError(0));

        $this->assertSame(
            ['Errors' => 5, 'Warnings' => 4, 'Notices' => 4, 'Error Message' => '',
                'error' => 5, 'warning' => 4, 'notice' => 4, 'err_message' => ''],
            $handler->getError(true),
        );
        $this->assertTrue($handler->addError(E_NOTICE, 'last one'));
        $this->assertSame('last one', $handler->getError(true)['err_message']);
    }

    public function testExtensionFieldsNeedAnActiveSession(): void
    {
        $daemon = $this->daemon();
        $handler = $this->handler($daemon);

        $this->assertFalse($handler->setField('x'));
        $this->assertFalse($handler->addError(E_WARNING, 'x'));
        $this->assertFalse($handler->getField());
        $this->assertFalse($handler->getError());
        $this->assertFalse($handler->info());

        $this->assertQuiet(true, fn () => $handler->open('', 'PHPSESSID'));
        $this->assertQuiet('', fn () => $handler->read(self::ID));
        $this->assertTrue($handler->isActive());
        $this->assertQuiet(true, fn () => $handler->close());

        $this->assertFalse($handler->isActive());
        $this->assertFalse($handler->setField('x'));
        $this->assertFalse($handler->getField());
        $this->assertSame(['HELLO@1', 'READ@1', 'CLOSE@1'], $daemon->trace());
    }

    public function testWriteLargerThanMaxFrameSizeFailsWithoutSendingAndKeepsTheConnection(): void
    {
        $daemon = $this->daemon(['max_frame_size' => 65536]);
        $handler = $this->handler($daemon);
        $this->assertQuiet(true, fn () => $handler->open('', 'PHPSESSID'));
        $this->assertQuiet('', fn () => $handler->read(self::ID));

        $this->assertFailsWithWarning(
            fn () => $handler->write(self::ID, str_repeat('x', 65536)),
            ['phpsessd: write failed', 'exceeds the daemon\'s max_frame_size of 65536 bytes'],
        );
        $this->assertQuiet(true, fn () => $handler->write(self::ID, 'small'));

        $this->assertSame(['HELLO@1', 'READ@1', 'WRITE@1'], $daemon->trace());
    }

    public function testGcReturnsTheNumberOfDeletedSessions(): void
    {
        $daemon = $this->daemon(['gc_deleted' => 17]);
        $handler = $this->handler($daemon);

        $this->assertQuiet(17, fn () => $handler->gc(1440));

        $this->assertSame(['HELLO@1', 'GC@1'], $daemon->trace());
        $this->assertSame(['1440'], $daemon->requests()[1]['fields']);
    }

    public function testValidateIdAndDestroy(): void
    {
        $daemon = $this->daemon();
        $handler = $this->handler($daemon);
        $this->assertQuiet(true, fn () => $handler->open('', 'PHPSESSID'));

        $this->assertQuiet(false, fn () => $handler->validateId(self::ID));
        $this->assertQuiet(true, fn () => $handler->write(self::ID, 'x'));
        $this->assertQuiet(true, fn () => $handler->validateId(self::ID));
        $this->assertQuiet(true, fn () => $handler->destroy(self::ID));
        $this->assertQuiet(false, fn () => $handler->validateId(self::ID));
    }

    public function testInvalidIdReplyFailsWithoutClosingTheConnection(): void
    {
        $daemon = $this->daemon(['rules' => [['op' => Protocol::OP_READ, 'action' => 'error',
            'status' => Protocol::INVALID_ID, 'message' => 'session id outside the alphabet']]]);
        $handler = $this->handler($daemon);
        $this->assertQuiet(true, fn () => $handler->open('', 'PHPSESSID'));

        $this->assertFailsWithWarning(
            fn () => $handler->read('bad id'),
            ['INVALID_ID (7)', 'outside the alphabet'],
        );
        $this->assertQuiet(true, fn () => $handler->destroy(self::ID));

        $this->assertSame(['HELLO@1', 'READ@1', 'DESTROY@1'], $daemon->trace());
    }

    public function testCloseWithoutAConnectionSucceedsWithoutTalkingToTheDaemon(): void
    {
        $handler = new SessionHandler(['address' => 'unix:/nonexistent/phpsessd.sock']);

        $this->assertQuiet(true, fn () => $handler->close());
    }

    public function testStatusMergesTheClientViewWithTheDaemonObject(): void
    {
        $daemon = $this->daemon(['status' => ['uptime' => 12, 'connections' => 3, 'address' => 'daemon-side']]);
        $handler = $this->handler($daemon);

        [$status, $warnings] = $this->capture(fn () => $handler->status());

        $this->assertSame([], $warnings);
        $this->assertSame([
            // The extension's keys, from fields this daemon does not send.
            'Servers' => '',
            'Number of Servers' => 0,
            'Failover Mode' => 0,
            'Short Circuit' => 0,
            'Keep Expired' => 0,
            'server' => 'phpsessd/0.0.0-fake',
            'protocol' => 1,
            'address' => $daemon->address,
            'connected' => true,
            'max_frame_size' => 4 << 20,
            'uptime' => 12,
            'connections' => 3,
        ], $status);
    }

    public function testStatusAndResetOutsideASessionEndTheDaemonsRequestInTheSameWrite(): void
    {
        $daemon = $this->daemon();
        $handler = $this->handler($daemon);

        $this->assertIsArray($this->capture(fn () => $handler->status())[0]);
        $this->assertQuiet(true, fn () => $handler->reset());
        $this->assertSame(['HELLO@1', 'STATUS@1', 'CLOSE@1', 'RESET@1'], $daemon->trace());
        // Pipelined: HELLO, STATUS and CLOSE carry consecutive ids, every reply matched its own.
        $ids = array_column($daemon->requests(), 'id');
        $this->assertSame([$ids[0], $ids[0] + 1, $ids[0] + 2, $ids[0] + 3], $ids);
    }

    public function testStatusWithinASessionLeavesTheSessionsRequestOpen(): void
    {
        $daemon = $this->daemon();
        $handler = $this->handler($daemon);
        $this->assertQuiet(true, fn () => $handler->open('', 'PHPSESSID'));

        $this->assertIsArray($this->capture(fn () => $handler->status())[0]);
        $this->assertQuiet('', fn () => $handler->read(self::ID));
        $this->assertQuiet(true, fn () => $handler->close());
        $this->assertQuiet(true, fn () => $handler->reset());

        $this->assertSame(['HELLO@1', 'STATUS@1', 'READ@1', 'CLOSE@1', 'RESET@1'], $daemon->trace());
    }

    public function testStatusGivesTheExtensionsKeysAsInts(): void
    {
        $servers = [
            ['server' => 'php@db1:5432/php_session', 'connection' => 'host=db1 password=xxxxx', 'up' => true],
            ['server' => 'php@db2:5432/php_session', 'connection' => 'host=db2', 'up' => false],
        ];
        $daemon = $this->daemon(['status' => ['db' => 'host=db1 password=xxxxx;host=db2', 'locking' => true,
            'short_circuit' => true, 'failover_mode' => false, 'keep_expired' => true, 'servers' => $servers]]);

        [$status, $warnings] = $this->capture(fn () => $this->handler($daemon)->status());

        $this->assertSame([], $warnings);
        $this->assertSame([
            'Servers' => 'host=db1 password=xxxxx;host=db2',
            'Number of Servers' => 2,
            'Failover Mode' => 0,
            'Short Circuit' => 1,
            'Keep Expired' => 1,
            'Server String #0' => 'host=db1 password=xxxxx',
            'Server Status #0' => 1,
            'Server String #1' => 'host=db2',
            'Server Status #1' => 0,
        ], array_slice($status, 0, 9));
        $this->assertSame($servers, $status['servers']);
        $this->assertTrue($status['short_circuit']);
    }

    public function testInfoGivesTheExtensionsKeysBeforeAndAfterTheFirstWrite(): void
    {
        $daemon = $this->daemon(['connection' => 'host=db1 password=xxxxx']);
        $handler = $this->handler($daemon);
        $_SERVER['REMOTE_ADDR'] = '192.0.2.9'; // tearDown() unsets it
        $this->assertQuiet(true, fn () => $handler->open('', 'PHPSESSID'));
        $this->assertQuiet('', fn () => $handler->read(self::ID));
        $this->assertTrue($handler->addError(E_WARNING, 'disk full'));
        $this->assertTrue($handler->setField('user=42'));

        $new = $this->capture(fn () => $handler->info());
        $this->assertSame([[
            'Session ID' => self::ID, 'Server ID' => 0, 'Connection' => 'host=db1 password=xxxxx',
            'Accesses' => 1, 'Errors' => 0, 'Warnings' => 1, 'Notices' => 0,
            'Created' => 0, 'Modified' => 0, 'Expires' => 0,
            'Address Created' => '', 'Address Modified' => '', 'Custom' => 'user=42',
        ], []], $new);

        $this->assertQuiet(true, fn () => $handler->write(self::ID, 'a|i:1;'));
        $this->assertQuiet(true, fn () => $handler->close());
        $this->assertQuiet(true, fn () => $handler->open('', 'PHPSESSID'));
        $this->assertQuiet('a|i:1;', fn () => $handler->read(self::ID));
        [$info, $warnings] = $this->capture(fn () => $handler->info());

        $this->assertSame([], $warnings);
        $extension = array_slice($info, 0, 13);
        // The extension counted this request's access at READ; the row counts one write.
        $this->assertSame(2, $extension['Accesses']);
        $this->assertSame(1, $info['counter']);
        $this->assertSame(['Errors' => 0, 'Warnings' => 1, 'Notices' => 0], array_slice($extension, 4, 3));
        $this->assertSame($info['created'], $extension['Created']);
        $this->assertSame($info['modified'], $extension['Modified']);
        $this->assertSame($info['expire'], $extension['Expires']);
        $this->assertSame('192.0.2.9', $extension['Address Created']);
        $this->assertSame('192.0.2.9', $extension['Address Modified']);
        $this->assertSame('user=42', $extension['Custom']);
        foreach (['Server ID', 'Accesses', 'Errors', 'Warnings', 'Notices', 'Created', 'Modified', 'Expires'] as $key) {
            $this->assertIsInt($extension[$key], $key);
        }
        $this->assertSame(['id', 'name', 'data_size'], array_slice(array_keys($info), 13, 3));
    }

    public function testInfoFromADaemonWithoutServerFieldsSaysServerZero(): void
    {
        $daemon = $this->daemon(['rules' => [['op' => Protocol::OP_INFO, 'action' => 'reply', 'fields' => ['null']]]]);
        $handler = $this->handler($daemon);
        $this->assertQuiet(true, fn () => $handler->open('', 'PHPSESSID'));
        $this->assertQuiet('', fn () => $handler->read(self::ID));

        [$info, $warnings] = $this->capture(fn () => $handler->info());

        $this->assertSame([], $warnings);
        $this->assertSame(0, $info['Server ID']);
        $this->assertSame('', $info['Connection']);
    }

    public function testStatusThatIsNotAJsonObjectFails(): void
    {
        $daemon = $this->daemon(['rules' => [
            ['op' => Protocol::OP_STATUS, 'action' => 'reply', 'fields' => ['[1,2]']],
        ]]);

        $this->assertFailsWithWarning(fn () => $this->handler($daemon)->status(), ['malformed STATUS reply']);
    }

    public function testOpenMakesTheHandlerCurrent(): void
    {
        $daemon = $this->daemon();
        $handler = $this->handler($daemon);
        $this->assertNull(SessionHandler::current());

        $this->assertQuiet(true, fn () => $handler->open('', 'PHPSESSID'));

        $this->assertSame($handler, SessionHandler::current());
    }
}
