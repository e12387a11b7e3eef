<?php
// Classes and helpers shared by gen.php (which writes the samples in this
// directory) and roundtrip.php (the PHP side of the Go differential tests
// in phpserialize/php_test.go). Include it before anything else.

declare(strict_types=1);

/** Properties of all three visibilities. */
class Visibility
{
    public $pub = 'public value';
    protected $prot = 'protected value';
    private $priv = 'private value';
}

/** A subclass: its own private $priv sits beside the parent's. */
class ChildVisibility extends Visibility
{
    private $priv = 'child private value';
    public $extra = 42;
}

/** A tree node, for nested objects and object cycles (r:). */
class Node
{
    public $name;
    public $children = [];
    public $parent = null;

    public function __construct(string $name = '')
    {
        $this->name = $name;
    }
}

/**
 * A Serializable class whose payload is an opaque string (C:). Defining it
 * raises a deprecation notice on PHP 8.1+, which is expected.
 */
class Opaque implements Serializable
{
    public $data;

    public function __construct(string $data = '')
    {
        $this->data = $data;
    }

    public function serialize(): ?string
    {
        return $this->data;
    }

    public function unserialize(string $data): void
    {
        $this->data = $data;
    }
}

/**
 * A Serializable class whose payload is itself serialize() output. PHP
 * numbers the values inside that payload in the same reference table as
 * the values around it.
 */
class Nested implements Serializable
{
    public $items;

    public function __construct(array $items = [])
    {
        $this->items = $items;
    }

    public function serialize(): ?string
    {
        return serialize($this->items);
    }

    public function unserialize(string $data): void
    {
        $this->items = unserialize($data);
    }
}

/** The PHP 7.4+ __serialize form: O: with arbitrary keys. */
class Money
{
    private $amount;
    private $currency;

    public function __construct(int $amount = 0, string $currency = 'EUR')
    {
        $this->amount = $amount;
        $this->currency = $currency;
    }

    public function __serialize(): array
    {
        return [$this->amount, $this->currency, 'meta' => ['v' => 2]];
    }

    public function __unserialize(array $data): void
    {
        $this->amount = $data[0];
        $this->currency = $data[1];
    }
}

enum Suit
{
    case Hearts;
    case Spades;
}

enum Status: string
{
    case Active = 'active';
    case Banned = 'banned';
}

/** A session save handler that keeps nothing, so that CLI scripts can use session_encode() and session_decode() without files. */
class NullSessionHandler implements SessionHandlerInterface
{
    public function open(string $path, string $name): bool { return true; }
    public function close(): bool { return true; }
    public function read(string $id): string|false { return ''; }
    public function write(string $id, string $data): bool { return true; }
    public function destroy(string $id): bool { return true; }
    public function gc(int $max_lifetime): int|false { return 0; }
}

/**
 * Starts an empty session using the given serialize_handler. Output must
 * not have been sent yet (scripts start with ob_start()).
 */
function start_session(string $handler): void
{
    static $handlerSet = false;
    if (!$handlerSet) {
        ini_set('session.use_cookies', '0');
        ini_set('session.use_only_cookies', '0');
        ini_set('session.cache_limiter', '');
        session_set_save_handler(new NullSessionHandler(), false);
        $handlerSet = true;
    }
    if (ini_set('session.serialize_handler', $handler) === false) {
        throw new RuntimeException("cannot select session.serialize_handler $handler");
    }
    if (!session_start()) {
        throw new RuntimeException('session_start failed');
    }
}

/** Ends the session started by start_session without writing anything. */
function end_session(): void
{
    session_abort();
    $_SESSION = [];
}

/**
 * Returns session_encode() of the variables $fill puts into $_SESSION
 * under the given serialize_handler. $fill receives $_SESSION by
 * reference so that it can create PHP references between variables.
 */
function encode_session(string $handler, callable $fill): string
{
    start_session($handler);
    $fill($_SESSION);
    $data = session_encode();
    $empty = count($_SESSION) === 0;
    end_session();
    if ($data === false) {
        // The php and php_binary handlers encode an empty session as
        // nothing, which session_encode() reports as false.
        if (!$empty) {
            throw new RuntimeException('session_encode failed');
        }
        $data = '';
    }
    return $data;
}
