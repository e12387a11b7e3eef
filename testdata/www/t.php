<?php
// Test page: one action per request, chosen by ?do=..., answered as JSON.
// Warnings raised on the way (the PHP client's among them) are returned in "warnings".
declare(strict_types=1);

$warnings = [];
set_error_handler(function (int $no, string $msg) use (&$warnings): bool {
    $warnings[] = $msg;
    return true;
});
$out = [];
register_shutdown_function(function () use (&$out, &$warnings): void {
    // Close the session before answering, so that the row is written when the client
    // gets the answer.
    if (session_status() === PHP_SESSION_ACTIVE) {
        $out['closed'] = session_write_close();
    }
    $out['warnings'] = $warnings;
    header('Content-Type: application/json');
    echo json_encode($out, JSON_INVALID_UTF8_SUBSTITUTE | JSON_PARTIAL_OUTPUT_ON_ERROR);
});

final class Account
{
    public string $name = 'ann';
    protected string $role = 'admin';
    private string $secret = "\x00\xff\xfe";
    public function secret(): string { return $this->secret; }
}

$do = $_GET['do'] ?? 'count';
switch ($do) {
    case 'count': // increment a counter; ?sleep=ms holds the session open meanwhile, and
        // ?until=FILE holds it until FILE exists, after creating FILE.started
        $out['ok'] = session_start();
        if ($out['ok']) {
            $_SESSION['n'] = ($_SESSION['n'] ?? 0) + 1;
            $out['n'] = $_SESSION['n'];
            usleep((int)($_GET['sleep'] ?? 0) * 1000);
            if (isset($_GET['until'])) {
                file_put_contents($_GET['until'] . '.started', '');
                while (!file_exists($_GET['until'])) {
                    usleep(10000);
                }
            }
        }
        break;
    case 'hold': // take the session, tell the test our pid through ?pidfile=, then wait
        $out['ok'] = session_start();
        file_put_contents($_GET['pidfile'], (string)getmypid());
        sleep(60);
        break;
    case 'read': // read without changing anything
        $out['ok'] = session_start();
        $out['session'] = $_SESSION ?? null;
        break;
    case 'readonly': // session_pgsql_start_read_only(): read without the lock; ?set=1 then
        // tries to change the session and write it, which must not reach the row
        $out['ok'] = session_pgsql_start_read_only();
        $out['session'] = $_SESSION ?? null;
        $out['active'] = session_status() === PHP_SESSION_ACTIVE;
        if (isset($_GET['set'])) {
            $_SESSION['n'] = 1000;
            $h = \Phpsessd\SessionHandler::current();
            $h->readOnly();
            $out['write'] = $h->write(session_id(), 'n|i:1000;');
        }
        break;
    case 'login': // ?user=N: $_SESSION['user'] = ['id' => N], and count as 'count' does
        $out['ok'] = session_start();
        $_SESSION['user'] = ['id' => (int)$_GET['user']];
        $_SESSION['n'] = ($_SESSION['n'] ?? 0) + 1;
        $out['n'] = $_SESSION['n'];
        break;
    case 'endothers': // log out the other sessions of ?user=N (session_pgsql_end_sessions)
        $out['ok'] = session_start();
        $out['ended'] = session_pgsql_end_sessions('user.id', (int)$_GET['user']);
        break;
    case 'fatal': // take the session, then die of a fatal error before closing it
        session_start();
        $_SESSION['n'] = ($_SESSION['n'] ?? 0) + 1;
        $out['n'] = $_SESSION['n'];
        undefined_function_for_a_fatal_error();
        break;
    case 'exit': // take the session and exit without closing it explicitly
        session_start();
        $_SESSION['n'] = ($_SESSION['n'] ?? 0) + 1;
        $out['n'] = $_SESSION['n'];
        exit;
    case 'binary': // store NUL bytes, invalid UTF-8 and an object with all visibilities
        $out['ok'] = session_start();
        if (isset($_GET['set'])) {
            $_SESSION['account'] = new Account();
            $_SESSION['raw'] = "\x00\x01\x80\xff end";
        }
        $out['raw_hex'] = bin2hex($_SESSION['raw'] ?? '');
        $out['secret_hex'] = isset($_SESSION['account']) ? bin2hex($_SESSION['account']->secret()) : null;
        $out['encoded_hex'] = bin2hex(session_encode() ?: '');
        break;
    case 'regenerate': // session_regenerate_id(delete_old_session: true)
        session_start();
        $out['old'] = session_id();
        $_SESSION['n'] = ($_SESSION['n'] ?? 0) + 1;
        $out['ok'] = session_regenerate_id(true);
        $out['new'] = session_id();
        break;
    case 'destroy':
        session_start();
        $out['ok'] = session_destroy();
        break;
    case 'gc':
        session_start();
        $out['deleted'] = session_gc();
        break;
    case 'functions': // the session_pgsql_* functions of the extension
        $out['ok'] = session_start();
        if (isset($_GET['field'])) {
            $out['set_field'] = session_pgsql_set_field($_GET['field']);
        }
        if (isset($_GET['error'])) {
            $out['add_error'] = session_pgsql_add_error((int)$_GET['error'], $_GET['msg'] ?? '');
        }
        $out['get_field'] = session_pgsql_get_field();
        $out['get_error'] = session_pgsql_get_error(true);
        $out['info'] = session_pgsql_info();
        $out['status'] = session_pgsql_status();
        break;
    case 'extension': // what code written for the extension reads, each value as [type, value]
        $out['status_before'] = session_status();
        $out['ok'] = session_start();
        $out['module'] = session_module_name();
        if ($out['ok']) {
            $_SESSION['n'] = ($_SESSION['n'] ?? 0) + 1;
        }
        if (isset($_GET['field'])) {
            $out['set_field'] = session_pgsql_set_field($_GET['field']);
        }
        if (isset($_GET['error'])) {
            $out['add_error'] = session_pgsql_add_error((int)$_GET['error'], $_GET['msg'] ?? '');
        }
        $typed = static function (mixed $v): array {
            if (!is_array($v)) {
                return [get_debug_type($v), $v];
            }
            return array_map(static fn (mixed $x): array => [get_debug_type($x), $x], $v);
        };
        $out['status'] = $typed(session_pgsql_status());
        $out['info'] = $typed(session_pgsql_info());
        $out['get_error'] = $typed(session_pgsql_get_error(true));
        $out['get_field'] = $typed(session_pgsql_get_field());
        $out['reset'] = $typed(session_pgsql_reset());
        break;
    case 'abandon': // lock a session through the handler and end the request without closing it
        $h = \Phpsessd\SessionHandler::current();
        $out['ok'] = $h->open('', 'PHPSESSID') && $h->read($_GET['id']) !== false;
        break;
    case 'rawwrite': // write ?data= as the session's raw data through the handler, as a custom serializer might
        $h = \Phpsessd\SessionHandler::current();
        $out['ok'] = $h->open('', 'PHPSESSID') && $h->read($_GET['id']) !== false && $h->write($_GET['id'], (string)$_GET['data']);
        $h->close();
        break;
    case 'reset':
        $out['reset'] = session_pgsql_reset();
        break;
    case 'status': // session_pgsql_status() in a request that opens no session
        $out['status'] = is_array(session_pgsql_status());
        break;
    default:
        http_response_code(400);
        $out['error'] = 'unknown action';
}
