package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
)

// shapeLexer is what the shape scan (CheckShape) reads a body with.
// Value reads the next value's first token and returns its delimiter
// ('{', '}', '[', ']'), or 0 for a string, number or literal, which it
// consumes whole; Key reads an object key; More reports whether the
// current object or array has another element.
type shapeLexer interface {
	Value() (byte, error)
	Key() (string, error)
	More() bool
}

// decoderLexer is json.Decoder.Token: validating, and the reference.
type decoderLexer struct{ dec *json.Decoder }

// Value is shapeLexer.Value: json.Decoder.Token's next token.
func (l decoderLexer) Value() (byte, error) {
	tok, err := l.dec.Token()
	if err != nil {
		return 0, err
	}
	if d, ok := tok.(json.Delim); ok {
		return byte(d), nil
	}
	return 0, nil
}

// Key is shapeLexer.Key: json.Decoder.Token's next token, a string.
func (l decoderLexer) Key() (string, error) {
	tok, err := l.dec.Token()
	if err != nil {
		return "", err
	}
	key, _ := tok.(string)
	return key, nil
}

// More is json.Decoder.More.
func (l decoderLexer) More() bool { return l.dec.More() }

// errLexStop is byteLexer leaving the body to decoderLexer.
var errLexStop = errors.New("strictjson: byte lexer stop")

// byteLexer reads a body in place, without validating it: on valid JSON
// it yields exactly json.Decoder.Token's tokens; on anything else it may
// yield anything, which is why CheckShape takes only its "no problem"
// (see there). Separators (',' and ':') are skipped as whitespace. Keys
// are unquoted here only when they are printable ASCII without escapes;
// others are unquoted by encoding/json, which json.Decoder.Token also
// uses, so that both see the same key (escapes, invalid UTF-8 replaced).
type byteLexer struct {
	b []byte
	i int
}

// skip moves past whitespace and separators and reports whether a byte
// is left.
func (l *byteLexer) skip() bool {
	for ; l.i < len(l.b); l.i++ {
		switch l.b[l.i] {
		case ' ', '\t', '\n', '\r', ',', ':':
		default:
			return true
		}
	}
	return false
}

// More is shapeLexer.More: the next byte that is not a space or a
// separator does not close the object or array.
func (l *byteLexer) More() bool {
	return l.skip() && l.b[l.i] != '}' && l.b[l.i] != ']'
}

// Value is shapeLexer.Value: a delimiter, or a whole string, number or
// literal skipped.
func (l *byteLexer) Value() (byte, error) {
	if !l.skip() {
		return 0, errLexStop
	}
	switch c := l.b[l.i]; c {
	case '{', '}', '[', ']':
		l.i++
		return c, nil
	case '"':
		_, _, err := l.str()
		return 0, err
	}
	// A number or literal runs to the next separator, delimiter or space.
	for l.i < len(l.b) {
		switch l.b[l.i] {
		case ',', ':', '{', '}', '[', ']', '"', ' ', '\t', '\n', '\r':
			return 0, nil
		}
		l.i++
	}
	return 0, nil
}

// Key is shapeLexer.Key: the next string, unquoted as json.Decoder.Token
// would.
func (l *byteLexer) Key() (string, error) {
	if !l.skip() || l.b[l.i] != '"' {
		return "", errLexStop
	}
	start := l.i
	raw, escaped, err := l.str()
	if err != nil {
		return "", err
	}
	if !escaped {
		for _, c := range raw {
			if c < 0x20 || c >= 0x7f {
				escaped = true
				break
			}
		}
	}
	if !escaped {
		return string(raw), nil
	}
	var key string
	if json.Unmarshal(l.b[start:l.i], &key) != nil {
		return "", errLexStop
	}
	return key, nil
}

// str consumes the string starting at l.i and returns its raw contents
// and whether they hold a backslash escape.
func (l *byteLexer) str() (raw []byte, escaped bool, err error) {
	start := l.i + 1
	i := start
	for {
		j := bytes.IndexByte(l.b[i:], '"')
		if j < 0 {
			return nil, false, errLexStop
		}
		if k := bytes.IndexByte(l.b[i:i+j], '\\'); k >= 0 {
			escaped = true
			i += k + 2 // past the backslash and the byte it escapes
			if i > len(l.b) {
				return nil, false, errLexStop
			}
			continue
		}
		l.i = i + j + 1
		return l.b[start : i+j], escaped, nil
	}
}
