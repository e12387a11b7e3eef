<?php
// The page of make bench (internal/bench): reads the session, increments its counter,
// keeps a payload of ?payload= bytes and writes back; prints the counter after its
// increment. The same page runs in every pool: only the pool's session handler differs.
session_start();
$_SESSION['n'] = ($_SESSION['n'] ?? 0) + 1;
$_SESSION['payload'] ??= str_repeat('x', (int)($_GET['payload'] ?? 1024));
echo $_SESSION['n'];
