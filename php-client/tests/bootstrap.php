<?php

declare(strict_types=1);

// The tests run with Debian's phpunit, so they do not need `composer install`:
// when Composer's autoloader is absent, a PSR-4 loader stands in for it.
$composer = __DIR__ . '/../vendor/autoload.php';
if (is_file($composer)) {
    require $composer;
} else {
    spl_autoload_register(static function (string $class): void {
        $prefixes = ['Phpsessd\\Tests\\' => __DIR__ . '/', 'Phpsessd\\' => __DIR__ . '/../src/'];
        foreach ($prefixes as $prefix => $dir) {
            if (str_starts_with($class, $prefix)) {
                $file = $dir . str_replace('\\', '/', substr($class, strlen($prefix))) . '.php';
                if (is_file($file)) {
                    require $file;
                }
                return;
            }
        }
    });
    require __DIR__ . '/../src/functions.php';
}
