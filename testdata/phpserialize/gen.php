<?php
// Regenerates the samples in this directory from real PHP:
//
//     php testdata/phpserialize/gen.php [output-directory]
//
// Each sample is one file holding exactly the bytes PHP produced:
// value_*.txt is serialize() output, session_<handler>_*.bin is
// session_encode() output under that session.serialize_handler. The Go
// tests decode and re-encode every sample and compare bytes, and check
// that running this script again reproduces the files unchanged.

ob_start(); // sessions need headers unsent; samples are written to files
error_reporting(E_ALL & ~E_DEPRECATED); // Serializable is deprecated, and used on purpose
require __DIR__ . '/classes.php';

$dir = $argv[1] ?? __DIR__;
if (!is_dir($dir)) {
    fwrite(STDERR, "no such directory: $dir\n");
    exit(1);
}

$samples = [];
function sample(string $name, string $bytes): void
{
    global $samples;
    if (isset($samples[$name])) {
        throw new LogicException("duplicate sample $name");
    }
    $samples[$name] = $bytes;
}
function value(string $name, mixed $v): void
{
    sample("value_$name.txt", serialize($v));
}

// Scalars.
value('null', null);
value('bool_true', true);
value('bool_false', false);
value('int_zero', 0);
value('int_negative', -42);
value('int_max', PHP_INT_MAX);
value('int_min', PHP_INT_MIN);

// Floats, as serialize_precision = -1 writes them.
value('float_inf', INF);
value('float_neg_inf', -INF);
value('float_nan', NAN);
value('float_neg_zero', -0.0);
value('float_zero', 0.0);
value('float_one', 1.0);
value('float_1e25', 1e25);
value('float_0_1', 0.1);
value('float_epsilon', PHP_FLOAT_EPSILON);
value('float_neg_1e_10', -1e-10);
value('float_int_max', (float) PHP_INT_MAX);
value('float_max', PHP_FLOAT_MAX);
value('float_min_subnormal', 5e-324);
value('float_1e15', 1e15);
value('float_1e17', 1e17);
value('float_0_0001', 0.0001);
value('float_0_00001', 0.00001);
value('float_list', [0.1 + 0.2, 1 / 3, -2.5, 123456789.125, 1e100, -1.5e-7]);

// Strings.
value('string_empty', '');
value('string_ascii', 'hello world');
value('string_utf8', "h\u{e9}llo w\u{f6}rld \u{1F600}");
value('string_nul', "a\0b\0");
value('string_invalid_utf8', "\xff\xfe\xc3(\x80");
value('string_quotes', "semi;colon\"quote\"}brace{|pipe\n");
value('string_all_bytes', implode('', array_map('chr', range(0, 255))));

// Arrays.
value('array_empty', []);
value('array_list', [1, 'two', 3.0, null, true]);
value('array_assoc', ['name' => 'Ann', 'age' => 37, 'tags' => ['a', 'b']]);
value('array_mixed_keys', [5 => 'five', '10' => 'ten', '010' => 'oh-ten', '-5' => 'minus five', '-0' => 'minus zero', '9223372036854775808' => 'too big', '' => 'empty', 'x' => 'x']);
value('array_nested', ['a' => ['b' => ['c' => ['d' => ['e' => 'deep']]]], 'list' => [[1, 2], [3, [4, [5]]]]]);
value('array_binary_keys', ["\0" => 1, "\xff" => 2, "k\0ey" => 3]);
$negative = [];
$negative[-3] = 'a';
$negative[] = 'b';
value('array_negative_keys', $negative);

// Objects.
value('object_stdclass', (object) ['a' => 1, 'b' => [1, 2], 'c' => (object) ['d' => null]]);
value('object_empty', new stdClass());
value('object_visibility', new Visibility());
value('object_inheritance', new ChildVisibility());
$numericProps = new stdClass();
$numericProps->{'0'} = 'zero';
$numericProps->{'12'} = 'twelve';
value('object_numeric_properties', $numericProps);
value('object_serialize_magic', new Money(1250, 'USD'));
value('object_serializable', new Opaque("opaque;payload\0with}braces"));
value('object_incomplete', unserialize('O:13:"MissingClass1":1:{s:1:"p";i:1;}'));
value('enum_pure', Suit::Hearts);
value('enum_backed', Status::Banned);
value('enum_repeated', [Suit::Hearts, Suit::Spades, Suit::Hearts]);

// References: r: repeats an object, R: is a PHP reference (&).
$shared = new Node('shared');
value('refs_object_repeat', ['first' => $shared, 'second' => $shared, 'list' => [$shared]]);
$root = new Node('root');
$child = new Node('child');
$child->parent = $root;
$root->children[] = $child;
$root->children[] = new Node('leaf');
$root->children[0]->children[] = $root;
value('refs_object_cycle', $root);
$x = 'shared scalar';
$refs = ['a' => &$x, 'b' => &$x, 'c' => 1];
$refs['d'] = &$refs['c'];
value('refs_reference', $refs);
$self = [1];
$self[] = &$self;
value('refs_self_array', $self);
$obj = new stdClass();
$obj->a = [1, 2, 3];
$obj->b = &$obj->a;
$obj->c = $obj;
value('refs_object_properties', $obj);
$o = new Node('o');
$refToObject = [&$o, &$o, $o];
value('refs_reference_to_object', $refToObject);
$inner = new Node('inner');
value('refs_nested_objects', ['x' => new Visibility(), 'y' => ['z' => $inner, 'w' => new ChildVisibility()], 'v' => $inner]);
$n = new Node('in payload');
value('refs_serializable_nested', [new Nested([$n, $n, 5]), $n, $n]);

// Sessions, one set per handler. Each callable fills $_SESSION.
$sessions = [
    'basic' => function (array &$s): void {
        $s['user_id'] = 1234;
        $s['name'] = 'Ann';
        $s['logged_in'] = true;
        $s['score'] = 99.5;
        $s['nothing'] = null;
    },
    'nested' => function (array &$s): void {
        $s['cart'] = ['items' => [['sku' => 'A1', 'qty' => 2, 'price' => 9.99], ['sku' => 'B2', 'qty' => 1, 'price' => 24.5]], 'coupon' => null];
        $s['prefs'] = ['lang' => 'de', 'theme' => ['dark' => true]];
    },
    'objects' => function (array &$s): void {
        $s['visibility'] = new ChildVisibility();
        $s['money'] = new Money(500, 'EUR');
        $s['suit'] = Suit::Spades;
        $s['opaque'] = new Opaque('raw');
    },
    'refs' => function (array &$s): void {
        $o = new Node('shared');
        $s['a'] = $o;
        $s['b'] = $o;
        $s['list'] = [$o, new Node('other')];
        $v = 'by reference';
        $s['c'] = &$v;
        $s['d'] = &$v;
        $s['e'] = ['inner' => 1];
        $s['f'] = &$s['e']['inner'];
    },
    'bytes' => function (array &$s): void {
        $s['bin'] = "\0\xff\xfe";
        $s["name\0with nul"] = 'x';
        $s['utf8 ключ'] = 'значение';
        $s[''] = 'empty name';
    },
    'empty' => function (array &$s): void {
    },
];
// Sample names must not start with "binary_" or "serialize_": the Go
// tests tell the handler from the file name prefix.
foreach (['php', 'php_binary', 'php_serialize'] as $handler) {
    foreach ($sessions as $name => $fill) {
        sample("session_{$handler}_$name.bin", encode_session($handler, $fill));
    }
}
// Only php_serialize stores integer names; the others skip them.
sample('session_php_serialize_int_names.bin', encode_session('php_serialize', function (array &$s): void {
    $s['7'] = 'seven';
    $s[-1] = 'minus one';
    $s['x'] = 'ex';
}));

ksort($samples);
foreach ($samples as $name => $bytes) {
    if (file_put_contents("$dir/$name", $bytes) !== strlen($bytes)) {
        fwrite(STDERR, "cannot write $dir/$name\n");
        exit(1);
    }
}
ob_end_clean();
fwrite(STDOUT, count($samples) . " samples written to $dir\n");
