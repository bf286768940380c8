// Package strictjson is mhsm's one strict JSON decoder, used wherever
// untrusted JSON enters: request bodies at the HTTP edge (httpapi), token
// headers and claims (token) and security-domain documents
// (securitydomain). It refuses what encoding/json would silently accept:
// two keys naming the same member of one object — "the same" as
// encoding/json matches names, equal under Unicode simple case folding
// ("kty"/"KTY", "iss"/"iſs", "k"/"\u212a") — nesting deeper than MaxDepth,
// and data after the value.
//
// Decode is the entry point for typed targets (shape.go explains how a
// target's type decides which keys fold); CheckObject screens a document
// whose every object is decoded by name somewhere downstream (a JWT's
// header and claims), folding every key. Errors are *Error, whose message
// is safe to show a client.
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
)

// MaxDepth bounds how deeply objects and arrays may nest. No document
// mhsm reads needs more than a handful of levels.
const MaxDepth = 32

// Error is a refusal; its message describes the problem without echoing
// more than a short quote of the document.
type Error struct{ msg string }

func (e *Error) Error() string { return e.msg }

func newError(msg string) error { return &Error{msg: msg} }

// Decode decodes the JSON value in body into v after CheckShape, refusing
// malformed JSON, a value of the wrong type and trailing data. An error
// is an *Error.
func Decode(body []byte, v any) error {
	if err := CheckShape(body, v); err != nil {
		var se *Error
		if errors.As(err, &se) {
			return se
		}
		return newError("The request body is malformed.")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return newError("The request body is not valid JSON for this operation: " + problem(err))
	}
	if dec.More() {
		return newError("The request body has data after the JSON value.")
	}
	return nil
}

// problem describes a decoding error without echoing content.
func problem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("field %q has the wrong type", te.Field)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("syntax error at offset %d", se.Offset)
	}
	return "malformed body"
}

// foldAll is the marker type of CheckObject's scan: every key of every
// object folds, as when each object decodes into a struct.
type foldAll struct{}

var foldAllType = reflect.TypeFor[foldAll]()

// CheckObject reports whether b is exactly one valid JSON object, nested
// at most MaxDepth deep, in none of whose objects two keys are equal under
// encoding/json's name folding. It is for documents decoded by name
// downstream (JWT headers and claims), where a case-variant twin of a key
// would let the last one win.
func CheckObject(b []byte) error {
	if !json.Valid(b) {
		return newError("The document is not valid JSON.")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	lx := decoderLexer{dec}
	d, err := lx.Value()
	if err != nil || d != '{' {
		return newError("The document is not a JSON object.")
	}
	if err := scanShape(lx, d, foldAllType, 1); err != nil {
		if err == errScanStop {
			return newError("The document is not valid JSON.")
		}
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return newError("The document has data after the JSON object.")
	}
	return nil
}

// quoteSafe quotes a document's value for an error message, cut short.
func quoteSafe(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return fmt.Sprintf("%q", s)
}
