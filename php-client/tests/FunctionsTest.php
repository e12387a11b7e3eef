<?php

declare(strict_types=1);

namespace Phpsessd\Tests;

/**
 * The session_pgsql_* functions, in a PHP process that loads bootstrap.php as
 * auto_prepend_file and runs real sessions against the fake daemon.
 */
final class FunctionsTest extends TestCase
{
    private const SCRIPT = <<<'PHP'
        $_SERVER['REMOTE_ADDR'] = '198.51.100.4';
        $out = [];
        $out['before'] = [
            session_pgsql_get_field(), session_pgsql_set_field('x'), session_pgsql_add_error(E_WARNING),
            session_pgsql_get_error(), session_pgsql_info(),
        ];
        session_id('functionsTest0123');
        $out['start'] = session_start();
        $out['field_read'] = session_pgsql_get_field();
        $out['set_field'] = session_pgsql_set_field('hello');
        $out['field_set'] = session_pgsql_get_field();
        $out['add_error'] = [
            session_pgsql_add_error(E_USER_WARNING, 'disk full'), session_pgsql_add_error(E_NOTICE),
            session_pgsql_add_error(E_ERROR), session_pgsql_add_error(12345, 'not a level'),
        ];
        $out['get_error'] = session_pgsql_get_error();
        $out['get_error_message'] = session_pgsql_get_error(true);
        $out['info_before_first_write'] = session_pgsql_info();
        $out['status'] = session_pgsql_status();
        $out['reset'] = session_pgsql_reset();
        $_SESSION['n'] = 1;
        session_write_close();
        $out['after_close'] = [
            session_pgsql_get_field(), session_pgsql_set_field('y'), session_pgsql_get_error(), session_pgsql_info(),
        ];
        $out['restart'] = session_start();
        $out['field_reread'] = session_pgsql_get_field();
        $out['get_error_reread'] = session_pgsql_get_error(true);
        $out['info'] = session_pgsql_info();
        session_write_close();
        echo json_encode($out);
        PHP;

    public function testFunctionsReturnTheExtensionsShapesDuringASession(): void
    {
        $daemon = $this->daemon(['status' => ['uptime' => 5, 'connections' => 1]]);

        $run = $this->runPhp(
            self::SCRIPT,
            ['auto_prepend_file' => self::bootstrapFile()],
            ['PHPSESSD_LISTEN' => $daemon->address],
        );

        $this->assertSame('', $run['stderr']);
        $out = json_decode($run['stdout'], true, 512, JSON_THROW_ON_ERROR);
        $this->assertSame([false, false, false, false, false], $out['before']);
        $this->assertTrue($out['start']);
        $this->assertSame('', $out['field_read']);
        $this->assertTrue($out['set_field']);
        $this->assertSame('hello', $out['field_set']);
        $this->assertSame([true, true, true, false], $out['add_error']);
        $this->assertSame(
            ['Errors' => 1, 'Warnings' => 1, 'Notices' => 1, 'error' => 1, 'warning' => 1, 'notice' => 1],
            $out['get_error'],
        );
        $withMessage = ['Errors' => 1, 'Warnings' => 1, 'Notices' => 1, 'Error Message' => 'disk full',
            'error' => 1, 'warning' => 1, 'notice' => 1, 'err_message' => 'disk full'];
        $this->assertSame($withMessage, $out['get_error_message']);
        // No row yet: the extension's keys alone.
        $this->assertSame([
            'Session ID' => 'functionsTest0123', 'Server ID' => 0, 'Connection' => 'host=fake dbname=php_session',
            'Accesses' => 1, 'Errors' => 1, 'Warnings' => 1, 'Notices' => 1,
            'Created' => 0, 'Modified' => 0, 'Expires' => 0,
            'Address Created' => '', 'Address Modified' => '', 'Custom' => 'hello',
        ], $out['info_before_first_write']);
        $this->assertSame([
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
            'uptime' => 5,
            'connections' => 1,
        ], $out['status']);
        $this->assertTrue($out['reset']);
        $this->assertSame([false, false, false, false], $out['after_close']);
        $this->assertTrue($out['restart']);
        $this->assertSame('hello', $out['field_reread']);
        $this->assertSame($withMessage, $out['get_error_reread']);

        $info = $out['info'];
        $this->assertSame(
            ['Session ID', 'Server ID', 'Connection', 'Accesses', 'Errors', 'Warnings', 'Notices', 'Created',
                'Modified', 'Expires', 'Address Created', 'Address Modified', 'Custom',
                'id', 'name', 'data_size', 'created', 'modified', 'expire', 'addr_created', 'addr_modified',
                'counter', 'error', 'warning', 'notice', 'err_message', 'custom'],
            array_keys($info),
        );
        $this->assertSame(2, $info['Accesses']);
        $this->assertSame($info['created'], $info['Created']);
        $this->assertSame('198.51.100.4', $info['Address Modified']);
        $this->assertSame('functionsTest0123', $info['id']);
        $this->assertSame('PHPSESSID', $info['name']);
        $this->assertSame(strlen('n|i:1;'), $info['data_size']);
        $this->assertIsInt($info['created']);
        $this->assertSame('198.51.100.4', $info['addr_created']);
        $this->assertSame('hello', $info['custom']);
        $this->assertSame('disk full', $info['err_message']);

        $this->assertSame(
            ['HELLO@1', 'READ@1', 'INFO@1', 'STATUS@1', 'RESET@1', 'WRITE@1',
                'HELLO@1', 'READ@1', 'INFO@1', 'UPDATE_TIMESTAMP@1'],
            $daemon->trace(),
        );
        $write = $daemon->requests()[5];
        $this->assertSame(['functionsTest0123', 'n|i:1;', 'hello', '1', '1', '1', 'disk full'], $write['fields']);
    }

    public function testStatusAndResetWarnAndReturnFalseWhenTheDaemonIsUnreachable(): void
    {
        $address = 'unix:/nonexistent/phpsessd.sock';
        $code = 'var_export([session_pgsql_status(), session_pgsql_reset(), session_pgsql_info()]);';

        $run = $this->runPhp($code, ['auto_prepend_file' => self::bootstrapFile()], ['PHPSESSD_LISTEN' => $address]);

        $this->assertSame(0, $run['status']);
        $this->assertSame(var_export([false, false, false], true), $run['stdout']);
        $this->assertStringContainsString("phpsessd: status failed ($address): cannot connect", $run['stderr']);
        $this->assertStringContainsString("phpsessd: reset failed ($address): cannot connect", $run['stderr']);
    }

    public function testStatusWorksWithoutARegisteredHandler(): void
    {
        $daemon = $this->daemon();
        $code = 'require ' . self::literal(dirname(__DIR__) . '/src/functions.php') . ';'
            . 'spl_autoload_register(fn ($c) => require ' . self::literal(dirname(__DIR__) . '/src/')
            . ' . substr($c, 9) . ".php");'
            . 'echo session_pgsql_status()["server"];';

        $run = $this->runPhp($code, [], ['PHPSESSD_LISTEN' => $daemon->address]);

        $this->assertSame('', $run['stderr']);
        $this->assertSame('phpsessd/0.0.0-fake', $run['stdout']);
    }
}
