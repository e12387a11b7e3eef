// Package iniconf reads phpsessd's configuration from the site's php.ini, the
// file that configured the session_pgsql extension, into one typed Config.
//
// Load reads the main php.ini and then, when a scan directory is given, every
// file in it whose name ends in ".ini", in byte-wise alphabetical order, as PHP
// reads its scan directory (one directory: PHP_INI_SCAN_DIR's list form is not
// supported). A directive defined again later, in the same file or a later one,
// overrides the earlier definition. Only the session_pgsql.* directives (see
// Directives) and session.gc_maxlifetime, session.name,
// session.serialize_handler, session.save_handler and session.save_path are
// read; all other
// directives are ignored. An unknown session_pgsql.* directive is an error, so
// that a typo never falls back to a default silently.
//
// The syntax is PHP's, parsed by gopkg.in/ini.v1: ';' starts a comment, also
// after a value; a value in double quotes may hold ';' and loses its quotes;
// keys contain dots; sections do not scope directives ([PHP], [Session] and
// [session_pgsql] are only headings). PHP applies the directives of [PATH=...]
// and [HOST=...] sections (any section whose name begins with PATH or HOST, in
// any case, as PHP decides) only to some scripts; the daemon serves every
// script, so Load skips those sections entirely, without checking them. In a
// value, ${NAME} is replaced by the environment variable NAME (empty when
// unset), except in single quotes. Booleans are 1, on, yes, true and 0, off,
// no, false, none or empty, in any case; byte sizes take PHP's K, M and G
// suffixes.
//
// Every error about a directive is an *Error naming the file, the line and the
// directive. ini.v1 does not report lines, so Load finds the line of the
// definition that took effect by looking for the last line of its file that
// starts with the key and '=' outside PATH and HOST sections; Line is 0 when
// no such line is found (a quoted key name, for example).
//
// # Differences from PHP
//
// ini.v1 cannot be configured to read everything exactly as PHP does. Where
// it would silently read a value differently, Load finds out from the raw line
// and reports an error for the directives it reads, so that a secret or a
// connection string never differs between PHP and the daemon:
//
//   - an unquoted '#': ini.v1 starts a comment there, PHP 7 and later keep it;
//   - a ';' or '#' inside single quotes: ini.v1 cuts the value there, PHP
//     keeps it;
//   - \\ or \$ inside double quotes: PHP unescapes them, ini.v1 only \";
//   - text after a closing quote (PHP appends it, "a"b is ab; ini.v1 drops
//     it), or the same quote character in the comment after a quoted value
//     (ini.v1 takes the value up to the last quote of the line);
//   - PHP 8.3's ${NAME:-default}, which Load does not support.
//
// Other differences, which are accepted:
//
//   - PHP turns unquoted keywords (on, yes, true into "1"; off, no, false,
//     none, null into ""), constants such as E_ALL and expressions into their
//     values; Load keeps them as written, which shows only in string
//     directives: session.name = yes is "yes" here and "1" in PHP.
//   - PHP reads any other boolean as a number (0 false, anything else true, so
//     "maybe" and null are false); Load rejects them. It likewise rejects a
//     number or size with trailing garbage, which PHP reads up to it.
//   - PHP looks ${NAME} up among the directives read so far before the
//     environment; Load uses only the environment.
//   - `value` and """value""" are quoting forms of ini.v1 that PHP lacks. (A
//     double-quoted value without a closing quote on its line runs on to the
//     next line that has one, in PHP and in ini.v1 alike.)
//   - A line without '=' is ignored in both, so "session_pgsql.locking off"
//     has no effect. Load trims spaces around every value except
//     session_pgsql.secret, where quoted spaces are kept.
//   - A file that does not parse (an unclosed section heading, a quote never
//     closed) makes Load fail; PHP warns and goes on. Lines end at "\n" or
//     "\r\n"; PHP also ends a line at a lone "\r".
package iniconf

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"unicode"

	"gopkg.in/ini.v1"
)

// Error is a bad directive in a php.ini file, or a file that cannot be read or
// parsed.
type Error struct {
	// File is the path of the file.
	File string
	// Line is the 1-based line of the directive, or 0 when unknown.
	Line int
	// Directive is the directive's name, or empty for an error about the
	// whole file.
	Directive string
	// Msg says what is wrong and, for a bad value, what is allowed.
	Msg string
	// Err is the underlying error, if any.
	Err error
}

// Error formats the error as "file:line: directive: msg", leaving out the
// line when it is 0 and the directive when it is empty.
func (e *Error) Error() string {
	s := e.File
	if e.Line > 0 {
		s += fmt.Sprintf(":%d", e.Line)
	}
	if e.Directive != "" {
		s += ": " + e.Directive
	}
	return s + ": " + e.Msg
}

// Unwrap returns the underlying error, so that errors.Is(err,
// fs.ErrNotExist) works for a missing file.
func (e *Error) Unwrap() error { return e.Err }

// loadOptions make ini.v1 read php.ini as close to PHP as it can: '=' is the
// only delimiter, no '\' continuation lines, double-quoted values unquoted,
// lines without '=' ignored like PHP's bare words, names case-sensitive, and a
// section heading that appears twice kept apart so that the last definition
// in file order wins.
var loadOptions = ini.LoadOptions{
	KeyValueDelimiters:        "=",
	IgnoreContinuation:        true,
	UnescapeValueDoubleQuotes: true,
	SkipUnrecognizableLines:   true,
	AllowNonUniqueSections:    true,
}

// source is one file that was read.
type source struct {
	path  string
	lines []string
}

// definition is the value of a directive and the file that defined it last.
type definition struct {
	value string
	src   *source
}

// Load reads the php.ini at path and then every *.ini file in scanDir (if
// scanDir != ""), the way PHP does, and returns the resulting Config, or an
// *Error for the first bad directive. A file that cannot be read is an error,
// and so is a missing scan directory; an empty one is fine.
func Load(path, scanDir string) (*Config, error) {
	files := []string{path}
	defs := map[string]definition{}
	if err := loadFile(path, defs); err != nil {
		return nil, err
	}
	if scanDir != "" {
		more, err := scanFiles(scanDir)
		if err != nil {
			return nil, err
		}
		for _, f := range more {
			if err := loadFile(f, defs); err != nil {
				return nil, err
			}
		}
		files = append(files, more...)
	}

	c := Defaults()
	c.Files = files
	c.origins = map[string]origin{}
	all := append(append([]directive{}, directives...), phpDirectives...)
	for _, d := range all { // session_pgsql.secret comes before secret_file
		def, ok := defs[d.Name]
		if !ok {
			continue
		}
		line := def.src.line(d.Name, true)
		c.origins[d.Name] = origin{def.src.path, line}
		raw := def.src.rawValue(line)
		err := checkRaw(raw)
		v := ""
		if err == nil {
			v, err = expand(def.value, raw)
		}
		if err == nil {
			if d.Name != dirSecret {
				v = strings.TrimSpace(v)
			}
			if d.Name == dirSecretFile && v != "" && c.Secret != "" {
				err = fmt.Errorf("cannot be combined with %s, set in %s (allowed: one of them)", dirSecret, defs[dirSecret].src.path)
			} else {
				err = d.set(c, v)
			}
		}
		if err != nil {
			return nil, &Error{File: def.src.path, Line: line, Directive: d.Name, Msg: err.Error()}
		}
	}
	return c, nil
}

// loadFile parses one file and records in defs the definitions of the
// directives Load reads.
func loadFile(path string, defs map[string]definition) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return &Error{File: path, Msg: "cannot read file: " + unwrapPath(err).Error(), Err: err}
	}
	f, err := ini.LoadSources(loadOptions, data)
	if err != nil {
		src := &source{path: path, lines: strings.Split(string(data), "\n")}
		msg := strings.TrimSpace(err.Error())
		if strings.HasPrefix(msg, "missing closing key quote") {
			// ini.v1's message quotes the lines, which may hold a secret.
			line, key := src.unclosedQuote()
			return &Error{File: path, Line: line, Directive: key, Msg: "syntax error: a double quote is never closed"}
		}
		return &Error{File: path, Msg: "syntax error: " + msg}
	}
	src := &source{path: path, lines: strings.Split(string(data), "\n")}
	for _, sec := range f.Sections() {
		if perDirSection(sec.Name()) {
			continue
		}
		for _, k := range sec.Keys() {
			name := k.Name()
			if strings.HasPrefix(strings.ToLower(name), "session_pgsql.") && !known(name) {
				return &Error{File: path, Line: src.line(name, false), Directive: name,
					Msg: "unknown directive; known: " + knownList()}
			}
			if known(name) || isPHPDirective(name) {
				defs[name] = definition{value: k.Value(), src: src}
			}
		}
	}
	return nil
}

// scanFiles lists the regular files named *.ini in dir, sorted by name
// (os.ReadDir sorts).
func scanFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, &Error{File: dir, Msg: "cannot read scan directory: " + unwrapPath(err).Error(), Err: err}
	}
	var files []string
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".ini") {
			continue
		}
		p := filepath.Join(dir, e.Name())
		// Like PHP, follow symbolic links and skip anything not a regular file.
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			files = append(files, p)
		}
	}
	return files, nil
}

// unwrapPath drops the *fs.PathError wrapper, whose path the Error repeats.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// perDirSection reports whether a section is one that PHP applies only per
// path or host.
func perDirSection(name string) bool {
	n := strings.ToUpper(strings.TrimSpace(name))
	return strings.HasPrefix(n, "PATH") || strings.HasPrefix(n, "HOST")
}

func known(name string) bool {
	for _, d := range directives {
		if d.Name == name {
			return true
		}
	}
	return false
}

func isPHPDirective(name string) bool {
	for _, d := range phpDirectives {
		if d.Name == name {
			return true
		}
	}
	return false
}

func knownList() string {
	names := make([]string, len(directives))
	for i, d := range directives {
		names[i] = d.Name
	}
	return strings.Join(names, ", ")
}

// line returns the 1-based number of the last (or first) line that defines
// key outside PATH and HOST sections, or 0 if there is none. It only looks
// for "key =" at the start of a line and for section headings the way ini.v1
// recognises them; it is not a parser.
func (s *source) line(key string, last bool) int {
	found, skip := 0, false
	for i, l := range s.lines {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, "[") {
			if end := strings.LastIndexByte(t, ']'); end > 0 {
				skip = perDirSection(t[1:end])
			}
			continue
		}
		rest, ok := strings.CutPrefix(strings.TrimLeftFunc(l, unicode.IsSpace), key)
		if ok && !skip && strings.HasPrefix(strings.TrimLeftFunc(rest, unicode.IsSpace), "=") {
			found = i + 1
			if !last {
				break
			}
		}
	}
	return found
}

// unclosedQuote finds the line where a double quote opens that no later line
// closes, as ini.v1 reads a quoted value on to the next line with a quote, and the
// key of that line (empty when the quote opens the key). It returns 0 and "" when it
// finds none.
func (s *source) unclosedQuote() (line int, key string) {
	open := 0 // the line of the quote still open, or 0
	for i, l := range s.lines {
		if open > 0 {
			if strings.Contains(l, `"`) {
				open, key = 0, ""
			}
			continue
		}
		t := strings.TrimSpace(l)
		if t == "" || t[0] == ';' || t[0] == '#' || t[0] == '[' {
			continue
		}
		if t[0] == '"' {
			if strings.Count(t, `"`) == 1 {
				open, key = i+1, ""
			}
			continue
		}
		k, v, ok := strings.Cut(t, "=")
		if !ok {
			continue
		}
		if v = strings.TrimSpace(v); strings.HasPrefix(v, `"`) && !closesQuote(v[1:]) {
			open, key = i+1, strings.TrimSpace(k)
		}
	}
	return open, key
}

// closesQuote reports whether s, the text after an opening double quote, holds an
// unescaped closing one.
func closesQuote(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return true
		}
	}
	return false
}

// rawValue returns the text after the first '=' of a line, left-trimmed, or
// "" for line 0.
func (s *source) rawValue(line int) string {
	if line < 1 || line > len(s.lines) {
		return ""
	}
	l := s.lines[line-1]
	return strings.TrimLeft(l[strings.IndexByte(l, '=')+1:], " \t")
}

var envRE = regexp.MustCompile(`\$\{([^}]*)\}`)

// checkRaw reports what ini.v1 would read differently from PHP in the raw
// text of a value (the part after '=', left-trimmed; "" when unknown).
func checkRaw(raw string) error {
	const quote = " (allowed: put the value in double quotes)"
	if raw == "" || raw[0] == '`' || strings.HasPrefix(raw, `"""`) {
		return nil
	}
	if raw[0] != '"' && raw[0] != '\'' {
		if i := strings.IndexAny(raw, ";#"); i >= 0 && raw[i] == '#' {
			return errors.New("unquoted '#', which PHP keeps but this reader takes for a comment" + quote)
		}
		return nil
	}
	if raw[0] == '\'' && strings.IndexByte(raw[1:], '\'') < 0 {
		return errors.New("a single quote is never closed on its line, which PHP and this reader read differently (allowed: close the quote on the same line)")
	}
	end := -1 // index of the closing quote
	for i := 1; i < len(raw) && end < 0; i++ {
		switch {
		case raw[0] == '\'' && raw[i] == '\'':
			end = i
		case raw[0] == '\'' && (raw[i] == ';' || raw[i] == '#'):
			return errors.New("';' or '#' inside single quotes, which PHP keeps but this reader takes for a comment" + quote)
		case raw[0] == '"' && raw[i] == '\\' && i+1 < len(raw):
			if raw[i+1] == '\\' || raw[i+1] == '$' {
				return errors.New(`'\\' or '\$' inside double quotes, which PHP unescapes and this reader does not (allowed: write them unescaped, or use single quotes)`)
			}
			i++
		case raw[0] == '"' && raw[i] == '"':
			end = i
		}
	}
	if end < 0 {
		return nil // a value running on to the next lines; not checked
	}
	if rest := strings.TrimSpace(raw[end+1:]); rest != "" && (rest[0] != ';' || strings.IndexByte(rest, raw[0]) >= 0) {
		return errors.New("text after the closing quote, or a quote in the comment after it, which PHP and this reader read differently (allowed: the quoted value, then nothing or a comment without quotes)")
	}
	return nil
}

// expand replaces ${NAME} in v with the environment variable NAME, unless the
// raw value is single-quoted (raw is "" when the line is unknown).
func expand(v, raw string) (string, error) {
	if strings.HasPrefix(raw, "'") {
		return v, nil
	}
	var bad string
	v = envRE.ReplaceAllStringFunc(v, func(m string) string {
		name := m[2 : len(m)-1]
		if strings.Contains(name, ":-") {
			bad = m
			return m
		}
		return os.Getenv(name)
	})
	if bad != "" {
		return "", fmt.Errorf("%s: the ${NAME:-default} form is not supported (allowed: ${NAME})", bad)
	}
	return v, nil
}
