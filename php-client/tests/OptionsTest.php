<?php

declare(strict_types=1);

namespace Phpsessd\Tests;

use Phpsessd\Options;
use Phpsessd\SessionHandler;

/**
 * Where the settings come from: constructor option > environment > php.ini >
 * default. php.ini values need a subprocess, since get_cfg_var() is fixed at
 * startup.
 */
final class OptionsTest extends TestCase
{
    private const ENV = ['PHPSESSD_LISTEN', 'PHPSESSD_SECRET', 'PHPSESSD_TIMEOUT'];

    /** @var array<string, string|false> */
    private array $savedEnv = [];

    protected function setUp(): void
    {
        parent::setUp();
        foreach (self::ENV as $name) {
            $this->savedEnv[$name] = getenv($name);
            putenv($name);
        }
    }

    protected function tearDown(): void
    {
        foreach ($this->savedEnv as $name => $value) {
            putenv($value === false ? $name : "$name=$value");
        }
        parent::tearDown();
    }

    public function testConstructorAddressBeatsTheEnvironment(): void
    {
        putenv('PHPSESSD_LISTEN=unix:/env/phpsessd.sock');

        $handler = new SessionHandler(['address' => 'unix:/ctor/phpsessd.sock']);
        $this->assertSame('unix:/ctor/phpsessd.sock', $handler->getAddress());
        $this->assertSame('unix:/env/phpsessd.sock', (new SessionHandler())->getAddress());
    }

    public function testEnvironmentAddressBeatsPhpIni(): void
    {
        $options = $this->resolveInSubprocess(
            ['session_pgsql.listen' => 'unix:/ini/phpsessd.sock'],
            ['PHPSESSD_LISTEN' => 'tcp:127.0.0.1:9300'],
        );

        $this->assertSame('tcp:127.0.0.1:9300', $options['address']);
    }

    public function testPhpIniAddressBeatsTheDefault(): void
    {
        $options = $this->resolveInSubprocess(['session_pgsql.listen' => 'unix:/ini/phpsessd.sock']);
        $this->assertSame('unix:/ini/phpsessd.sock', $options['address']);
        $this->assertSame('unix:/run/phpsessd/phpsessd.sock', $this->resolveInSubprocess()['address']);
    }

    public function testEmptyEnvironmentVariableCountsAsUnset(): void
    {
        $options = $this->resolveInSubprocess(['session_pgsql.listen' => 'unix:/ini.sock'], ['PHPSESSD_LISTEN' => '']);

        $this->assertSame('unix:/ini.sock', $options['address']);
    }

    public function testSecretPrecedence(): void
    {
        $file = tempnam(sys_get_temp_dir(), 'phpsessd-secret-');
        file_put_contents($file, "from-file\r\nsecond line\n");
        try {
            $fromFile = $this->resolveInSubprocess(['session_pgsql.secret_file' => $file]);
            $this->assertSame('from-file', $fromFile['secret']);
            $this->assertSame('from-ini', $this->resolveInSubprocess(
                ['session_pgsql.secret_file' => $file, 'session_pgsql.secret' => 'from-ini'],
            )['secret']);
            $this->assertSame('from-env', $this->resolveInSubprocess(
                ['session_pgsql.secret' => 'from-ini'],
                ['PHPSESSD_SECRET' => 'from-env'],
            )['secret']);
        } finally {
            unlink($file);
        }
        $this->assertSame('from-ctor', Options::resolve(['secret' => 'from-ctor'])->secret);
        $this->assertSame('', $this->resolveInSubprocess()['secret']);
    }

    public function testUnreadableSecretFileIsReportedAndIgnored(): void
    {
        $options = $this->resolveInSubprocess(['session_pgsql.secret_file' => '/nonexistent/secret']);

        $this->assertSame('', $options['secret']);
        $this->assertStringContainsString('/nonexistent/secret', $options['problems'][0]);
    }

    public function testTimeoutPrecedence(): void
    {
        $ini = ['session_pgsql.client_timeout' => '2.5', 'session_pgsql.lock_timeout' => '12'];

        $this->assertSame(0.25, $this->resolveInSubprocess($ini, ['PHPSESSD_TIMEOUT' => '0.25'])['timeout']);
        $fromIni = $this->resolveInSubprocess($ini);
        $this->assertSame(2.5, $fromIni['timeout']);
        $this->assertSame(12.0, $fromIni['lockTimeout']);
        $defaults = $this->resolveInSubprocess();
        $this->assertSame(5.0, $defaults['timeout']);
        $this->assertSame(30.0, $defaults['lockTimeout']);
        $this->assertSame(1.5, Options::resolve(['timeout' => 1.5])->timeout);
    }

    public function testInvalidEnvironmentTimeoutFallsThroughAndIsReportedAtOpen(): void
    {
        $daemon = $this->daemon();
        putenv('PHPSESSD_TIMEOUT=soon');
        $handler = new SessionHandler(['address' => $daemon->address]);

        [$result, $warnings] = $this->capture(fn () => $handler->open('', 'PHPSESSID'));

        $this->assertTrue($result);
        $this->assertCount(1, $warnings);
        $this->assertStringContainsString(
            'phpsessd: configuration (' . $daemon->address . '): '
                . 'ignoring environment variable PHPSESSD_TIMEOUT = "soon"',
            $warnings[0],
        );
        $this->assertSame(5.0, Options::resolve([])->timeout);
    }

    /** @return array<string, array{string, ?string}> */
    public static function addresses(): array
    {
        return [
            'unix path' => ['unix:/run/phpsessd/phpsessd.sock', 'unix:///run/phpsessd/phpsessd.sock'],
            'unix URL form' => ['unix:///run/phpsessd.sock', 'unix:///run/phpsessd.sock'],
            'abstract socket' => ['unix:@phpsessd', "unix://\0phpsessd"],
            'tcp' => ['tcp:127.0.0.1:9300', 'tcp://127.0.0.1:9300'],
            'tcp host name' => ['tcp:sessions.internal:9300', 'tcp://sessions.internal:9300'],
            'tcp IPv6' => ['tcp:[::1]:9300', 'tcp://[::1]:9300'],
            'relative unix path' => ['unix:phpsessd.sock', null],
            'tcp without port' => ['tcp:127.0.0.1', null],
            'tcp port 0' => ['tcp:127.0.0.1:0', null],
            'tcp port too large' => ['tcp:127.0.0.1:65536', null],
            'no scheme' => ['/run/phpsessd.sock', null],
            'other scheme' => ['udp:127.0.0.1:9300', null],
        ];
    }

    /** @dataProvider addresses */
    public function testAddressTranslatesToAStreamSocketClientTarget(string $address, ?string $target): void
    {
        $this->assertSame($target, Options::resolve(['address' => $address])->streamAddress());
    }

    public function testUnknownOptionIsAProgrammingError(): void
    {
        $this->expectException(\InvalidArgumentException::class);
        $this->expectExceptionMessage('unknown option(s) adress');
        new SessionHandler(['adress' => 'unix:/x']);
    }

    /** @return array<string, array{array<string, mixed>}> */
    public static function badOptions(): array
    {
        return [
            'address not a string' => [['address' => 9300]],
            'empty address' => [['address' => '']],
            'secret not a string' => [['secret' => null]],
            'timeout zero' => [['timeout' => 0]],
            'timeout a string' => [['timeout' => '5']],
            'negative lock_timeout' => [['lock_timeout' => -1]],
            'persistent not a bool' => [['persistent' => 1]],
        ];
    }

    /**
     * @dataProvider badOptions
     * @param array<string, mixed> $options
     */
    public function testWrongOptionTypesAreProgrammingErrors(array $options): void
    {
        $this->expectException(\InvalidArgumentException::class);
        Options::resolve($options);
    }

    /**
     * @param array<string, string> $ini
     * @param array<string, string> $env
     * @return array<string, mixed> the resolved Options' properties
     */
    private function resolveInSubprocess(array $ini = [], array $env = []): array
    {
        $code = 'require ' . self::literal(self::bootstrapFile()) . ';'
            . 'echo json_encode(get_object_vars(Phpsessd\Options::resolve([])), JSON_PRESERVE_ZERO_FRACTION);';
        $run = $this->runPhp($code, $ini, $env);
        $this->assertSame('', $run['stderr']);
        return json_decode($run['stdout'], true, 512, JSON_THROW_ON_ERROR);
    }
}
