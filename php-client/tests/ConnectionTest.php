<?php

declare(strict_types=1);

namespace Phpsessd\Tests;

use Phpsessd\ConnectException;
use Phpsessd\Connection;
use Phpsessd\ErrorReplyException;
use Phpsessd\Options;
use Phpsessd\Protocol;

/**
 * Connection on its own: what it sends, and that it reports failures by
 * exception, leaving warnings to SessionHandler (whose tests cover retries,
 * stale replies and timeouts through the handler's methods).
 */
final class ConnectionTest extends TestCase
{
    private const ID = 'abcdefABCDEF0123456789,-';

    /** @param array<string, mixed> $options */
    private function connection(string $address, array $options = []): Connection
    {
        return new Connection(Options::resolve($options + ['address' => $address, 'timeout' => 2.0, 'lock_timeout' => 0.0]));
    }

    public function testHelloGoesWithTheFirstRequestAfterEachBegin(): void
    {
        $daemon = $this->daemon();
        $connection = $this->connection($daemon->address);

        $connection->begin('MYSESS');
        $this->assertFalse($connection->isAuthenticated());
        $this->assertSame('', $connection->request(Protocol::OP_READ, [self::ID])[0]);
        $this->assertTrue($connection->isAuthenticated());
        $connection->request(Protocol::OP_CLOSE, []);
        $connection->begin(null);
        $connection->request(Protocol::OP_VALIDATE_ID, [self::ID]);

        $this->assertSame(['HELLO@1', 'READ@1', 'CLOSE@1', 'HELLO@1', 'VALIDATE_ID@1'], $daemon->trace());
        $this->assertSame('MYSESS', $daemon->requests()[0]['fields'][2]);
        $this->assertSame(Protocol::VERSION, $connection->protocolVersion());
    }

    public function testErrorReplyIsThrownWithoutAWarning(): void
    {
        $daemon = $this->daemon(['rules' => [
            ['op' => Protocol::OP_READ, 'action' => 'error', 'status' => Protocol::LOCK_LOST, 'message' => 'lost'],
        ]]);
        $connection = $this->connection($daemon->address);
        $connection->begin('PHPSESSID');

        [$thrown, $warnings] = $this->capture(static function () use ($connection): ?ErrorReplyException {
            try {
                $connection->request(Protocol::OP_READ, [self::ID]);
            } catch (ErrorReplyException $e) {
                return $e;
            }
            return null;
        });

        $this->assertSame([], $warnings);
        $this->assertInstanceOf(ErrorReplyException::class, $thrown);
        $this->assertSame(Protocol::LOCK_LOST, $thrown->status);
        $this->assertSame('daemon replied LOCK_LOST (13): lost', $thrown->getMessage());
        $this->assertTrue($connection->isAuthenticated(), 'LOCK_LOST keeps the connection');
    }

    public function testUnreachableDaemonThrowsConnectExceptionWithoutAWarning(): void
    {
        $connection = $this->connection('unix:' . sys_get_temp_dir() . '/phpsessd-test-missing-' . bin2hex(random_bytes(4)) . '.sock');
        $connection->begin('PHPSESSID');

        [$thrown, $warnings] = $this->capture(static function () use ($connection): ?ConnectException {
            try {
                $connection->request(Protocol::OP_STATUS, []);
            } catch (ConnectException $e) {
                return $e;
            }
            return null;
        });

        $this->assertSame([], $warnings);
        $this->assertInstanceOf(ConnectException::class, $thrown);
        $this->assertStringStartsWith('cannot connect: ', $thrown->getMessage());
        $this->assertFalse($connection->isAuthenticated());
    }
}
