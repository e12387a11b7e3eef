<?php

declare(strict_types=1);

namespace Phpsessd\Tests;

/**
 * bootstrap.php as auto_prepend_file, in fresh PHP processes.
 */
final class BootstrapTest extends TestCase
{
    public function testSessionStartReturnsFalseWithAWarningWhenNothingListens(): void
    {
        $address = 'unix:' . sys_get_temp_dir() . '/phpsessd-test-nothing-here/phpsessd.sock';
        $code = 'var_export(session_start()); echo "|", session_status() === PHP_SESSION_ACTIVE ? "active" : "none";';

        $run = $this->runPhp($code, [
            'auto_prepend_file' => self::bootstrapFile(),
            'session_pgsql.listen' => $address,
            'session_pgsql.client_timeout' => '0.5',
        ]);

        $this->assertSame(0, $run['status']);
        $this->assertSame('false|none', $run['stdout']);
        $this->assertStringContainsString("Warning: phpsessd: open failed ($address): cannot connect", $run['stderr']);
        $this->assertStringNotContainsString('Fatal', $run['stderr']);
    }

    public function testSessionStartReturnsFalseWhenTheDaemonNeverAnswers(): void
    {
        $daemon = $this->daemon(['rules' => [['action' => 'silent'], ['action' => 'silent']]]);

        $run = $this->runPhp('var_export(session_start());', [
            'auto_prepend_file' => self::bootstrapFile(),
            'session_pgsql.listen' => $daemon->address,
            'session_pgsql.client_timeout' => '0.3',
        ]);

        $this->assertSame(0, $run['status']);
        $this->assertSame('false', $run['stdout']);
        $this->assertStringContainsString(
            'phpsessd: read failed (' . $daemon->address . '): timed out',
            $run['stderr'],
        );
    }

    public function testRegisteredHandlerKeepsSessionsAcrossRequests(): void
    {
        $daemon = $this->daemon();
        $ini = ['auto_prepend_file' => self::bootstrapFile(), 'session_pgsql.listen' => $daemon->address];
        $first = 'session_id("bootstrapTest42"); var_export(session_start()); $_SESSION["n"] = "x\0y";'
            . 'echo "|", get_class(Phpsessd\SessionHandler::current());';
        $second = 'session_id("bootstrapTest42"); session_start(); echo bin2hex($_SESSION["n"]);';

        $this->assertSame(
            ['stdout' => 'true|Phpsessd\SessionHandler', 'stderr' => '', 'status' => 0],
            $this->runPhp($first, $ini),
        );
        $this->assertSame(['stdout' => bin2hex("x\0y"), 'stderr' => '', 'status' => 0], $this->runPhp($second, $ini));
        $this->assertSame(
            // A WRITE or UPDATE_TIMESTAMP ends the lock: no CLOSE exchange follows.
            ['HELLO@1', 'READ@1', 'WRITE@1', 'HELLO@2', 'READ@2', 'UPDATE_TIMESTAMP@2'],
            $daemon->trace(),
        );
    }

    public function testSessionReadButNeverClosedIsClosedAtTheEndOfTheRequest(): void
    {
        // As a request that drives the handler itself and forgets close():
        // the lock must not wait for this worker's next request.
        $daemon = $this->daemon();
        $code = '$h = Phpsessd\SessionHandler::current();'
            . 'var_export($h->open("", "PHPSESSID") && $h->read("abandoned1") !== false);';

        $run = $this->runPhp(
            $code,
            ['auto_prepend_file' => self::bootstrapFile()],
            ['PHPSESSD_LISTEN' => $daemon->address],
        );

        $this->assertSame(['stdout' => 'true', 'stderr' => '', 'status' => 0], $run);
        $this->assertSame(['HELLO@1', 'READ@1', 'CLOSE@1'], $daemon->trace());
    }

    public function testFatalErrorAfterSessionStartStillWritesOnce(): void
    {
        $daemon = $this->daemon();
        $code = 'session_id("fatal1"); session_start(); $_SESSION["n"] = 1; undefined_function_for_a_fatal_error();';

        $run = $this->runPhp(
            $code,
            ['auto_prepend_file' => self::bootstrapFile()],
            ['PHPSESSD_LISTEN' => $daemon->address],
        );

        $this->assertStringContainsString('Fatal error', $run['stderr']);
        $this->assertStringNotContainsString('phpsessd:', $run['stderr']);
        $this->assertSame(['HELLO@1', 'READ@1', 'WRITE@1'], $daemon->trace());
    }

    public function testBootstrapPrintsNothingAndDoesNotConnect(): void
    {
        $run = $this->runPhp('', [
            'auto_prepend_file' => self::bootstrapFile(),
            'session_pgsql.listen' => 'unix:/nonexistent.sock',
        ]);

        $this->assertSame(['stdout' => '', 'stderr' => '', 'status' => 0], $run);
    }

    public function testBootstrapLeavesAnAutoStartedSessionAlone(): void
    {
        $code = 'echo session_status(), "|", var_export(Phpsessd\SessionHandler::current(), true), "|",'
            . ' ini_get("session.save_handler");';

        $run = $this->runPhp($code, [
            'auto_prepend_file' => self::bootstrapFile(),
            'session.auto_start' => '1',
            'session.save_handler' => 'files',
            'session_pgsql.listen' => 'unix:/nonexistent.sock',
        ]);

        $this->assertSame(['stdout' => PHP_SESSION_ACTIVE . '|NULL|files', 'stderr' => '', 'status' => 0], $run);
    }

    public function testBootstrapUsesClassesThatComposersAutoloaderAlreadyLoaded(): void
    {
        $composer = trim((string) shell_exec('command -v composer'));
        if ($composer === '') {
            $this->markTestSkipped('composer is not installed');
        }
        $copy = sys_get_temp_dir() . '/phpsessd-test-composer-' . bin2hex(random_bytes(4));
        mkdir($copy . '/src', 0700, true);
        try {
            copy(dirname(__DIR__) . '/composer.json', $copy . '/composer.json');
            foreach (glob(dirname(__DIR__) . '/src/*.php') ?: [] as $file) {
                copy($file, $copy . '/src/' . basename($file));
            }
            exec('cd ' . escapeshellarg($copy) . ' && COMPOSER_DISABLE_NETWORK=1 ' . escapeshellarg($composer)
                . ' dump-autoload --no-interaction --quiet 2>&1', $output, $status);
            $this->assertSame(0, $status, implode("\n", $output));

            $code = 'require ' . self::literal($copy . '/vendor/autoload.php') . ';'
                . 'require ' . self::literal(self::bootstrapFile()) . ';'
                . 'require ' . self::literal(self::bootstrapFile()) . ';'
                . 'echo (new ReflectionClass(Phpsessd\SessionHandler::class))->getFileName(), "|",'
                . '(new ReflectionFunction("session_pgsql_status"))->getFileName(), "|",'
                . 'get_class(Phpsessd\SessionHandler::current());';
            $run = $this->runPhp($code);

            $this->assertSame('', $run['stderr']);
            $this->assertSame(
                $copy . '/src/SessionHandler.php|' . $copy . '/src/functions.php|Phpsessd\SessionHandler',
                $run['stdout'],
            );
        } finally {
            exec('rm -rf ' . escapeshellarg($copy));
        }
    }
}
