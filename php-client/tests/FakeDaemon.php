<?php

declare(strict_types=1);

namespace Phpsessd\Tests;

use Phpsessd\Protocol;

/**
 * Runs tests/fake_daemon.php in a child process on a fresh Unix socket and
 * reads back what it received. See fake_daemon.php for the script format.
 */
final class FakeDaemon
{
    public readonly string $socketPath;

    /** The address as the client is configured with it: "unix:/...". */
    public readonly string $address;

    private string $dir;
    private string $logFile;

    /** @var resource|null */
    private $process;

    /** @var array<int, resource> */
    private array $pipes = [];

    /** @param array<string, mixed> $script */
    public function __construct(array $script = [])
    {
        $this->dir = sys_get_temp_dir() . '/phpsessd-test-' . bin2hex(random_bytes(6));
        mkdir($this->dir, 0700);
        $this->socketPath = $this->dir . '/d.sock';
        $this->address = 'unix:' . $this->socketPath;
        $this->logFile = $this->dir . '/log.jsonl';
        $scriptFile = $this->dir . '/script.json';
        file_put_contents($scriptFile, json_encode((object) $script, JSON_THROW_ON_ERROR));
        touch($this->logFile);

        $command = [PHP_BINARY, '-n', '-d', 'display_errors=stderr', __DIR__ . '/fake_daemon.php',
            $this->socketPath, $scriptFile, $this->logFile];
        $spec = [0 => ['pipe', 'r'], 1 => ['pipe', 'w'], 2 => ['file', $this->dir . '/stderr.txt', 'w']];
        $process = proc_open($command, $spec, $this->pipes);
        if ($process === false) {
            throw new \RuntimeException('cannot start fake_daemon.php');
        }
        $this->process = $process;
        $this->waitUntilReady();
    }

    public function __destruct()
    {
        $this->stop();
    }

    /**
     * The requests received so far, in order.
     *
     * @return list<array{conn: int, op: int, id: int, fields: list<string>}>
     */
    public function requests(): array
    {
        $requests = [];
        foreach ($this->log() as $entry) {
            if (isset($entry['op'], $entry['fields'])) {
                $entry['fields'] = array_map(
                    static fn (string $f): string => base64_decode($f, true),
                    $entry['fields'],
                );
                $requests[] = $entry;
            }
        }
        return $requests;
    }

    /**
     * The requests as "OP@conn" strings, e.g. ["HELLO@1", "READ@1"].
     *
     * @return list<string>
     */
    public function trace(): array
    {
        return array_map(
            static fn (array $r): string => Protocol::opName($r['op']) . '@' . $r['conn'],
            $this->requests(),
        );
    }

    /** @return list<array<string, mixed>> every log entry, including connects and malformed frames */
    public function log(): array
    {
        $entries = [];
        foreach (file($this->logFile, FILE_IGNORE_NEW_LINES | FILE_SKIP_EMPTY_LINES) ?: [] as $line) {
            $entries[] = json_decode($line, true, 512, JSON_THROW_ON_ERROR);
        }
        return $entries;
    }

    /** What the daemon wrote on stderr (PHP errors of the fake itself). */
    public function stderr(): string
    {
        return (string) @file_get_contents($this->dir . '/stderr.txt');
    }

    public function stop(): void
    {
        if ($this->process === null) {
            return;
        }
        foreach ($this->pipes as $pipe) {
            if (is_resource($pipe)) {
                fclose($pipe);
            }
        }
        proc_terminate($this->process);
        proc_close($this->process);
        $this->process = null;
        foreach (glob($this->dir . '/*') ?: [] as $file) {
            @unlink($file);
        }
        @rmdir($this->dir);
    }

    private function waitUntilReady(): void
    {
        $read = [$this->pipes[1]];
        $write = $except = null;
        $line = '';
        if (stream_select($read, $write, $except, 10) === 1) {
            $line = (string) fgets($this->pipes[1]);
        }
        if (trim($line) !== 'ready') {
            $error = $this->stderr();
            $this->stop();
            throw new \RuntimeException('fake_daemon.php did not start: ' . $error);
        }
    }
}
