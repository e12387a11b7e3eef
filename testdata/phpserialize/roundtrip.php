<?php
// The PHP side of the differential tests in phpserialize/php_test.go.
//
// Reads requests from standard input and answers each on standard output:
//
//     request:  <mode> <length>\n<length bytes of data>
//     response: ok <length>\n<bytes>   or   error <length>\n<message>
//
// Modes:
//   value                   unserialize(data), then serialize() the result
//   session:<handler>       session_decode(data) under that
//                           session.serialize_handler, then session_encode()
//   random-value            serialize() a random value; data is the seed
//   random-session:<handler> session_encode() random variables; data is the seed
//
// The random values use the classes of classes.php, share objects (r:) and
// make PHP references (R:), so that the Go side sees what PHP itself
// writes for such graphs.

ob_start(); // sessions need headers unsent; responses go to STDOUT directly
error_reporting(E_ALL & ~E_DEPRECATED); // Serializable is deprecated, and used on purpose
ini_set('display_errors', 'stderr');
require __DIR__ . '/classes.php';

function respond(bool $ok, string $bytes): void
{
    fwrite(STDOUT, ($ok ? 'ok ' : 'error ') . strlen($bytes) . "\n" . $bytes);
}

function roundtrip_value(string $data): array
{
    $v = @unserialize($data);
    if ($v === false && $data !== serialize(false)) {
        return [false, 'unserialize failed: ' . (error_get_last()['message'] ?? '?')];
    }
    return [true, serialize($v)];
}

function roundtrip_session(string $handler, string $data): array
{
    start_session($handler);
    $ok = @session_decode($data);
    if (!$ok) {
        $message = error_get_last()['message'] ?? '?';
        end_session();
        return [false, "session_decode failed: $message"];
    }
    $out = session_encode();
    $empty = count($_SESSION) === 0;
    end_session();
    if ($out === false) {
        return $empty ? [true, ''] : [false, 'session_encode failed'];
    }
    return [true, $out];
}

/** Random values with shared objects and references. */
final class RandomValues
{
    /** @var object[] objects made so far, for sharing (r:) */
    private array $objects = [];

    public function __construct(int $seed)
    {
        mt_srand($seed);
    }

    public function value(int $depth = 0): mixed
    {
        $kind = mt_rand(0, $depth >= 4 ? 8 : 15);
        switch ($kind) {
            case 0: return null;
            case 1: return mt_rand(0, 1) === 1;
            case 2: return [0, 1, -1, PHP_INT_MAX, PHP_INT_MIN, mt_rand(), -mt_rand()][mt_rand(0, 6)];
            case 3: return $this->float();
            case 4: return $this->bytes(mt_rand(0, 12));
            case 5: return ['', 'plain', "h\u{e9}", "\u{1F600}", 'a"b;c}', '|'][mt_rand(0, 5)];
            case 6: return [Suit::Hearts, Suit::Spades, Status::Active, Status::Banned][mt_rand(0, 3)];
            case 7: return $this->objects ? $this->objects[mt_rand(0, count($this->objects) - 1)] : null;
            case 8: return mt_rand(0, 3) === 0 ? new Opaque($this->bytes(mt_rand(0, 8))) : new Money(mt_rand(), 'EUR');
            case 9:
            case 10:
            case 11:
                return $this->array($depth);
            case 12:
                $o = new stdClass();
                $this->objects[] = $o;
                foreach ($this->array($depth) as $k => $v) {
                    if (!str_starts_with((string) $k, "\0")) { // PHP refuses such property names
                        $o->{$k} = $v;
                    }
                }
                return $o;
            case 13:
                $o = mt_rand(0, 1) ? new Visibility() : new ChildVisibility();
                $this->objects[] = $o;
                return $o;
            case 14:
                $o = new Node($this->bytes(3));
                $this->objects[] = $o;
                $o->children = $this->array($depth);
                if ($this->objects && mt_rand(0, 1)) {
                    $o->parent = $this->objects[mt_rand(0, count($this->objects) - 1)];
                }
                return $o;
            default:
                return new Nested([$this->value($depth + 1)]);
        }
    }

    public function array(int $depth): array
    {
        $a = [];
        $n = mt_rand(0, 5);
        for ($i = 0; $i < $n; $i++) {
            if (mt_rand(0, 2) === 0) {
                $a[] = $this->value($depth + 1);
            } else {
                $a[$this->key()] = $this->value($depth + 1);
            }
        }
        // Make PHP references between entries now and then.
        $keys = array_keys($a);
        if (count($keys) >= 2 && mt_rand(0, 2) === 0) {
            $a[$keys[count($keys) - 1]] = &$a[$keys[0]];
        }
        return $a;
    }

    public function key(): int|string
    {
        return ['10', '010', '-5', '-0', 'k', '', "\0", 'x y', (string) mt_rand(), mt_rand(-9, 9)][mt_rand(0, 9)];
    }

    public function float(): float
    {
        $special = [0.0, -0.0, INF, -INF, NAN, 0.1, 1e25, -1e-10, PHP_FLOAT_EPSILON, PHP_FLOAT_MAX, 5e-324, (float) PHP_INT_MAX];
        if (mt_rand(0, 1)) {
            return $special[mt_rand(0, count($special) - 1)];
        }
        // Random bits; NANs all serialize as NAN.
        $bits = pack('VV', mt_rand(0, 0xFFFF) | (mt_rand(0, 0xFFFF) << 16), mt_rand(0, 0xFFFF) | (mt_rand(0, 0xFFFF) << 16));
        return unpack('e', $bits)[1];
    }

    public function bytes(int $n): string
    {
        $s = '';
        for ($i = 0; $i < $n; $i++) {
            $s .= chr(mt_rand(0, 255));
        }
        return $s;
    }

    /** Fills a session: names valid for every handler, shared values across variables. */
    public function fillSession(array &$s): void
    {
        $n = mt_rand(0, 6);
        for ($i = 0; $i < $n; $i++) {
            $s['v' . $i . $this->nameSuffix()] = $this->value(1);
        }
        $keys = array_keys($s);
        if (count($keys) >= 2 && mt_rand(0, 1)) {
            $s[$keys[count($keys) - 1]] = &$s[$keys[0]];
        }
    }

    private function nameSuffix(): string
    {
        return ['', '_x', "\0", ' ', 'é', '!'][mt_rand(0, 5)];
    }
}

while (($header = fgets(STDIN)) !== false) {
    if (!preg_match('/^(\S+) (\d+)\n$/', $header, $m)) {
        fwrite(STDERR, "bad request header: $header");
        exit(1);
    }
    $data = $m[2] === '0' ? '' : fread(STDIN, (int) $m[2]);
    while (strlen($data) < (int) $m[2]) {
        $more = fread(STDIN, (int) $m[2] - strlen($data));
        if ($more === false || $more === '') {
            fwrite(STDERR, "short request\n");
            exit(1);
        }
        $data .= $more;
    }
    $mode = $m[1];
    try {
        if ($mode === 'value') {
            [$ok, $out] = roundtrip_value($data);
        } elseif (str_starts_with($mode, 'session:')) {
            [$ok, $out] = roundtrip_session(substr($mode, 8), $data);
        } elseif ($mode === 'random-value') {
            [$ok, $out] = [true, serialize((new RandomValues((int) $data))->value())];
        } elseif (str_starts_with($mode, 'random-session:')) {
            $r = new RandomValues((int) $data);
            [$ok, $out] = [true, encode_session(substr($mode, 15), [$r, 'fillSession'])];
        } else {
            [$ok, $out] = [false, "unknown mode $mode"];
        }
    } catch (Throwable $e) {
        [$ok, $out] = [false, get_class($e) . ': ' . $e->getMessage()];
    }
    respond($ok, $out);
}
