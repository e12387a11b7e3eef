<?php
// Demo page of make run: a session counter and the php_session row behind it, read
// straight from PostgreSQL (with the pgsql extension and session_pgsql.db of php.ini)
// after this request's write.
declare(strict_types=1);

$started = session_start();
$id = session_id();
if ($started) {
    $_SESSION['visits'] = ($_SESSION['visits'] ?? 0) + 1;
    $_SESSION['last_seen'] = date('c');
    $visits = $_SESSION['visits'];
    session_write_close(); // the row below is then this request's
}

$row = null;
$dsn = get_cfg_var('session_pgsql.db');
if ($started && is_string($dsn) && function_exists('pg_connect')) {
    $db = @pg_connect(explode(';', $dsn)[0]);
    if ($db !== false) {
        $res = pg_query_params($db, 'SELECT * FROM php_session WHERE sess_id = $1', [$id]);
        $row = $res === false ? null : (pg_fetch_assoc($res) ?: null);
    }
}
$h = fn ($v): string => htmlspecialchars((string)$v, ENT_QUOTES | ENT_SUBSTITUTE);
?>
<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>phpsessd demo</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:50em;margin:2em auto}
td,th{padding:.2em .8em;text-align:left;border-bottom:1px solid #ddd;vertical-align:top}
code,td{font-family:ui-monospace,monospace}</style>
</head>
<body>
<h1>phpsessd demo</h1>
<?php if (!$started): ?>
  <p><strong>session_start() failed</strong>: is phpsessd running? See the PHP error log.</p>
<?php else: ?>
  <p>You have visited this page <strong id="visits"><?= $h($visits) ?></strong> time(s)
     in session <code><?= $h($id) ?></code>. Reload to count up.</p>
  <h2>The stored <code>php_session</code> row</h2>
  <?php if ($row === null): ?>
    <p>(Cannot read the table from here: needs the pgsql extension and session_pgsql.db.)</p>
  <?php else: ?>
    <table id="row">
      <?php foreach ($row as $k => $v): ?>
        <tr><th><?= $h($k) ?></th><td><?= $h($v ?? 'NULL') ?><?= in_array($k, ['sess_created', 'sess_modified', 'sess_expire'], true) && $v !== null ? ' (' . $h(date('c', (int)$v)) . ')' : '' ?></td></tr>
      <?php endforeach ?>
    </table>
  <?php endif ?>
<?php endif ?>
</body>
</html>
