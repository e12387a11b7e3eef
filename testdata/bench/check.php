<?php
// make bench asks every pool for this page before measuring, to print and record what
// the pool really runs with: opcache, the session handler and the settings that matter.
header('Content-Type: application/json');
$status = function_exists('opcache_get_status') ? opcache_get_status(false) : false;
echo json_encode([
    'php' => PHP_VERSION,
    'sapi' => PHP_SAPI,
    'opcache' => is_array($status) && !empty($status['opcache_enabled']),
    'jit' => is_array($status) && !empty($status['jit']['on']),
    'save_handler' => ini_get('session.save_handler'),
    'auto_prepend_file' => ini_get('auto_prepend_file'),
    'lazy_write' => ini_get('session.lazy_write'),
    'use_strict_mode' => ini_get('session.use_strict_mode'),
    'gc_probability' => ini_get('session.gc_probability'),
    'serialize_handler' => ini_get('session.serialize_handler'),
]);
