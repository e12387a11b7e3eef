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

    public function testHelloTakesTheRemoteAddressFromServerOnlyWhenTheRequestHasIt(): void
    {
        // Without register_argc_argv the CLI, like FPM, creates $_SERVER only
        // for a request whose code names it.
        $daemon = $this->daemon();
        $ini = [
            'auto_prepend_file' => self::bootstrapFile(),
            'session_pgsql.listen' => $daemon->address,
            'register_argc_argv' => '0',
            'auto_globals_jit' => '1',
        ];
        $env = ['REMOTE_ADDR' => '203.0.113.5'];
        $plain = 'session_id("bootstrapAddr1"); session_start(); session_write_close(); echo "ok";';
        $proxied = '$_SERVER["REMOTE_ADDR"] = "198.51.100.9"; ' . $plain;

        $this->assertSame(['stdout' => 'ok', 'stderr' => '', 'status' => 0], $this->runPhp($plain, $ini, $env));
        $this->assertSame(['stdout' => 'ok', 'stderr' => '', 'status' => 0], $this->runPhp($proxied, $ini, $env));

        $hellos = array_values(array_filter($daemon->requests(), static fn (array $r): bool => $r['op'] === 1));
        $this->assertCount(2, $hellos);
        $this->assertSame('203.0.113.5', $hellos[0]['fields'][3]);
        $this->assertSame('198.51.100.9', $hellos[1]['fields'][3]);
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

    public function testPreloadedClientServesSessionsWithoutLoadingItsFilesPerRequest(): void
    {
        $daemon = $this->daemon();
        $user = function_exists('posix_getpwuid') ? (posix_getpwuid(posix_geteuid())['name'] ?? 'root') : 'root';
        $ini = [
            'opcache.enable_cli' => '1',
            'opcache.preload' => dirname(__DIR__) . '/preload.php',
            'opcache.preload_user' => $user,
            'auto_prepend_file' => self::bootstrapFile(),
            'session_pgsql.listen' => $daemon->address,
        ];
        // The request includes bootstrap.php and the page, not the client's files:
        // preloading declared its classes and functions for every request.
        $code = 'session_id("preloadTest42"); var_export(session_start()); $_SESSION["n"] = 1; session_write_close();'
            . 'echo "|", get_class(Phpsessd\SessionHandler::current()), "|", function_exists("session_pgsql_status") ? "f" : "-",'
            . '"|", count(array_filter(get_included_files(), fn ($f) => str_contains($f, "/src/")));';

        $this->assertSame(
            ['stdout' => 'true|Phpsessd\SessionHandler|f|0', 'stderr' => '', 'status' => 0],
            $this->runPhp($code, $ini),
        );
        $this->assertSame(['HELLO@1', 'READ@1', 'WRITE@1'], $daemon->trace());
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

    public function testBootstrapRegistersWhenSaveHandlerIsTheExtensionsPgsql(): void
    {
        $daemon = $this->daemon();
        $ini = ['session.save_handler' => 'pgsql', 'session_pgsql.listen' => $daemon->address];
        $code = '$before = session_status(); session_id("pgsqlHandler0123"); $ok = session_start();'
            . '$_SESSION["n"] = 1; echo json_encode([$before, $ok, session_status(), session_module_name(),'
            . ' session_pgsql_get_error()]);';

        // Without phpsessd, PHP finds no module "pgsql" and reports sessions disabled.
        $without = $this->runPhp('var_export([session_status(), @session_start()]);', $ini);
        $this->assertSame(var_export([PHP_SESSION_DISABLED, false], true), $without['stdout']);

        $run = $this->runPhp($code, $ini + ['auto_prepend_file' => self::bootstrapFile()]);

        $this->assertSame('', $run['stderr']);
        $this->assertSame(
            // PHP keeps reporting PHP_SESSION_DISABLED until session_start().
            [PHP_SESSION_DISABLED, true, PHP_SESSION_ACTIVE, 'user',
                ['Errors' => 0, 'Warnings' => 0, 'Notices' => 0, 'error' => 0, 'warning' => 0, 'notice' => 0]],
            json_decode($run['stdout'], true),
        );
        $this->assertSame(['HELLO@1', 'READ@1', 'WRITE@1'], $daemon->trace());
    }

    public function testDisableOnRegistersNothingAndTheFunctionsWarn(): void
    {
        $daemon = $this->daemon();
        $code = 'set_error_handler(function (int $no, string $msg): bool { echo "$no:$msg|"; return true; });'
            . 'echo json_encode([session_pgsql_status(), session_pgsql_reset(), session_pgsql_info(),'
            . ' session_pgsql_set_field("x"), session_pgsql_get_field(), session_pgsql_add_error(E_WARNING),'
            . ' session_pgsql_get_error(true), Phpsessd\SessionHandler::current(), session_module_name()]);';

        foreach (['on', '1', 'yes', 'true'] as $value) {
            $run = $this->runPhp($code, [
                'auto_prepend_file' => self::bootstrapFile(),
                'session.save_handler' => 'files',
                'session_pgsql.disable' => $value,
                'session_pgsql.listen' => $daemon->address,
            ]);

            $this->assertSame('', $run['stderr']);
            $this->assertSame(
                str_repeat(E_USER_WARNING . ':session_pgsql is disabled|', 7)
                    . json_encode([false, false, false, false, false, false, false, null, 'files']),
                $run['stdout'],
                "session_pgsql.disable = $value",
            );
        }
        $this->assertSame([], $daemon->trace());
    }

    public function testDisableOffRegisters(): void
    {
        foreach (['off', '0', ''] as $value) {
            $run = $this->runPhp('echo session_module_name();', [
                'auto_prepend_file' => self::bootstrapFile(),
                'session_pgsql.disable' => $value,
            ]);

            $this->assertSame(['stdout' => 'user', 'stderr' => '', 'status' => 0], $run, "disable = $value");
        }
    }

    public function testSixFunctionsRegisteredAfterBootstrapKeepPhpsessdsValidateIdAndUpdateTimestamp(): void
    {
        // PHP replaces only the callbacks it is given: those it is not keep the
        // object's, here phpsessd's validateId() and updateTimestamp().
        $six = 'fn ($path, $name) => true, fn () => true, fn ($id) => "n|i:1;",'
            . ' function ($id, $data) { echo "app write|"; return true; }, fn ($id) => true, fn ($max) => 0';
        $nine = $six . ', fn () => "appHandler0123456", fn ($id) => true, fn ($id, $data) => true';
        $code = 'session_set_save_handler(%s); session_id("appHandler0123456"); session_start();'
            . ' session_write_close(); echo session_id();';
        $ini = ['auto_prepend_file' => self::bootstrapFile(), 'session.use_strict_mode' => '1',
            'session.lazy_write' => '1'];

        $daemon = $this->daemon();
        $run = $this->runPhp(sprintf($code, $six), $ini, ['PHPSESSD_LISTEN' => $daemon->address]);
        $this->assertSame('', $run['stderr']);
        // phpsessd's validateId() did not know the id, so PHP made a new one;
        // the unchanged data went to phpsessd's updateTimestamp(), not the app's write.
        $this->assertMatchesRegularExpression('/^[a-zA-Z0-9,-]{20,}$/', $run['stdout']);
        $this->assertNotSame('appHandler0123456', $run['stdout']);
        $this->assertSame(['HELLO@1', 'VALIDATE_ID@1', 'UPDATE_TIMESTAMP@1'], $daemon->trace());

        $daemon = $this->daemon();
        $run = $this->runPhp(sprintf($code, $nine), $ini, ['PHPSESSD_LISTEN' => $daemon->address]);
        $this->assertSame(['stdout' => 'appHandler0123456', 'stderr' => '', 'status' => 0], $run);
        $this->assertSame([], $daemon->trace());
    }

    public function testOpenBasedirMustIncludeThePhpClientDirectory(): void
    {
        $daemon = $this->daemon();
        $ini = ['auto_prepend_file' => self::bootstrapFile(), 'session_pgsql.listen' => $daemon->address];
        $code = 'session_id("openBasedir012345"); var_export(session_start());';

        // The script in a directory of its own, which holds the php-client
        // directory wherever the checkout is (in the temporary directory, say).
        $dir = $this->tempDir();
        $outside = $this->runPhp($code, $ini + ['open_basedir' => $dir], [], $dir);
        $this->assertSame('', $outside['stdout']);
        $this->assertStringContainsString('Failed opening required', $outside['stderr']);

        $allowed = $dir . PATH_SEPARATOR . dirname(self::bootstrapFile());
        $inside = $this->runPhp($code, $ini + ['open_basedir' => $allowed], [], $dir);
        $this->assertSame(['stdout' => 'true', 'stderr' => '', 'status' => 0], $inside);

        // A secret file outside open_basedir is a configuration warning at
        // session_start(), never one from bootstrap.php on every request.
        $secret = $this->runPhp($code, $ini + ['open_basedir' => $allowed, 'session_pgsql.secret_file' => PHP_BINARY], [], $dir);
        $this->assertSame('true', $secret['stdout']);
        $this->assertStringContainsString(
            'phpsessd: configuration (' . $daemon->address . '): session_pgsql.secret_file: "' . PHP_BINARY
                . '" is not a readable regular file within open_basedir',
            $secret['stderr'],
        );
        $this->assertStringNotContainsString('is_file', $secret['stderr']);
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
