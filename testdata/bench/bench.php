<?php
// The page of make bench (internal/bench): reads the session, increments its counter,
// keeps a payload of ?payload= bytes and writes back; prints the counter after its
// increment. With ?read=locked it only reads the session (read_and_close, which waits
// for the session's lock) and prints the counter; with ?read=unlocked it reads it with
// session_pgsql_start_read_only() (phpsessd's client: no lock). The same page runs in
// every pool: only the pool's session handler differs.
switch ($_GET['read'] ?? '') {
    case 'locked':
        session_start(['read_and_close' => true]);
        echo $_SESSION['n'] ?? 0;
        return;
    case 'unlocked':
        session_pgsql_start_read_only();
        echo $_SESSION['n'] ?? 0;
        return;
}
session_start();
$_SESSION['n'] = ($_SESSION['n'] ?? 0) + 1;
$_SESSION['payload'] ??= str_repeat('x', (int)($_GET['payload'] ?? 1024));
echo $_SESSION['n'];
