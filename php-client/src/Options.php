<?php

declare(strict_types=1);

namespace Phpsessd;

/**
 * SessionHandler's settings, resolved once from (in this order of precedence)
 * the constructor's options array, environment variables, php.ini
 * (get_cfg_var(), i.e. php.ini, conf.d and -d; not ini_set() or FPM's
 * php_value, which PHP refuses for directives no extension registers) and
 * the defaults.
 *
 * - `address`: option, env PHPSESSD_LISTEN, php.ini session_pgsql.listen,
 *   default "unix:/run/phpsessd/phpsessd.sock";
 * - `secret`: option, env PHPSESSD_SECRET, php.ini session_pgsql.secret, then
 *   the first line of session_pgsql.secret_file, default "";
 * - `timeout`: option, env PHPSESSD_TIMEOUT, php.ini
 *   session_pgsql.client_timeout, default 5.0;
 * - `lock_timeout`: option, php.ini session_pgsql.lock_timeout, default 30.0;
 * - `persistent`: option, default true.
 *
 * An empty environment variable or php.ini value counts as unset. A wrong
 * constructor option is a programming error and throws
 * \InvalidArgumentException; an unusable environment or php.ini value is
 * skipped (the next source is used) and recorded in $problems, which
 * SessionHandler reports as warnings when it opens a session, so a bad
 * php.ini never makes the constructor (run by bootstrap.php on every request)
 * fail.
 */
final class Options
{
    public const DEFAULT_ADDRESS = 'unix:/run/phpsessd/phpsessd.sock';
    public const DEFAULT_TIMEOUT = 5.0;
    public const DEFAULT_LOCK_TIMEOUT = 30.0;

    private const KNOWN_OPTIONS = ['address', 'secret', 'timeout', 'lock_timeout', 'persistent'];

    /** Bytes of a secret file read to find its first line, as the daemon does. */
    private const SECRET_FILE_LIMIT = 65536;

    /**
     * @param string       $address     where the daemon listens, as configured: unix:/path or tcp:host:port
     * @param string       $secret      the shared secret sent in HELLO, "" for none
     * @param float        $timeout     seconds to connect, and to send a request and get its reply
     * @param float        $lockTimeout extra seconds a READ reply may take while the daemon waits for the lock
     * @param bool         $persistent  whether to keep one socket per process across requests
     * @param list<string> $problems    configuration values that were skipped, and why
     */
    private function __construct(
        public readonly string $address,
        public readonly string $secret,
        public readonly float $timeout,
        public readonly float $lockTimeout,
        public readonly bool $persistent,
        public readonly array $problems,
    ) {
    }

    /**
     * Resolves the settings from $options, the environment and php.ini.
     *
     * @param array<string, mixed> $options see the class comment
     * @throws \InvalidArgumentException for an unknown option or a value of the wrong type or range
     */
    public static function resolve(array $options): self
    {
        if ($options !== []) {
            $unknown = array_diff(array_keys($options), self::KNOWN_OPTIONS);
            if ($unknown !== []) {
                throw new \InvalidArgumentException(sprintf(
                    'phpsessd: unknown option(s) %s (known: %s)',
                    implode(', ', $unknown),
                    implode(', ', self::KNOWN_OPTIONS),
                ));
            }
        }
        // bootstrap.php resolves on every request, with no options: each source is
        // read inline here, one call per source, rather than through helpers.
        $problems = [];

        if (array_key_exists('address', $options)) {
            if (!is_string($options['address']) || $options['address'] === '') {
                throw new \InvalidArgumentException('phpsessd: option "address" must be a non-empty string');
            }
            $address = $options['address'];
        } elseif (!is_string($address = getenv('PHPSESSD_LISTEN')) || $address === '') {
            $address = get_cfg_var('session_pgsql.listen');
            if (!is_string($address) || $address === '') {
                $address = self::DEFAULT_ADDRESS;
            }
        }

        if (array_key_exists('secret', $options)) {
            if (!is_string($options['secret'])) {
                throw new \InvalidArgumentException('phpsessd: option "secret" must be a string');
            }
            $secret = $options['secret'];
        } elseif (!is_string($secret = getenv('PHPSESSD_SECRET')) || $secret === '') {
            $secret = get_cfg_var('session_pgsql.secret');
            if (!is_string($secret) || $secret === '') {
                $file = get_cfg_var('session_pgsql.secret_file');
                $secret = is_string($file) && $file !== '' ? self::secretFromFile($file, $problems) : '';
            }
        }

        if (array_key_exists('timeout', $options)) {
            $timeout = self::optionSeconds($options, 'timeout', false);
        } else {
            $env = getenv('PHPSESSD_TIMEOUT');
            $ini = get_cfg_var('session_pgsql.client_timeout');
            $timeout = $env === false && $ini === false ? self::DEFAULT_TIMEOUT : (self::firstSeconds([
                'environment variable PHPSESSD_TIMEOUT' => $env,
                'session_pgsql.client_timeout' => $ini,
            ], false, $problems) ?? self::DEFAULT_TIMEOUT);
        }

        if (array_key_exists('lock_timeout', $options)) {
            $lockTimeout = self::optionSeconds($options, 'lock_timeout', true);
        } else {
            $ini = get_cfg_var('session_pgsql.lock_timeout');
            $lockTimeout = $ini === false ? self::DEFAULT_LOCK_TIMEOUT
                : (self::firstSeconds(['session_pgsql.lock_timeout' => $ini], true, $problems) ?? self::DEFAULT_LOCK_TIMEOUT);
        }

        $persistent = true;
        if (array_key_exists('persistent', $options)) {
            if (!is_bool($options['persistent'])) {
                throw new \InvalidArgumentException('phpsessd: option "persistent" must be a bool');
            }
            $persistent = $options['persistent'];
        }

        return new self($address, $secret, $timeout, $lockTimeout, $persistent, $problems);
    }

    /**
     * Whether php.ini sets session_pgsql.disable (read with get_cfg_var(), as
     * PHP reads a boolean directive: on, yes, true or a non-zero number).
     * Then bootstrap.php registers nothing and the session_pgsql_* functions
     * warn and return false, as the extension's did; a SessionHandler the
     * application creates itself is not affected.
     */
    public static function disabled(): bool
    {
        $value = get_cfg_var('session_pgsql.disable');
        if ($value === false || $value === '') {
            return false; // unset: every request of a site that does not set it
        }
        $value = strtolower(trim((string) $value));
        return in_array($value, ['on', 'yes', 'true'], true) || (int) $value !== 0;
    }

    /**
     * The address in the form stream_socket_client() takes: "unix:///path",
     * "unix://\0name" for a Linux abstract socket ("unix:@name"), or
     * "tcp://host:port"; null when $address is none of the accepted forms.
     */
    public function streamAddress(): ?string
    {
        if (str_starts_with($this->address, 'unix:')) {
            $path = substr($this->address, 5);
            if (str_starts_with($path, '/')) {
                return 'unix:///' . ltrim($path, '/');
            }
            if (str_starts_with($path, '@') && strlen($path) > 1) {
                return "unix://\0" . substr($path, 1);
            }
            return null;
        }
        if (str_starts_with($this->address, 'tcp:')) {
            $hostPort = substr($this->address, 4);
            if (str_starts_with($hostPort, '//')) {
                $hostPort = substr($hostPort, 2);
            }
            $valid = preg_match('/^(?:\[[^\s\[\]\/]+\]|[^\s:\[\]\/]+):(\d{1,5})$/D', $hostPort, $m) === 1
                && (int) $m[1] >= 1 && (int) $m[1] <= 65535;
            return $valid ? 'tcp://' . $hostPort : null;
        }
        return null;
    }

    /** Whether the address is a TCP one (then TCP_NODELAY is set). */
    public function isTcp(): bool
    {
        return str_starts_with($this->address, 'tcp:');
    }

    /** @param array<string, mixed> $options */
    private static function optionSeconds(array $options, string $name, bool $zeroAllowed): float
    {
        $value = $options[$name];
        if (!(is_int($value) || is_float($value)) || !self::validSeconds((float) $value, $zeroAllowed)) {
            throw new \InvalidArgumentException(sprintf(
                'phpsessd: option "%s" must be a number of seconds %s',
                $name,
                $zeroAllowed ? 'of 0 or more' : 'above 0',
            ));
        }
        return (float) $value;
    }

    private static function validSeconds(float $seconds, bool $zeroAllowed): bool
    {
        return is_finite($seconds) && ($seconds > 0 || ($zeroAllowed && $seconds === 0.0));
    }

    /**
     * The first usable number of seconds among $sources (name => what getenv()
     * or get_cfg_var() returned: a string, or false when unset; "" and arrays
     * count as unset); unusable values are skipped and recorded.
     *
     * @param array<string, string|array<mixed>|false> $sources
     * @param list<string>           $problems
     */
    private static function firstSeconds(array $sources, bool $zeroAllowed, array &$problems): ?float
    {
        foreach ($sources as $name => $raw) {
            if (!is_string($raw) || $raw === '') {
                continue;
            }
            $value = trim($raw);
            if (is_numeric($value) && self::validSeconds((float) $value, $zeroAllowed)) {
                return (float) $value;
            }
            $problems[] = sprintf(
                'ignoring %s = "%s" (allowed: a number of seconds %s)',
                $name,
                $raw,
                $zeroAllowed ? 'of 0 or more' : 'above 0',
            );
        }
        return null;
    }

    /**
     * The first line of the secret file, without its line ending, read as the
     * daemon reads it: an absolute path of a regular file whose first line is
     * not empty.
     *
     * @throws \RuntimeException naming the file and the reason
     */
    private static function readSecretFile(string $path): string
    {
        if (!str_starts_with($path, '/')) {
            throw new \RuntimeException(sprintf(
                'session_pgsql.secret_file: relative path "%s" (allowed: an absolute path)',
                $path,
            ));
        }
        // Refuse FIFOs and devices, which could block or never end. Silenced:
        // a path outside open_basedir warns, and the reason is reported here.
        if (!@is_file($path)) {
            throw new \RuntimeException(sprintf(
                'session_pgsql.secret_file: "%s" is not a readable regular file%s',
                $path,
                (string) ini_get('open_basedir') !== '' ? ' within open_basedir' : '',
            ));
        }
        $content = @file_get_contents($path, false, null, 0, self::SECRET_FILE_LIMIT);
        if ($content === false) {
            throw new \RuntimeException(sprintf('session_pgsql.secret_file: cannot read "%s"', $path));
        }
        $end = strpos($content, "\n");
        $line = $end === false ? $content : substr($content, 0, $end);
        if (str_ends_with($line, "\r")) {
            $line = substr($line, 0, -1);
        }
        if ($line === '') {
            throw new \RuntimeException(sprintf('session_pgsql.secret_file: "%s" has an empty first line', $path));
        }
        return $line;
    }

    /**
     * The secret read from session_pgsql.secret_file (readSecretFile()), or ""
     * with the reason recorded in $problems.
     *
     * @param list<string> $problems
     */
    private static function secretFromFile(string $path, array &$problems): string
    {
        try {
            return self::readSecretFile($path);
        } catch (\RuntimeException $e) {
            $problems[] = $e->getMessage();
            return '';
        }
    }
}
