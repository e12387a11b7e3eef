<?php
// Demo page of make run: a session counter, the session as PHP decoded it beside the
// php_session row that holds it (read straight from PostgreSQL with the pgsql
// extension and session_pgsql.db of php.ini, after this request's write), the live
// sessions, and a button that logs every other browser out of the demo user
// (session_pgsql_end_sessions).
declare(strict_types=1);

// Every visitor is the same demo user, so that "log out the other browsers" has
// something to end.
const DEMO_USER = 'demo';

$started = session_start();
$id = session_id();
$ended = null;
if ($started) {
    if (($_SERVER['REQUEST_METHOD'] ?? 'GET') === 'POST' && ($_POST['action'] ?? '') === 'end_others') {
        $ended = session_pgsql_end_sessions('user.id', DEMO_USER);
    }
    $_SESSION['user'] = ['id' => DEMO_USER];
    $_SESSION['visits'] = ($_SESSION['visits'] ?? 0) + 1;
    $_SESSION['last_seen'] = date('c');
    $visits = $_SESSION['visits'];
    $decoded = json_encode($_SESSION, JSON_PRETTY_PRINT | JSON_UNESCAPED_SLASHES | JSON_INVALID_UTF8_SUBSTITUTE);
    session_write_close(); // the row below is then this request's
}

$row = null;
$live = null;
$dsn = get_cfg_var('session_pgsql.db');
if ($started && is_string($dsn) && function_exists('pg_connect')) {
    $db = @pg_connect(explode(';', $dsn)[0]);
    if ($db !== false) {
        $res = pg_query_params($db, 'SELECT * FROM php_session WHERE sess_id = $1', [$id]);
        $row = $res === false ? null : (pg_fetch_assoc($res) ?: null);
        $res = pg_query($db, 'SELECT sess_id, sess_modified, sess_addr_modified, sess_counter FROM php_session
            WHERE sess_expire >= extract(epoch FROM now()) ORDER BY sess_modified DESC LIMIT 50');
        $live = $res === false ? null : pg_fetch_all($res);
    }
}
$h = fn ($v): string => htmlspecialchars((string)$v, ENT_QUOTES | ENT_SUBSTITUTE);
$when = fn ($t): string => $t === null ? 'NULL' : $h($t) . ' (' . $h(date('c', (int)$t)) . ')';
?>
<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>phpsessd demo</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:64em;margin:2em auto}
td,th{padding:.2em .8em;text-align:left;border-bottom:1px solid #ddd;vertical-align:top}
code,td,pre{font-family:ui-monospace,monospace}.side{display:flex;gap:2em;align-items:flex-start}
.mine{font-weight:bold}</style>
</head>
<body>
<h1>phpsessd demo</h1>
<?php if (!$started): ?>
  <p><strong>session_start() failed</strong>: is phpsessd running? See the PHP error log.</p>
<?php else: ?>
  <p>You have visited this page <strong id="visits"><?= $h($visits) ?></strong> time(s)
     in session <code id="session-id"><?= $h($id) ?></code>. Reload to count up; open the
     page in another browser (or a private window) for a second session.</p>
  <?php if ($ended !== null): ?>
    <p id="ended">Ended <strong><?= $h($ended === false ? 'no' : $ended) ?></strong> other session(s)
       of user <code><?= $h(DEMO_USER) ?></code>.</p>
  <?php endif ?>
  <div class="side">
    <section>
      <h2>The session, decoded</h2>
      <pre id="decoded"><?= $h($decoded) ?></pre>
    </section>
    <section>
      <h2>The stored <code>php_session</code> row</h2>
      <?php if ($row === null): ?>
        <p>(Cannot read the table from here: needs the pgsql extension and session_pgsql.db.)</p>
      <?php else: ?>
        <table id="row">
          <?php foreach ($row as $k => $v): ?>
            <tr><th><?= $h($k) ?></th><td><?= in_array($k, ['sess_created', 'sess_modified', 'sess_expire'], true) ? $when($v) : $h($v ?? 'NULL') ?></td></tr>
          <?php endforeach ?>
        </table>
      <?php endif ?>
    </section>
  </div>
  <?php if ($live !== null): ?>
    <h2>Live sessions</h2>
    <table id="sessions">
      <tr><th>id</th><th>modified</th><th>address</th><th>writes</th></tr>
      <?php foreach ($live as $s): ?>
        <tr data-id="<?= $h($s['sess_id']) ?>"<?= $s['sess_id'] === $id ? ' class="mine"' : '' ?>>
          <td><?= $h($s['sess_id']) ?><?= $s['sess_id'] === $id ? ' (this browser)' : '' ?></td>
          <td><?= $h(date('c', (int)$s['sess_modified'])) ?></td><td><?= $h($s['sess_addr_modified']) ?></td><td><?= $h($s['sess_counter']) ?></td>
        </tr>
      <?php endforeach ?>
    </table>
    <form method="post">
      <button id="end-others" name="action" value="end_others">Log the other browsers out</button>
      (<code>session_pgsql_end_sessions('user.id', '<?= $h(DEMO_USER) ?>')</code>: every
      session of the demo user but this one)
    </form>
  <?php endif ?>
<?php endif ?>
</body>
</html>
