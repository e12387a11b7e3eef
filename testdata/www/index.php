<?php
// Demo page of make run: a session counter and the php_session row behind it.
declare(strict_types=1);

$started = session_start();
if ($started) {
    $_SESSION['visits'] = ($_SESSION['visits'] ?? 0) + 1;
    $_SESSION['last_seen'] = date('c');
}
$info = $started && function_exists('session_pgsql_info') ? session_pgsql_info() : false;
$h = fn ($v): string => htmlspecialchars((string)$v, ENT_QUOTES | ENT_SUBSTITUTE);
?>
<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>phpsessd demo</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:46em;margin:2em auto}
td,th{padding:.2em .8em;text-align:left;border-bottom:1px solid #ddd}code{background:#f4f4f4}</style>
</head>
<body>
<h1>phpsessd demo</h1>
<?php if (!$started): ?>
  <p><strong>session_start() failed</strong>: is phpsessd running? See the PHP error log.</p>
<?php else: ?>
  <p>You have visited this page <strong id="visits"><?= $h($_SESSION['visits']) ?></strong> time(s)
     in session <code><?= $h(session_id()) ?></code>. Reload to count up.</p>
  <h2>The stored <code>php_session</code> row</h2>
  <?php if ($info === false || $info === null): ?>
    <p>No row yet: it is written when this request ends. Reload.</p>
  <?php else: ?>
    <table id="row">
      <?php foreach ($info as $k => $v): ?>
        <tr><th>sess_<?= $h($k) ?></th><td><?= $h(is_int($v) && in_array($k, ['created','modified','expire'], true) ? "$v (" . date('c', $v) . ')' : $v) ?></td></tr>
      <?php endforeach ?>
    </table>
    <p>(The row shown is as it was before this request's write.)</p>
  <?php endif ?>
<?php endif ?>
</body>
</html>
