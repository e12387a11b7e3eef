<?php

declare(strict_types=1);

namespace Phpsessd\Tests;

/**
 * Helpers shared by the tests: fake daemons stopped after each test, warning
 * capture, and PHP subprocesses for what needs a fresh process (sessions,
 * php.ini values, auto_prepend_file).
 */
abstract class TestCase extends \PHPUnit\Framework\TestCase
{
    /** @var list<FakeDaemon> */
    private array $daemons = [];

    /** @var list<string> */
    private array $tempFiles = [];

    protected function tearDown(): void
    {
        foreach ($this->daemons as $daemon) {
            $daemon->stop();
        }
        $this->daemons = [];
        foreach (array_reverse($this->tempFiles) as $file) {
            is_dir($file) ? @rmdir($file) : @unlink($file);
        }
        $this->tempFiles = [];
        parent::tearDown();
    }

    /** @param array<string, mixed> $script see fake_daemon.php */
    protected function daemon(array $script = []): FakeDaemon
    {
        $daemon = new FakeDaemon($script);
        $this->daemons[] = $daemon;
        return $daemon;
    }

    /**
     * Calls $call with an error handler that records every PHP error instead
     * of letting PHPUnit turn it into an exception, so the return value can be
     * checked together with the warnings.
     *
     * @return array{0: mixed, 1: list<string>} the result and the messages of
     *                                          the E_USER_WARNINGs raised
     */
    protected function capture(callable $call): array
    {
        $warnings = [];
        set_error_handler(static function (int $level, string $message) use (&$warnings): bool {
            if ($level !== E_USER_WARNING) {
                throw new \ErrorException('unexpected PHP error: ' . $message, 0, $level);
            }
            $warnings[] = $message;
            return true;
        });
        try {
            $result = $call();
        } finally {
            restore_error_handler();
        }
        return [$result, $warnings];
    }

    /** Asserts that $call returns $expected without any warning. */
    protected function assertQuiet(mixed $expected, callable $call): void
    {
        [$result, $warnings] = $this->capture($call);
        $this->assertSame([], $warnings, 'unexpected warnings');
        $this->assertSame($expected, $result);
    }

    /**
     * Asserts that $call returns false and raises exactly one E_USER_WARNING
     * containing each of $fragments; returns the warning.
     *
     * @param list<string> $fragments
     */
    protected function assertFailsWithWarning(callable $call, array $fragments): string
    {
        [$result, $warnings] = $this->capture($call);
        $this->assertFalse($result);
        $this->assertCount(1, $warnings, 'expected one warning, got: ' . implode(' | ', $warnings));
        foreach ($fragments as $fragment) {
            $this->assertStringContainsString($fragment, $warnings[0]);
        }
        return $warnings[0];
    }

    /** A new empty directory, removed (with the scripts runPhp put in it) after the test. */
    protected function tempDir(): string
    {
        $dir = sys_get_temp_dir() . '/phpsessd-test-' . bin2hex(random_bytes(6));
        mkdir($dir);
        $this->tempFiles[] = $dir;
        return $dir;
    }

    /**
     * Runs PHP code in a new CLI process with its own ini settings and an
     * environment without any PHPSESSD_* variable but those in $env; the script
     * file is put in $dir (a tempDir()) or the temporary directory.
     *
     * @param array<string, string> $ini
     * @param array<string, string> $env
     * @return array{stdout: string, stderr: string, status: int}
     */
    protected function runPhp(string $code, array $ini = [], array $env = [], ?string $dir = null): array
    {
        $file = tempnam($dir ?? sys_get_temp_dir(), 'phpsessd-test-');
        $this->tempFiles[] = $file;
        file_put_contents($file, "<?php\n" . $code);
        $command = [PHP_BINARY, '-d', 'display_errors=stderr', '-d', 'log_errors=0', '-d', 'html_errors=0',
            '-d', 'session.gc_probability=0', '-d', 'session.save_path=' . sys_get_temp_dir()];
        foreach ($ini as $name => $value) {
            array_push($command, '-d', $name . '=' . $value);
        }
        $command[] = $file;
        $environment = array_filter(
            getenv(),
            static fn (string $name): bool => !str_starts_with($name, 'PHPSESSD_'),
            ARRAY_FILTER_USE_KEY,
        );
        $process = proc_open($command, [1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes, null, $env + $environment);
        $this->assertIsResource($process);
        $stdout = (string) stream_get_contents($pipes[1]);
        $stderr = (string) stream_get_contents($pipes[2]);
        fclose($pipes[1]);
        fclose($pipes[2]);
        $status = proc_close($process);
        return ['stdout' => $stdout, 'stderr' => $stderr, 'status' => $status];
    }

    /** PHP code that decodes as a string literal of $value, for generated scripts. */
    protected static function literal(string $value): string
    {
        return var_export($value, true);
    }

    protected static function bootstrapFile(): string
    {
        return dirname(__DIR__) . '/bootstrap.php';
    }
}
