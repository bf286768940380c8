package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// errScanStop ends the shape scan at a syntax error; Decode reports it.
var errScanStop = errors.New("strictjson: stop scan")

// CheckShape refuses what encoding/json would silently accept: an
// object holding two keys that name the same member, and nesting deeper
// than MaxDepth. In an object that decodes into a struct "the same"
// means equal under Unicode case folding, because encoding/json matches
// field names that way and lets the last one win ({"kty":"RSA",
// "KTY":"oct"}); in maps (tags) and anything the target does not model,
// it means byte-equal.
//
// Why a token scan instead of a library: encoding/json/v2, which refuses
// duplicate names itself, is still behind GOEXPERIMENT=jsonv2 in Go 1.26,
// and its pre-release module would change how every body decodes (case-
// sensitive names, other error texts) just to get two checks that take
// one pass of json.Decoder.Token over a body of at most 64 KiB.
//
// The pass runs first on byteLexer (strictjson_lex.go), which reads the
// body in place and costs a small fraction of json.Decoder.Token (the
// body of a 1 KiB encrypt: 18 µs → 0.6 µs). Only its "no problem" is
// taken: when it finds a problem, or meets something it leaves to
// encoding/json, the pass is run again on json.Decoder.Token, which
// decides and words the answer, exactly as before. This is sound because
// on any valid JSON text both lexers yield the same tokens (byteLexer
// unquotes keys itself only when they are plain ASCII without escapes,
// otherwise with encoding/json), so a duplicate or too deep a nesting
// that the decoder would meet in the valid part of a body, byteLexer
// meets too. FuzzShapeLexers holds the two passes to the same answers.
func CheckShape(body []byte, v any) error {
	t := reflect.TypeOf(v)
	if shapeScan(&byteLexer{b: body}, t) == nil {
		return nil
	}
	return decoderShape(body, t)
}

// decoderShape is the pass on json.Decoder.Token: the reference.
func decoderShape(body []byte, t reflect.Type) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := shapeScan(decoderLexer{dec}, t); err != nil && err != errScanStop {
		return err
	}
	return nil
}

// shapeScan runs the scan over lx: nil when the body is fine or not an
// object or array, errScanStop when lx stopped (a syntax error, which
// Decode reports, or for byteLexer something it leaves to the decoder),
// or the 400 to answer.
func shapeScan(lx shapeLexer, t reflect.Type) error {
	d, err := lx.Value()
	if err != nil {
		return errScanStop
	}
	if d != '{' && d != '[' {
		return nil
	}
	return scanShape(lx, d, t, 1)
}

// scanShape consumes the rest of the object or array whose opening
// delimiter was just read; t is the Go type it decodes into (nil if
// unknown or opaque) and depth its nesting level.
func scanShape(lx shapeLexer, open byte, t reflect.Type, depth int) error {
	if depth > MaxDepth {
		return newError(fmt.Sprintf("The request body nests JSON objects and arrays deeper than %d levels.", MaxDepth))
	}
	all := t == foldAllType
	if !all {
		t = modelled(t)
	}
	var fields map[string]reflect.Type
	if !all && t != nil && t.Kind() == reflect.Struct && open == '{' {
		fields = structFields(t)
	}
	seen := map[string]bool{}
	for lx.More() {
		child := elemType(t)
		if all {
			child = foldAllType
		}
		if open == '{' {
			key, err := lx.Key()
			if err != nil {
				return errScanStop
			}
			id := key
			switch {
			case all:
				id = foldKey(key)
			case fields != nil:
				id = foldKey(key)
				child = fields[id]
			}
			if seen[id] {
				return newError("The request body is not valid JSON for this operation: the key " + quoteSafe(key) + " appears twice in one object.")
			}
			seen[id] = true
		}
		d, err := lx.Value()
		if err != nil {
			return errScanStop
		}
		if d != 0 {
			if err := scanShape(lx, d, child, depth+1); err != nil {
				return err
			}
		}
	}
	if _, err := lx.Value(); err != nil {
		return errScanStop
	}
	return nil
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// modelled dereferences pointers and returns nil for types whose JSON
// shape the scan cannot know (interfaces, custom unmarshalers).
func modelled(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() == reflect.Interface || reflect.PointerTo(t).Implements(unmarshalerType) {
		return nil
	}
	return t
}

// elemType is the element type of a slice, array or map (nil otherwise).
func elemType(t reflect.Type) reflect.Type {
	if t == nil {
		return nil
	}
	switch t.Kind() {
	case reflect.Slice, reflect.Array, reflect.Map:
		return t.Elem()
	}
	return nil
}

// structFieldsCache holds structFields by type: the maps are built once
// and only read afterwards.
var structFieldsCache sync.Map // reflect.Type → map[string]reflect.Type

// structFields maps the folded JSON name of every field encoding/json
// would decode into (embedded structs included) to the field's type. The
// map is shared: do not modify it.
func structFields(t reflect.Type) map[string]reflect.Type {
	if m, ok := structFieldsCache.Load(t); ok {
		return m.(map[string]reflect.Type)
	}
	m := buildStructFields(t)
	structFieldsCache.Store(t, m)
	return m
}

func buildStructFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if f.Anonymous && name == "" && ft.Kind() == reflect.Struct {
			for k, v := range buildStructFields(ft) {
				if _, dup := out[k]; !dup {
					out[k] = v
				}
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[foldKey(name)] = f.Type
	}
	return out
}

// foldKey maps s to a representative of its Unicode simple-folding class
// (the smallest rune of each orbit), so foldKey(a) == foldKey(b) exactly
// when bytes.EqualFold(a, b), which is how encoding/json matches names.
// "K" (U+212A KELVIN SIGN) folds with "k" as it does there.
func foldKey(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return foldKeyUnicode(s)
		}
	}
	// ASCII: the smallest rune of a letter's orbit is its upper case (the
	// other members, "K" and "ſ", are larger); other characters fold to
	// themselves. TestFoldKeyASCII checks this against foldKeyUnicode.
	return strings.ToUpper(s)
}

// foldKeyUnicode is foldKey for any string.
func foldKeyUnicode(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		min := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			if f < min {
				min = f
			}
		}
		b.WriteRune(min)
	}
	return b.String()
}
